/** The values PromQL evaluates to, and helpers on label sets. */

export type Metric = Record<string, string>;

/** One element of an instant vector: `t` is its sample's time for a plain selector (timestamp()), else the evaluation time. */
export interface VSample {
  metric: Metric;
  value: number;
  t: number;
}

/** One series of a range vector: times (ms) and values, in time order. */
export interface MSeries {
  metric: Metric;
  ts: number[];
  vs: number[];
  /** Which points are staleness markers (the series ended there); absent when none are. */
  stale?: boolean[] | undefined;
}

export type Value =
  | { type: 'scalar'; value: number }
  | { type: 'string'; value: string }
  | { type: 'vector'; samples: VSample[] }
  | { type: 'matrix'; series: MSeries[] };

/** A canonical key of a label set. */
export function labelKey(m: Metric): string {
  const names = Object.keys(m).sort();
  let k = '';
  for (const n of names) k += `${n}\xff${m[n]}\xfe`;
  return k;
}

/** The key of only `names` (on), or of every label but `names` and __name__ (ignoring). */
export function matchKey(m: Metric, on: boolean, names: readonly string[]): string {
  const pick: Metric = {};
  if (on) {
    for (const n of names) if (m[n] !== undefined) pick[n] = m[n] as string;
  } else {
    const skip = new Set(names);
    skip.add('__name__');
    for (const [n, v] of Object.entries(m)) if (!skip.has(n)) pick[n] = v;
  }
  return labelKey(pick);
}

export function dropName(m: Metric): Metric {
  if (m.__name__ === undefined) return m;
  const { __name__: _, ...rest } = m;
  return rest;
}

/** A label set as Prometheus prints it: {a="b", c="d"}. */
export function formatMetric(m: Metric): string {
  const name = m.__name__ ?? '';
  const rest = Object.keys(m)
    .filter((n) => n !== '__name__')
    .sort()
    .map((n) => `${n}=${JSON.stringify(m[n])}`)
    .join(', ');
  return `${name}{${rest}}`;
}
