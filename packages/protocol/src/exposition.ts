import type { Labels } from './sample.ts';

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
