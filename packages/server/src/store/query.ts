/**
 * Bucketing shared by both engines: raw points or rollup rows of one series go into a grid of
 * equal buckets, and per-series bucket values combine across series. NaN samples are skipped by
 * every aggregation (a bucket holding only NaN has no point), as Prometheus' *_over_time do not,
 * but as a chart wants.
 */
import type { AcrossAggregation, AggregateQuery, AggregateResult, Aggregation, TopKEntry, TopKQuery } from './types.ts';

export interface Grid {
  /** Start of the first bucket; buckets are aligned to multiples of `step` since the epoch. */
  start: number;
  step: number;
  n: number;
}

export function makeGrid(fromMs: number, toMs: number, stepMs: number): Grid {
  const step = Math.max(1, Math.floor(stepMs));
  const start = Math.floor(fromMs / step) * step;
  return { start, step, n: Math.max(0, Math.floor((toMs - start) / step) + 1) };
}

/** Per-bucket running aggregates of one series. */
export class BucketAccumulator {
  readonly grid: Grid;
  readonly sum: Float64Array;
  readonly count: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly last: Float64Array;
  readonly lastTs: Float64Array;
  /** Values per bucket, kept only when a percentile is asked for. */
  readonly values: number[][] | undefined;

  constructor(grid: Grid, keepValues = false) {
    this.grid = grid;
    this.sum = new Float64Array(grid.n);
    this.count = new Float64Array(grid.n);
    this.min = new Float64Array(grid.n).fill(Number.POSITIVE_INFINITY);
    this.max = new Float64Array(grid.n).fill(Number.NEGATIVE_INFINITY);
    this.last = new Float64Array(grid.n).fill(Number.NaN);
    this.lastTs = new Float64Array(grid.n).fill(Number.NEGATIVE_INFINITY);
    this.values = keepValues ? Array.from({ length: grid.n }, () => []) : undefined;
  }

  #index(t: number): number {
    const i = Math.floor((t - this.grid.start) / this.grid.step);
    return i >= 0 && i < this.grid.n ? i : -1;
  }

  addRaw(t: number, v: number): void {
    if (Number.isNaN(v)) return;
    const i = this.#index(t);
    if (i < 0) return;
    this.sum[i] = (this.sum[i] as number) + v;
    this.count[i] = (this.count[i] as number) + 1;
    if (v < (this.min[i] as number)) this.min[i] = v;
    if (v > (this.max[i] as number)) this.max[i] = v;
    if (t >= (this.lastTs[i] as number)) {
      this.last[i] = v;
      this.lastTs[i] = t;
    }
    this.values?.[i]?.push(v);
  }

  /** One rollup row; for percentiles its average stands for its samples (an approximation). */
  addRollup(t: number, min: number, max: number, sum: number, count: number, last: number, lastTs: number): void {
    if (count <= 0) return;
    const i = this.#index(t);
    if (i < 0) return;
    this.sum[i] = (this.sum[i] as number) + sum;
    this.count[i] = (this.count[i] as number) + count;
    if (min < (this.min[i] as number)) this.min[i] = min;
    if (max > (this.max[i] as number)) this.max[i] = max;
    if (lastTs >= (this.lastTs[i] as number)) {
      this.last[i] = last;
      this.lastTs[i] = lastTs;
    }
    this.values?.[i]?.push(sum / count);
  }

  value(i: number, agg: Aggregation): number {
    const c = this.count[i] as number;
    if (c === 0) return Number.NaN;
    switch (agg) {
      case 'avg':
        return (this.sum[i] as number) / c;
      case 'min':
        return this.min[i] as number;
      case 'max':
        return this.max[i] as number;
      case 'sum':
        return this.sum[i] as number;
      case 'count':
        return c;
      case 'last':
        return this.last[i] as number;
      case 'p95':
        return percentile(this.values?.[i] ?? [], 95);
    }
  }

  points(agg: Aggregation): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.grid.n; i++) {
      if (this.count[i] === 0) continue;
      out.push([this.grid.start + i * this.grid.step, this.value(i, agg)]);
    }
    return out;
  }

  /** One value for the whole grid (over-time aggregation for top-k). */
  overall(agg: Aggregation): number {
    let sum = 0;
    let count = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let last = Number.NaN;
    let lastTs = Number.NEGATIVE_INFINITY;
    const all: number[] = [];
    for (let i = 0; i < this.grid.n; i++) {
      const c = this.count[i] as number;
      if (c === 0) continue;
      sum += this.sum[i] as number;
      count += c;
      min = Math.min(min, this.min[i] as number);
      max = Math.max(max, this.max[i] as number);
      if ((this.lastTs[i] as number) >= lastTs) {
        last = this.last[i] as number;
        lastTs = this.lastTs[i] as number;
      }
      if (this.values) for (const v of this.values[i] as number[]) all.push(v);
    }
    if (count === 0) return Number.NaN;
    switch (agg) {
      case 'avg':
        return sum / count;
      case 'min':
        return min;
      case 'max':
        return max;
      case 'sum':
        return sum;
      case 'count':
        return count;
      case 'last':
        return last;
      case 'p95':
        return percentile(all, 95);
    }
  }
}

/** Nearest-rank percentile. */
/** One bucket accumulator per series, made on first use: what both engines fill from a tier. */
export class SeriesAccumulators extends Map<number, BucketAccumulator> {
  readonly grid: Grid;
  readonly #keepValues: boolean;
  constructor(grid: Grid, keepValues: boolean) {
    super();
    this.grid = grid;
    this.#keepValues = keepValues;
  }
  of(id: number): BucketAccumulator {
    let a = this.get(id);
    if (!a) {
      a = new BucketAccumulator(this.grid, this.#keepValues);
      this.set(id, a);
    }
    return a;
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Combines per-series bucket values of one group. */
export class AcrossAccumulator {
  readonly grid: Grid;
  readonly #sum: Float64Array;
  readonly #count: Float64Array;
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  series = 0;

  constructor(grid: Grid) {
    this.grid = grid;
    this.#sum = new Float64Array(grid.n);
    this.#count = new Float64Array(grid.n);
    this.#min = new Float64Array(grid.n).fill(Number.POSITIVE_INFINITY);
    this.#max = new Float64Array(grid.n).fill(Number.NEGATIVE_INFINITY);
  }

  add(b: BucketAccumulator, agg: Aggregation): void {
    this.series++;
    for (let i = 0; i < this.grid.n; i++) {
      if (b.count[i] === 0) continue;
      const v = b.value(i, agg);
      if (Number.isNaN(v)) continue;
      this.#sum[i] = (this.#sum[i] as number) + v;
      this.#count[i] = (this.#count[i] as number) + 1;
      if (v < (this.#min[i] as number)) this.#min[i] = v;
      if (v > (this.#max[i] as number)) this.#max[i] = v;
    }
  }

  points(across: AcrossAggregation): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.grid.n; i++) {
      const c = this.#count[i] as number;
      if (c === 0) continue;
      const v =
        across === 'avg'
          ? (this.#sum[i] as number) / c
          : across === 'sum'
            ? (this.#sum[i] as number)
            : across === 'min'
              ? (this.#min[i] as number)
              : across === 'max'
                ? (this.#max[i] as number)
                : c;
      out.push([this.grid.start + i * this.grid.step, v]);
    }
    return out;
  }
}

/** The groups of an aggregate query: each series' buckets go to the group its labels name. */
export class AcrossGroups {
  readonly #groups = new Map<string, { group: Record<string, string>; acc: AcrossAccumulator }>();
  readonly #q: AggregateQuery;
  readonly #grid: Grid;

  constructor(q: AggregateQuery, grid: Grid) {
    this.#q = q;
    this.#grid = grid;
  }

  add(agentId: string, labels: Readonly<Record<string, string>>, acc: BucketAccumulator): void {
    const q = this.#q;
    const group = groupOf(q.by, labels, q.agentLabels?.(agentId));
    if (q.by?.includes('agent')) group.agent = agentId;
    const key = JSON.stringify(group);
    let g = this.#groups.get(key);
    if (!g) {
      g = { group, acc: new AcrossAccumulator(this.#grid) };
      this.#groups.set(key, g);
    }
    g.acc.add(acc, q.agg ?? 'avg');
  }

  results(stepMs: number): AggregateResult[] {
    const across = this.#q.across ?? 'avg';
    return [...this.#groups.values()]
      .map((g) => ({ group: g.group, series: g.acc.series, points: g.acc.points(across), stepMs }))
      .sort((a, b) => JSON.stringify(a.group).localeCompare(JSON.stringify(b.group)));
  }
}

/** The group key of a series for `by` labels: sample label first, else the agent's label. */
export function groupOf(
  by: readonly string[] | undefined,
  labels: Readonly<Record<string, string>>,
  agentLabels: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const g: Record<string, string> = {};
  for (const k of by ?? []) g[k] = labels[k] ?? agentLabels?.[k] ?? (k === 'agent' ? '' : '');
  return g;
}

export function labelsMatch(labels: Readonly<Record<string, string>>, want: Readonly<Record<string, string>> | undefined): boolean {
  if (!want) return true;
  for (const k in want) if (labels[k] !== want[k]) return false;
  return true;
}

/** Rollup tiers, finest first. */
export const ROLLUP_RESOLUTIONS = { '1m': 60_000, '1h': 3_600_000 } as const;
export type TierName = 'raw' | '1m' | '1h';

/** How long each tier keeps data when the configuration does not say. */
export const DEFAULT_RETENTION: Record<TierName, number> = { raw: 15 * 86_400_000, '1m': 90 * 86_400_000, '1h': 730 * 86_400_000 };
/** Samples stamped further ahead than this are refused as a clock error, not stored. */
export const FUTURE_SLACK_MS = 3_600_000;

/**
 * The tier a bucketed query reads: the coarsest whose resolution fits in the step (the step is
 * then rounded up to a whole number of rollup buckets), or a rollup tier when raw no longer
 * holds `fromMs`. Percentiles read raw samples while raw holds the range.
 */
export function chooseTier(
  stepMs: number,
  fromMs: number,
  agg: Aggregation,
  oldestKept: (tier: TierName) => number,
): { tier: TierName; stepMs: number } {
  const rawHolds = fromMs >= oldestKept('raw');
  if (stepMs <= 0) return { tier: 'raw', stepMs: 0 };
  if (agg === 'p95' && rawHolds) return { tier: 'raw', stepMs };
  const hour = ROLLUP_RESOLUTIONS['1h'];
  const minute = ROLLUP_RESOLUTIONS['1m'];
  const roundUp = (res: number) => Math.ceil(stepMs / res) * res;
  if (stepMs >= hour || fromMs < oldestKept('1m')) return { tier: '1h', stepMs: roundUp(hour) };
  if (stepMs >= minute || !rawHolds) return { tier: '1m', stepMs: roundUp(minute) };
  return { tier: 'raw', stepMs };
}

/** The step a top-k buckets with: one tier resolution is enough for an over-time value; rollups for long ranges. */
export function topKStepMs(q: TopKQuery): number {
  const range = Math.max(1, q.toMs - q.fromMs + 1);
  return range > 6 * ROLLUP_RESOLUTIONS['1h'] ? ROLLUP_RESOLUTIONS['1h'] : range > 30 * 60_000 ? ROLLUP_RESOLUTIONS['1m'] : 10_000;
}

/** The first `q.k` entries in the order asked (ties by agent id); sorts `entries` in place. */
export function bestK(entries: TopKEntry[], q: TopKQuery): TopKEntry[] {
  const dir = q.order === 'asc' ? 1 : -1;
  entries.sort((a, b) => (a.value - b.value) * dir || a.agentId.localeCompare(b.agentId));
  return entries.slice(0, q.k);
}
