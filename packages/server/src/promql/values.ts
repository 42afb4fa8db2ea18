/** The values PromQL evaluates to, and helpers on label sets. */

export type Metric = Record<string, string>;

/** One element of an instant vector: `t` is its sample's time for a plain selector (timestamp()), else the evaluation time. */
export interface VSample {
  metric: Metric;
  value: number;
  t: number;
}

/** A column of a series' points: arrays the engine builds, or the store's decoded columns as they are. */
export type Column = number[] | Float64Array;
/** A column only read. */
export type ColumnView = readonly number[] | Float64Array;

/** One series of a range vector: times (ms) and values, in time order. */
export interface MSeries {
  metric: Metric;
  ts: Column;
  vs: Column;
  /** Which points are staleness markers (the series ended there); absent when none are. */
  stale?: boolean[] | undefined;
}

export type Value =
  | { type: 'scalar'; value: number }
  | { type: 'string'; value: string }
  | { type: 'vector'; samples: VSample[] }
  | { type: 'matrix'; series: MSeries[] };

/**
 * Keys and name-dropped copies, remembered per label-set object: a range query evaluates every step
 * over the same series, and recomputing both for each step was most of its time. Label sets are
 * never changed once made (a change makes a copy), which is what makes this safe.
 */
const KEYS = new WeakMap<Metric, string>();
const UNNAMED = new WeakMap<Metric, Metric>();

/** A canonical key of a label set. */
export function labelKey(m: Metric): string {
  let k = KEYS.get(m);
  if (k !== undefined) return k;
  const names = Object.keys(m).sort();
  k = '';
  for (const n of names) k += `${n}\xff${m[n]}\xfe`;
  KEYS.set(m, k);
  return k;
}

/** Per matching clause (its label list, fixed for the query), each label set's match key. */
const MATCH_KEYS = {
  on: new WeakMap<readonly string[], WeakMap<Metric, string>>(),
  ignoring: new WeakMap<readonly string[], WeakMap<Metric, string>>(),
};

/** The key of only `names` (on), or of every label but `names` and __name__ (ignoring). */
export function matchKey(m: Metric, on: boolean, names: readonly string[]): string {
  const byNames = on ? MATCH_KEYS.on : MATCH_KEYS.ignoring;
  let memo = byNames.get(names);
  if (!memo) {
    memo = new WeakMap();
    byNames.set(names, memo);
  }
  let k = memo.get(m);
  if (k === undefined) {
    k = computeMatchKey(m, on, names);
    memo.set(m, k);
  }
  return k;
}

function computeMatchKey(m: Metric, on: boolean, names: readonly string[]): string {
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
  let rest = UNNAMED.get(m);
  if (!rest) {
    const { __name__: _, ...r } = m;
    rest = r;
    UNNAMED.set(m, rest);
  }
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
