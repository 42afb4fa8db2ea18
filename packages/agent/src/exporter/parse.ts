import type { Metric, MetricFamily, MetricType } from '@falconet/protocol/exposition';

/**
 * A parser for the Prometheus text exposition format 0.0.4, for the textfile collector and for
 * comparing exporters in tests. Errors name the line and what was expected there.
 */
export class ExpositionParseError extends Error {
  override name = 'ExpositionParseError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

export interface ParsedExposition {
  families: MetricFamily[];
  /** Whether any sample carried a timestamp (the textfile collector refuses those, as node_exporter does). */
  hasTimestamps: boolean;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'untyped', 'summary', 'histogram']);

export function parseSampleValue(s: string): number | undefined {
  if (FLOAT.test(s)) return Number(s);
  const l = s.toLowerCase();
  if (l === 'nan') return Number.NaN;
  if (l === '+inf' || l === 'inf') return Number.POSITIVE_INFINITY;
  if (l === '-inf') return Number.NEGATIVE_INFINITY;
  return undefined;
}

function unescapeText(s: string, line: number, quotes: boolean): string {
  return s.replace(/\\(.)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quotes) return '"';
    throw new ExpositionParseError(line, `invalid escape sequence "\\${c}"`);
  });
}

interface Pending {
  family: MetricFamily;
  typed: boolean;
  hasHelp: boolean;
  hasSamples: boolean;
}

/** Which family a sample name belongs to, given the TYPE lines seen so far. */
function familyOf(sample: string, byName: Map<string, Pending>): { base: string; suffix: string } {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const base = sample.slice(0, -suffix.length);
    const f = byName.get(base);
    if (f && (f.family.type === 'histogram' || (f.family.type === 'summary' && suffix !== '_bucket'))) return { base, suffix };
  }
  return { base: sample, suffix: '' };
}

function parseLabels(text: string, start: number, line: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '}') return { labels, end: i + 1 };
    const nameStart = i;
    while (i < text.length && /[a-zA-Z0-9_]/.test(text[i] as string)) i++;
    const name = text.slice(nameStart, i);
    if (!LABEL_NAME.test(name))
      throw new ExpositionParseError(line, `invalid label name "${name || text.slice(nameStart, nameStart + 10)}"`);
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] !== '=') throw new ExpositionParseError(line, `expected "=" after label name "${name}"`);
    i++;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] !== '"') throw new ExpositionParseError(line, `expected a quoted value for label "${name}"`);
    i++;
    const valueStart = i;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) throw new ExpositionParseError(line, `unterminated value for label "${name}"`);
    if (name in labels) throw new ExpositionParseError(line, `label "${name}" given twice`);
    labels[name] = unescapeText(text.slice(valueStart, i), line, true);
    i++;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') return { labels, end: i + 1 };
    throw new ExpositionParseError(line, `expected "," or "}" after the value of label "${name}"`);
  }
}

export function parseExposition(text: string): ParsedExposition {
  const byName = new Map<string, Pending>();
  const order: Pending[] = [];
  let hasTimestamps = false;
  const get = (name: string): Pending => {
    let p = byName.get(name);
    if (!p) {
      p = { family: { name, help: '', type: 'untyped', metrics: [] }, typed: false, hasHelp: false, hasSamples: false };
      byName.set(name, p);
      order.push(p);
    }
    return p;
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    const raw = lines[n] as string;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    if (line.trimStart().startsWith('#')) {
      const m = /^\s*#\s+(HELP|TYPE)\s+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) continue; // an ordinary comment
      const [, kind, name, rest = ''] = m as unknown as [string, string, string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new ExpositionParseError(lineNo, `invalid metric name "${name}" in ${kind} line`);
      const p = get(name);
      if (kind === 'HELP') {
        if (p.hasHelp) throw new ExpositionParseError(lineNo, `second HELP line for ${name}`);
        p.family.help = unescapeText(rest, lineNo, false);
        p.hasHelp = true;
      } else {
        const type = rest.trim() as MetricType;
        if (!TYPES.has(type)) throw new ExpositionParseError(lineNo, `unknown type "${rest.trim()}" for ${name}`);
        if (p.typed) throw new ExpositionParseError(lineNo, `second TYPE line for ${name}`);
        if (p.hasSamples) throw new ExpositionParseError(lineNo, `TYPE line for ${name} after its samples`);
        p.family.type = type;
        p.typed = true;
      }
      continue;
    }
    let i = 0;
    while (line[i] === ' ' || line[i] === '\t') i++;
    const nameStart = i;
    while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i] as string)) i++;
    const sample = line.slice(nameStart, i);
    if (!METRIC_NAME.test(sample)) throw new ExpositionParseError(lineNo, `invalid metric name "${sample || line.trim().slice(0, 20)}"`);
    let labels: Record<string, string> = {};
    if (line[i] === '{') {
      const parsed = parseLabels(line, i + 1, lineNo);
      labels = parsed.labels;
      i = parsed.end;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    if (rest[0] === '' || rest.length > 2)
      throw new ExpositionParseError(lineNo, `expected a value (and an optional timestamp) after ${sample}`);
    const value = parseSampleValue(rest[0] as string);
    if (value === undefined) throw new ExpositionParseError(lineNo, `"${rest[0]}" is not a number`);
    if (rest.length === 2) {
      if (!/^-?\d+$/.test(rest[1] as string)) throw new ExpositionParseError(lineNo, `"${rest[1]}" is not a timestamp in milliseconds`);
      hasTimestamps = true;
    }
    const { base, suffix } = familyOf(sample, byName);
    const p = get(base);
    p.hasSamples = true;
    const metric: Metric = { labels, value };
    if (suffix) metric.suffix = suffix;
    if (p.family.type === 'histogram' && !suffix) {
      throw new ExpositionParseError(lineNo, `histogram ${base} has a sample without _bucket, _sum or _count`);
    }
    if (p.family.type === 'histogram' && suffix === '_bucket' && labels.le === undefined) {
      throw new ExpositionParseError(lineNo, `histogram bucket ${sample} lacks the "le" label`);
    }
    if (p.family.type === 'summary' && !suffix && labels.quantile === undefined) {
      throw new ExpositionParseError(lineNo, `summary ${base} has a sample without the "quantile" label`);
    }
    p.family.metrics.push(metric);
  }
  return { families: order.filter((p) => p.family.metrics.length > 0).map((p) => p.family), hasTimestamps };
}
