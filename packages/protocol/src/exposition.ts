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

interface Header {
  help: string;
  type: MetricType;
  text: string;
}

/** The HELP and TYPE lines per family name, built once rather than at every scrape. */
const headers = new Map<string, Header>();

function headerLines(f: MetricFamily): string {
  const h = headers.get(f.name);
  if (h !== undefined && h.help === f.help && h.type === f.type) return h.text;
  // Bounded: names that come and go (text files, plugins) must not grow it for ever.
  if (headers.size >= 4096) headers.clear();
  const text = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  headers.set(f.name, { help: f.help, type: f.type, text });
  return text;
}

function appendMetrics(out: string, name: string, metrics: readonly Metric[]): string {
  // Indexed loops and plain concatenation: the agent runs without the optimizing compilers, where
  // each for-of step and template literal allocates.
  for (let j = 0; j < metrics.length; j++) {
    const m = metrics[j] as Metric;
    out += m.suffix ? name + m.suffix : name;
    const labels = m.labels;
    let first = true;
    for (const k in labels) {
      // biome-ignore lint/style/useTemplate: concatenation on purpose, see above
      out += (first ? '{' : ',') + k + '="' + escapeLabelValue(labels[k] as string) + '"';
      first = false;
    }
    // biome-ignore lint/style/useTemplate: concatenation on purpose, see above
    out += (first ? ' ' : '} ') + formatValue(m.value) + '\n';
  }
  return out;
}

/**
 * Renders families sorted by name, each contiguous with one HELP and one TYPE line. Families that
 * share a name (two collectors writing the same metric) are merged under the first one's HELP.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const order = renderOrder(families);
  let out = '';
  for (let i = 0; i < order.length; ) {
    const f = families[order[i] as number] as MetricFamily;
    const name = f.name;
    out = appendMetrics(out + headerLines(f), name, f.metrics);
    for (i++; i < order.length && (families[order[i] as number] as MetricFamily).name === name; i++) {
      out = appendMetrics(out, name, (families[order[i] as number] as MetricFamily).metrics);
    }
  }
  return out;
}
