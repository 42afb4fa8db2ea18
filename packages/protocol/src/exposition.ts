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

/** Families merged by name (the first one's HELP and TYPE win), sorted by name. */
export function mergeFamilies(families: readonly MetricFamily[]): MetricFamily[] {
  const byName = new Map<string, MetricFamily>();
  for (const f of families) {
    const seen = byName.get(f.name);
    if (seen) byName.set(f.name, { ...seen, metrics: [...seen.metrics, ...f.metrics] });
    else byName.set(f.name, f);
  }
  const names = [...byName.keys()].sort();
  return names.map((n) => byName.get(n) as MetricFamily);
}

/**
 * Renders families sorted by name, each contiguous with one HELP and one TYPE line. Families that
 * share a name (two collectors writing the same metric) are merged under the first one's HELP.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  let out = '';
  for (const f of mergeFamilies(families)) {
    const name = f.name;
    out += `# HELP ${name} ${escapeHelp(f.help)}\n# TYPE ${name} ${f.type}\n`;
    for (const m of f.metrics) {
      const sample = m.suffix ? name + m.suffix : name;
      let l = '';
      for (const k in m.labels) {
        l += `${l === '' ? '{' : ','}${k}="${escapeLabelValue(m.labels[k] as string)}"`;
      }
      out += `${sample}${l === '' ? '' : `${l}}`} ${formatValue(m.value)}\n`;
    }
  }
  return out;
}
