/**
 * Test support: finding series in metric families, or in /metrics text read by the one parser
 * of the text format (`parseExposition` in @falconet/protocol/exposition).
 */
import { type Metric, type MetricFamily, parseExposition } from '@falconet/protocol/exposition';

/**
 * The series named `name` whose labels include every one of `match`, in order. A histogram's or
 * summary's series are found by their own names (`x_bucket`, `x_sum`, `x_count`) or the family's.
 */
export function seriesOf(families: readonly MetricFamily[], name: string, match: Readonly<Record<string, string>> = {}): Metric[] {
  const out: Metric[] = [];
  for (const f of families) {
    if (!name.startsWith(f.name)) continue;
    for (const m of f.metrics) {
      if (f.name + (m.suffix ?? '') !== name) continue;
      if (Object.entries(match).every(([k, v]) => m.labels[k] === v)) out.push(m);
    }
  }
  return out;
}

/** The value of the first series seriesOf finds; undefined when there is none. */
export function seriesValue(
  families: readonly MetricFamily[],
  name: string,
  match: Readonly<Record<string, string>> = {},
): number | undefined {
  return seriesOf(families, name, match)[0]?.value;
}

/** seriesOf over the text of a /metrics page. */
export function scrapedSeries(text: string, name: string, match: Readonly<Record<string, string>> = {}): Metric[] {
  return seriesOf(parseExposition(text).families, name, match);
}

/** seriesValue over the text of a /metrics page. */
export function scrapedValue(text: string, name: string, match: Readonly<Record<string, string>> = {}): number | undefined {
  return scrapedSeries(text, name, match)[0]?.value;
}
