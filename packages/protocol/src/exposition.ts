import { type Labels, setOwn } from './sample.ts';

export type MetricType = 'counter' | 'gauge' | 'untyped' | 'summary' | 'histogram';

export interface Metric {
  labels: Labels;
  value: number;
  /**
   * For summaries and histograms: the sample's suffix to the family name (`_bucket`, `_sum`,
   * `_count`); absent for the family's own name (a summary's quantiles, every other type).
   */
  suffix?: string;
}

/** One metric family as Prometheus exposes it: a name, one HELP, one TYPE, many label sets. */
export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  metrics: Metric[];
}

/** Prometheus text exposition format 0.0.4. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const HELP_SPECIAL = /[\\\n]/;
const LABEL_SPECIAL = /[\\\n"]/;

function escapeHelp(s: string): string {
  return HELP_SPECIAL.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s;
}

export function escapeLabelValue(s: string): string {
  return LABEL_SPECIAL.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

/**
 * The order renderExposition writes a list of families in: indexes sorted by name, ties in list
 * order. A scrape lists the same names in the same order as the one before, so the last order is
 * kept and reused when the names match, instead of sorting again.
 */
let lastNames: string[] = [];
let lastOrder: number[] = [];

function renderOrder(families: readonly MetricFamily[]): number[] {
  const n = families.length;
  let same = n === lastNames.length;
  for (let i = 0; same && i < n; i++) same = (families[i] as MetricFamily).name === lastNames[i];
  if (same) return lastOrder;
  const names: string[] = new Array(n);
  const order: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    names[i] = (families[i] as MetricFamily).name;
    order[i] = i;
  }
  // Code-unit order, as a plain sort() of the names, with the list order kept among equal names.
  order.sort((a, b) => {
    const x = names[a] as string;
    const y = names[b] as string;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  lastNames = names;
  lastOrder = order;
  return order;
}

/** One series line as last written: its labels (names and values in order), the text before the value, and the whole line. */
interface SeriesLine {
  suffix: string | undefined;
  keys: string[];
  values: string[];
  prefix: string;
  value: number;
  line: string;
}

/**
 * What is kept per family name between scrapes: the HELP and TYPE lines, and each series' line in
 * the order the family wrote them. A scrape mostly writes the same series with the same labels,
 * and many with the same value: a line is built again only where its labels or value changed,
 * instead of escaping, formatting and joining every label and value on every scrape. The labels
 * are compared in full, so the text is the same as if every line were built afresh.
 */
interface FamilyLines {
  help: string;
  type: MetricType;
  header: string;
  series: SeriesLine[];
}

const linesByName = new Map<string, FamilyLines>();

function familyLines(f: MetricFamily): FamilyLines {
  const known = linesByName.get(f.name);
  if (known !== undefined && known.help === f.help && known.type === f.type) return known;
  // Bounded: names that come and go (text files, plugins) must not grow it for ever.
  if (linesByName.size >= 4096) linesByName.clear();
  const header = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  const made: FamilyLines = { help: f.help, type: f.type, header, series: known?.series ?? [] };
  linesByName.set(f.name, made);
  return made;
}

function sameSeries(line: SeriesLine, m: Metric): boolean {
  if (line.suffix !== m.suffix) return false;
  const labels = m.labels;
  const keys = line.keys;
  const values = line.values;
  let i = 0;
  for (const k in labels) {
    if (keys[i] !== k || values[i] !== labels[k]) return false;
    i++;
  }
  return i === keys.length;
}

function seriesLine(name: string, m: Metric): SeriesLine {
  // Indexed loops and plain concatenation: the agent runs without the optimizing compilers, where
  // each for-of step and template literal allocates.
  let prefix = m.suffix ? name + m.suffix : name;
  const keys: string[] = [];
  const values: string[] = [];
  const labels = m.labels;
  for (const k in labels) {
    const v = labels[k] as string;
    // biome-ignore lint/style/useTemplate: concatenation on purpose, see above
    prefix += (keys.length === 0 ? '{' : ',') + k + '="' + escapeLabelValue(v) + '"';
    keys.push(k);
    values.push(v);
  }
  prefix += keys.length === 0 ? ' ' : '} ';
  // biome-ignore lint/style/useTemplate: concatenation on purpose, see above
  return { suffix: m.suffix, keys, values, prefix, value: m.value, line: prefix + formatValue(m.value) + '\n' };
}

/** Appends a family's metrics, written as the series lines of its name from the `first`th on. */
function appendMetrics(out: string, name: string, metrics: readonly Metric[], lines: SeriesLine[], first: number): string {
  for (let j = 0; j < metrics.length; j++) {
    const m = metrics[j] as Metric;
    let line = lines[first + j];
    if (line === undefined || !sameSeries(line, m)) {
      line = seriesLine(name, m);
      lines[first + j] = line;
    } else if (!Object.is(line.value, m.value)) {
      line.value = m.value;
      // biome-ignore lint/style/useTemplate: concatenation on purpose, see above
      line.line = line.prefix + formatValue(m.value) + '\n';
    }
    out += line.line;
  }
  return out;
}

/**
 * Renders families sorted by name, each contiguous with one HELP and one TYPE line. Families that
 * share a name (two collectors writing the same metric) are merged under the first one's HELP.
 */
export function renderExposition(list: readonly MetricFamily[]): string {
  const order = renderOrder(list);
  let out = '';
  for (let i = 0; i < order.length; ) {
    const f = list[order[i] as number] as MetricFamily;
    const name = f.name;
    const lines = familyLines(f);
    out = appendMetrics(out + lines.header, name, f.metrics, lines.series, 0);
    let written = f.metrics.length;
    for (i++; i < order.length && (list[order[i] as number] as MetricFamily).name === name; i++) {
      const more = (list[order[i] as number] as MetricFamily).metrics;
      out = appendMetrics(out, name, more, lines.series, written);
      written += more.length;
    }
    // Series that are gone (a container stopped) leave with this scrape.
    lines.series.length = written;
  }
  return out;
}

/**
 * Reading the text format: one parser for the textfile collector, exec plugins' output and tests
 * that compare exporters. Errors name the line and what was expected there.
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

function parseSampleValue(s: string): number | undefined {
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
    // Own keys only: "constructor" or "toString" are label names like any other.
    if (Object.hasOwn(labels, name)) throw new ExpositionParseError(line, `label "${name}" given twice`);
    setOwn(labels, name, unescapeText(text.slice(valueStart, i), line, true));
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
      // `s`: a HELP text may hold U+2028 or a lone \r, which `.` alone does not match (the line was taken for a comment).
      const m = /^\s*#\s+(HELP|TYPE)\s+(\S+)(?:[ \t]+(.*))?$/s.exec(line);
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
    if (value === undefined) throw new ExpositionParseError(lineNo, `${sample}: "${rest[0]}" is not a number`);
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
