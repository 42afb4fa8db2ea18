import { FALCONET_VERSION, fromOpenFalcon, isValidLabelName, isValidMetricName, OpenFalconError, type Sample } from '@falconet/protocol';
import type { Logger } from 'pino';
import { ApiError } from '../api/errors.ts';
import type { AgentRegistry } from '../registry.ts';
import { type Store, StoreUnwritableError } from '../store/types.ts';
import type { IngestChannel, IngestCounters, RejectReason } from './counters.ts';
import type { ReportFanout } from './fanout.ts';

/** A pushed record that cannot be taken; `message` names the record and the field. */
export class PushError extends Error {
  readonly reason: RejectReason;
  /** rate_limited: when the same push may succeed (Infinity: never, it is larger than the burst). */
  readonly retryAfterMs: number | undefined;
  constructor(reason: RejectReason, message: string, retryAfterMs?: number) {
    super(message);
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

const PUSH_ID_PREFIX = 'push:';

/**
 * Pushed samples (Open-Falcon lines, POST /api/v1/push) belong to a host, not to an agent stream.
 * They are kept under the id `push:<host>`, which no agent can register (":" is not allowed in
 * agent ids), so a push never takes a sequence number an agent will use.
 */
export function pushAgentId(host: string): string {
  return `${PUSH_ID_PREFIX}${host}`;
}

/** Whether an agent id is a pushed host's, which no agent stream can have. */
export function isPushAgentId(id: string): boolean {
  return id.startsWith(PUSH_ID_PREFIX);
}

/** One pushed record in either form: Open-Falcon (`metric`, `endpoint`) or Falconet (`name`, `labels`). */
export function pushedSample(
  input: unknown,
  where: string,
  defaultHost: string | undefined,
  nowMs: number,
  maxSkewMs: number,
): { host: string; sample: Sample } {
  let out: { host: string; sample: Sample };
  if (input && typeof input === 'object' && !Array.isArray(input) && 'name' in input && !('metric' in input)) {
    out = falconetSample(input as Record<string, unknown>, where, defaultHost, nowMs);
  } else {
    try {
      out = fromOpenFalcon(input, nowMs);
    } catch (err) {
      if (err instanceof OpenFalconError) throw new PushError('bad_sample', `${where}: ${err.message}`);
      throw err;
    }
  }
  if (out.sample.timestampMs - nowMs > maxSkewMs) {
    throw new PushError(
      'clock_skew',
      `${where}: timestamp is ${Math.round((out.sample.timestampMs - nowMs) / 1000)} s ahead of the server's clock (limit ${Math.round(maxSkewMs / 1000)} s)`,
    );
  }
  return out;
}

function falconetSample(
  r: Record<string, unknown>,
  where: string,
  defaultHost: string | undefined,
  nowMs: number,
): { host: string; sample: Sample } {
  const bad = (msg: string) => new PushError('bad_sample', `${where}: ${msg}`);
  if (typeof r.name !== 'string' || !isValidMetricName(r.name))
    throw bad(`name ${JSON.stringify(r.name)?.slice(0, 80)} is not a valid metric name`);
  const labels: Record<string, string> = {};
  if (r.labels !== undefined) {
    if (!r.labels || typeof r.labels !== 'object' || Array.isArray(r.labels)) throw bad('labels: expected an object of strings');
    for (const [k, v] of Object.entries(r.labels as Record<string, unknown>)) {
      if (!isValidLabelName(k)) throw bad(`labels: "${k.slice(0, 80)}" is not a valid label name`);
      if (typeof v !== 'string') throw bad(`labels.${k}: expected a string`);
      labels[k] = v;
    }
  }
  if (typeof r.value !== 'number' || !Number.isFinite(r.value))
    throw bad(`value: expected a number, got ${JSON.stringify(r.value)?.slice(0, 40)}`);
  const ts = r.timestampMs ?? r.timestamp_ms;
  if (ts !== undefined && (typeof ts !== 'number' || !Number.isFinite(ts) || ts <= 0))
    throw bad('timestampMs: expected milliseconds since 1970');
  const host = labels.host ?? defaultHost;
  if (!host) throw bad('needs a "host" label, or ?host= on the request, to say which host it belongs to');
  if (host.length > 255 || /[\s\p{Cc}]/u.test(host)) throw bad(`host "${host.slice(0, 40)}" must be at most 255 characters without spaces`);
  labels.host = host;
  return { host, sample: { name: r.name, labels, value: r.value, timestampMs: Math.round((ts as number | undefined) ?? nowMs) } };
}

export interface PushWriterDeps {
  store: Store;
  registry: AgentRegistry;
  /** The steps after a batch is stored: registry, live, alerts. */
  fanout: ReportFanout;
  counters: IngestCounters;
  log: Logger;
  maxSamplesPerReport: number;
}

/** Stores pushed samples per host, one host at a time, numbering each batch after the host's last. */
export class PushWriter {
  readonly #deps: PushWriterDeps;
  readonly #lastSeq = new Map<string, number>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #registered = new Set<string>();

  constructor(deps: PushWriterDeps) {
    this.#deps = deps;
  }

  /** Resolves once every sample is durable. */
  async write(channel: IngestChannel, byHost: ReadonlyMap<string, Sample[]>): Promise<void> {
    try {
      await Promise.all([...byHost].map(([host, samples]) => this.#serial(pushAgentId(host), () => this.#store(channel, host, samples))));
    } catch (err) {
      if (!(err instanceof StoreUnwritableError)) throw err;
      // The sender may try again later; what it sent before stays stored.
      this.#deps.counters.reject(channel, 'store_full');
      throw new ApiError(503, 'store_full', `${err.message}; nothing of this request was acknowledged, send it again later`);
    }
  }

  #serial(id: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.#chains.get(id) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.#chains.set(id, tail);
    void tail.then(() => {
      if (this.#chains.get(id) === tail) this.#chains.delete(id);
    });
    return run;
  }

  async #store(channel: IngestChannel, host: string, samples: Sample[]): Promise<void> {
    const { store, registry, fanout, counters, maxSamplesPerReport } = this.#deps;
    const id = pushAgentId(host);
    // Once per server run, and again after an admin forgot the host: its next push lists it anew.
    if (!this.#registered.has(id) || !registry.has(id)) {
      // Pushed hosts are listed with the agents (offline: there is no stream), so their metrics can be queried.
      await registry.connected({
        agentId: id,
        hostname: host,
        ips: [],
        os: '',
        kernel: '',
        arch: '',
        version: `push (${FALCONET_VERSION})`,
        labels: { source: 'push' },
        token: '',
        bootTimeMs: 0,
        intervalMs: 0,
        primaryIp: '',
        platform: '',
        releaseTarget: '',
        updateBlocked: 'a push source, not an agent',
        compactSamples: false,
      });
      registry.disconnected(id);
      this.#registered.add(id);
    }
    let seq = this.#lastSeq.get(id) ?? (await store.lastSeq(id));
    for (let i = 0; i < samples.length; i += maxSamplesPerReport) {
      const chunk = samples.slice(i, i + maxSamplesPerReport);
      const { refusedSamples = 0 } = await store.appendReport(id, seq + 1, chunk);
      seq++;
      this.#lastSeq.set(id, seq);
      counters.stored(channel, chunk.length - refusedSamples);
      // New series past store.max_series: the store counted and logged them; the channel counts the refusal.
      if (refusedSamples > 0) counters.reject(channel, 'too_many_series');
    }
    await fanout.stored(id, samples);
  }
}
