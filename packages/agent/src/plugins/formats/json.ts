import { OutputError, type ParsedSample } from './types.ts';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function labelsOf(raw: unknown, where: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  // Open-Falcon writes tags as "k=v,k2=v2".
  if (typeof raw === 'string') {
    const out: Record<string, string> = {};
    for (const part of raw.split(',')) {
      if (!part.trim()) continue;
      const eq = part.indexOf('=');
      if (eq <= 0) throw new OutputError(1, `${where}: tag "${part}" is not key=value`);
      out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    return labelsOf(out, where);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new OutputError(1, `${where}: labels must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!LABEL.test(k)) throw new OutputError(1, `${where}: "${k}" is not a valid label name`);
    out[k] = String(v);
  }
  return out;
}

/**
 * JSON samples: an array (or `{"samples": [...]}`) of `{"name", "value", "labels"?, "type"?,
 * "help"?}`. Open-Falcon's `{"metric", "value", "tags"}` is accepted too.
 */
export function parseJsonSamples(text: string): ParsedSample[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new OutputError(1, `not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { samples?: unknown })?.samples;
  const items = Array.isArray(list) ? list : doc && typeof doc === 'object' ? [doc] : undefined;
  if (!items) throw new OutputError(1, 'expected an array of samples or {"samples": [...]}');
  return items.map((item: unknown, i) => {
    const where = `sample ${i}`;
    if (!item || typeof item !== 'object') throw new OutputError(1, `${where}: expected an object`);
    const o = item as Record<string, unknown>;
    const name = o.name ?? o.metric;
    if (typeof name !== 'string' || !NAME.test(name))
      throw new OutputError(1, `${where}: "name" must be a metric name, got ${JSON.stringify(name)}`);
    const value = typeof o.value === 'string' ? Number(o.value) : o.value;
    if (typeof value !== 'number' || Number.isNaN(value)) throw new OutputError(1, `${where} (${name}): "value" must be a number`);
    const type = o.type === undefined ? undefined : String(o.type);
    if (type !== undefined && type !== 'gauge' && type !== 'counter' && type !== 'untyped') {
      throw new OutputError(1, `${where} (${name}): "type" must be gauge, counter or untyped`);
    }
    return {
      name,
      value,
      labels: labelsOf(o.labels ?? o.tags, `${where} (${name})`),
      type,
      help: typeof o.help === 'string' ? o.help : undefined,
    };
  });
}
