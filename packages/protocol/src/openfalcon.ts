import type { Sample } from './sample.ts';

/**
 * Open-Falcon's push record, one JSON object per line on the transfer port or one element of the
 * array POSTed to /api/v1/push. `timestamp` and `step` are in seconds; `tags` is "k=v,k=v".
 */
export interface OpenFalconRecord {
  metric: string;
  endpoint: string;
  tags: string;
  value: number;
  timestamp: number;
  step: number;
  counterType: 'GAUGE' | 'COUNTER';
}

/** A record that cannot be taken, with a message naming the field at fault. */
export class OpenFalconError extends Error {
  override name = 'OpenFalconError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** How the agent's `--transfer` output writes one sample; counters keep their raw value. */
export function toOpenFalcon(sample: Sample, endpoint: string, stepSeconds: number): OpenFalconRecord {
  const tags = Object.keys(sample.labels)
    .sort()
    .map((k) => `${k}=${sample.labels[k]}`)
    .join(',');
  return {
    metric: sample.name,
    endpoint,
    tags,
    value: sample.value,
    timestamp: Math.floor(sample.timestampMs / 1000),
    step: Math.max(1, Math.round(stepSeconds)),
    counterType: sample.name.endsWith('_total') ? 'COUNTER' : 'GAUGE',
  };
}

/** Open-Falcon metric and tag names allow dots and dashes ("cpu.idle"); Prometheus names do not. */
export function promName(name: string): string {
  const out = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

function promLabelName(name: string): string {
  const out = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

const COUNTER_TYPES = new Set(['GAUGE', 'COUNTER', 'DERIVE']);
const MAX_ENDPOINT = 255;

function tagPairs(raw: unknown, field: string): [string, string][] {
  let parts: unknown[];
  if (raw === undefined || raw === null || raw === '') return [];
  if (typeof raw === 'string') parts = raw.split(',');
  else if (Array.isArray(raw)) parts = raw;
  else if (typeof raw === 'object') {
    return Object.entries(raw as Record<string, unknown>).map(([k, v]) => {
      if (typeof v !== 'string' && typeof v !== 'number') throw new OpenFalconError(`${field}.${k}`, `${field}.${k}: expected a string`);
      return [k, String(v)];
    });
  } else throw new OpenFalconError(field, `${field}: expected "k=v,k=v", ["k=v", ...] or {"k": "v"}`);
  const out: [string, string][] = [];
  for (const p of parts) {
    if (typeof p !== 'string') throw new OpenFalconError(field, `${field}: expected strings "k=v"`);
    const t = p.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq <= 0) throw new OpenFalconError(field, `${field}: "${t.slice(0, 80)}" is not k=v`);
    out.push([t.slice(0, eq).trim(), t.slice(eq + 1).trim()]);
  }
  return out;
}

function finiteNumber(v: unknown, field: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new OpenFalconError(field, `${field}: expected a number, got ${JSON.stringify(v)?.slice(0, 40) ?? 'nothing'}`);
  }
  return n;
}

/**
 * Reads one Open-Falcon record into a sample: the endpoint becomes the `host` label, tags become
 * labels, names are made Prometheus-safe. Accepts the older `"tag": [..]` form and tags as an object.
 * A missing timestamp means now; one above 1e11 is taken as milliseconds.
 */
export function fromOpenFalcon(input: unknown, nowMs: number): { host: string; sample: Sample } {
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    throw new OpenFalconError('record', 'expected a JSON object {"metric","endpoint","tags","value","timestamp","step","counterType"}');
  }
  const r = input as Record<string, unknown>;
  if (typeof r.metric !== 'string' || r.metric.trim() === '') throw new OpenFalconError('metric', 'metric: expected a non-empty string');
  if (r.metric.length > 200) throw new OpenFalconError('metric', 'metric: longer than 200 characters');
  if (typeof r.endpoint !== 'string' || r.endpoint.trim() === '') {
    throw new OpenFalconError('endpoint', 'endpoint: expected a non-empty string (the host the value belongs to)');
  }
  const host = r.endpoint.trim();
  if (host.length > MAX_ENDPOINT || /[\s\p{Cc}]/u.test(host)) {
    throw new OpenFalconError('endpoint', `endpoint: "${host.slice(0, 40)}" must be at most ${MAX_ENDPOINT} characters without spaces`);
  }
  const value = finiteNumber(r.value, 'value');
  let timestampMs = nowMs;
  if (r.timestamp !== undefined && r.timestamp !== null) {
    const ts = finiteNumber(r.timestamp, 'timestamp');
    if (ts <= 0) throw new OpenFalconError('timestamp', 'timestamp: expected seconds since 1970');
    timestampMs = Math.round(ts > 1e11 ? ts : ts * 1000);
  }
  if (r.step !== undefined && r.step !== null) {
    const step = finiteNumber(r.step, 'step');
    if (step <= 0 || !Number.isInteger(step)) throw new OpenFalconError('step', 'step: expected a positive whole number of seconds');
  }
  if (r.counterType !== undefined && r.counterType !== null) {
    if (typeof r.counterType !== 'string' || !COUNTER_TYPES.has(r.counterType.toUpperCase())) {
      throw new OpenFalconError(
        'counterType',
        `counterType: expected GAUGE or COUNTER, got ${JSON.stringify(r.counterType)?.slice(0, 40)}`,
      );
    }
  }
  const tagField = r.tags !== undefined ? 'tags' : 'tag';
  const labels: Record<string, string> = {};
  for (const [k, v] of tagPairs(r.tags ?? r.tag, tagField)) {
    const name = promLabelName(k);
    if (name === '') throw new OpenFalconError(tagField, `${tagField}: a tag without a name`);
    if (name.startsWith('__')) throw new OpenFalconError(tagField, `${tagField}: "${k}" is reserved`);
    labels[name] = v;
  }
  labels.host = host;
  return { host, sample: { name: promName(r.metric.trim()), labels, value, timestampMs } };
}
