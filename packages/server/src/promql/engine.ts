/**
 * PromQL evaluation, step by step, with Prometheus 2.x semantics: a selector takes the newest
 * sample within the lookback delta (5 m, both ends included), range selectors take the samples in
 * [t - range, t], rate and friends extrapolate as Prometheus' extrapolatedRate does, and vector
 * matching follows on/ignoring/group_left/group_right. Every selector's samples are read once per
 * query (the whole window any step needs), then each step is evaluated in memory.
 */

import { aggregate } from './aggregate.ts';
import type { Aggregate, AtModifier, Binary, Call, Expr, LabelMatcher, Subquery, VectorSelector } from './ast.ts';
import { COMPARISON_OPS } from './ast.ts';
import { callFunction } from './functions.ts';
import {
  type Column,
  type ColumnView,
  dropName,
  formatMetric,
  labelKey,
  type Metric,
  type MSeries,
  matchKey,
  type Value,
  type VSample,
} from './values.ts';

/** Where a query's samples come from: every series matching the matchers, with its points in [minT, maxT]. */
export interface SeriesSource {
  select(matchers: readonly LabelMatcher[], minT: number, maxT: number): Promise<MSeries[]>;
}

export type PromQLErrorType = 'bad_data' | 'execution' | 'timeout' | 'canceled';

/** A query that fails while evaluating (Prometheus' `execution` errors), or is refused for its size. */
export class PromQLError extends Error {
  readonly type: PromQLErrorType;
  constructor(type: PromQLErrorType, message: string) {
    super(message);
    this.type = type;
  }
}

export interface EvalOptions {
  startMs: number;
  endMs: number;
  /** 0 for an instant query. */
  stepMs: number;
  lookbackMs?: number;
  /** A subquery without a step uses this (Prometheus: the global evaluation interval, 1 m). */
  defaultSubqueryStepMs?: number;
  /** Most points a range query may return per series (Prometheus: 11,000). */
  maxPoints?: number;
  /** Most samples one query may read (Prometheus' --query.max-samples: 50,000,000). */
  maxSamples?: number;
  /** How long the query may take from the evaluator's making (Prometheus' --query.timeout: 2 m). */
  timeoutMs?: number;
}

export const DEFAULT_LOOKBACK_MS = 300_000;

/** One series of a range argument: its points from index lo to hi (both included) of ts and vs. */
export type RangeWindowFn = (metric: Metric, ts: Column, vs: Column, lo: number, hi: number, range: RangeBounds) => void;

/** The window a range argument covers at one evaluation time (rate's extrapolation needs it). */
export interface RangeBounds {
  rangeStartMs: number;
  rangeEndMs: number;
  rangeMs: number;
}

/** The matrix argument of a function, with the window it covers (rate's extrapolation needs it). */
export interface RangeArg extends RangeBounds {
  series: MSeries[];
}

export class Evaluator {
  readonly opts: Required<EvalOptions>;
  readonly #data = new Map<VectorSelector, MSeries[]>();
  readonly #subqueryMemo = new Map<Expr, Map<number, VSample[]>>();
  readonly #cursors = new Map<object, StepCursor>();
  readonly #rangeCursors = new Map<Expr, { start: object; end: object }>();

  readonly #deadline: number;
  /** Evaluations since the clock was last read (reading it at every one would cost more than it saves). */
  #sinceCheck = 0;

  constructor(opts: EvalOptions) {
    this.opts = {
      lookbackMs: DEFAULT_LOOKBACK_MS,
      defaultSubqueryStepMs: 60_000,
      maxPoints: 11_000,
      maxSamples: 50_000_000,
      timeoutMs: 120_000,
      ...opts,
    };
    this.#deadline = performance.now() + this.opts.timeoutMs;
  }

  /** Stops a query past its deadline, with Prometheus' error. */
  checkDeadline(force = false): void {
    if (!force && ++this.#sinceCheck < 64) return;
    this.#sinceCheck = 0;
    if (performance.now() > this.#deadline) throw new PromQLError('timeout', 'query timed out in expression evaluation');
  }

  #tooManySamples(): PromQLError {
    return new PromQLError('execution', 'query processing would load too many samples into memory in query execution');
  }

  /** Reads what every selector of `expr` needs for evaluation times in [startMs, endMs]. */
  async load(expr: Expr, source: SeriesSource): Promise<void> {
    const windows = new Map<VectorSelector, [number, number]>();
    const walk = (e: Expr, s: number, en: number): void => {
      switch (e.type) {
        case 'vector':
        case 'matrix': {
          const vs = e.type === 'vector' ? e : e.vector;
          const [a, b] = vs.at ? [this.atMs(vs.at), this.atMs(vs.at)] : [s, en];
          const back = e.type === 'vector' ? this.opts.lookbackMs : e.rangeMs;
          const lo = a - vs.offsetMs - back;
          const hi = b - vs.offsetMs;
          const w = windows.get(vs);
          windows.set(vs, w ? [Math.min(w[0], lo), Math.max(w[1], hi)] : [lo, hi]);
          return;
        }
        case 'subquery': {
          const [a, b] = e.at ? [this.atMs(e.at), this.atMs(e.at)] : [s, en];
          walk(e.expr, a - e.offsetMs - e.rangeMs, b - e.offsetMs);
          return;
        }
        case 'call':
          for (const a of e.args) walk(a, s, en);
          return;
        case 'aggregate':
          if (e.param) walk(e.param, s, en);
          walk(e.expr, s, en);
          return;
        case 'binary':
          walk(e.lhs, s, en);
          walk(e.rhs, s, en);
          return;
        case 'unary':
          walk(e.expr, s, en);
          return;
        default:
          return;
      }
    };
    walk(expr, this.opts.startMs, this.opts.endMs);
    // Selectors with the same matchers (`rate(x[2m]) / rate(x[2m])`, or `x` beside `rate(x[2m])`)
    // are read once, over the window all of them need; each keeps its own cursors over the points.
    const reads = new Map<string, { matchers: readonly LabelMatcher[]; lo: number; hi: number; selectors: VectorSelector[] }>();
    for (const [vs, [lo, hi]] of windows) {
      const key = JSON.stringify(vs.matchers.map((m) => [m.name, m.op, m.value]));
      const r = reads.get(key);
      if (!r) reads.set(key, { matchers: vs.matchers, lo, hi, selectors: [vs] });
      else {
        r.lo = Math.min(r.lo, lo);
        r.hi = Math.max(r.hi, hi);
        r.selectors.push(vs);
      }
    }
    let loaded = 0;
    await Promise.all(
      [...reads.values()].map(async ({ matchers, lo, hi, selectors }) => {
        const series = await source.select(matchers, lo, hi);
        for (const s of series) loaded += s.ts.length;
        if (loaded > this.opts.maxSamples) throw this.#tooManySamples();
        for (const vs of selectors) this.#data.set(vs, series);
      }),
    );
    this.checkDeadline(true);
  }

  atMs(at: AtModifier): number {
    return at.kind === 'time' ? at.ms : at.kind === 'start' ? this.opts.startMs : this.opts.endMs;
  }

  /** Evaluates at every step of the query: the instant value, or a range query's matrix. */
  run(expr: Expr): Value {
    const { startMs, endMs, stepMs } = this.opts;
    if (stepMs === 0) return this.eval(expr, startMs);
    if ((endMs - startMs) / stepMs + 1 > this.opts.maxPoints) {
      throw new PromQLError(
        'bad_data',
        `exceeded maximum resolution of ${this.opts.maxPoints} points per timeseries. Try decreasing the query resolution (?step=XX)`,
      );
    }
    const out = new Map<string, MSeries>();
    // The step before's label sets and their series: most steps repeat them, in the same order.
    const lastMetrics: Metric[] = [];
    const lastSeries: MSeries[] = [];
    let points = 0;
    for (let t = startMs; t <= endMs; t += stepMs) {
      this.checkDeadline(true);
      const v = this.eval(expr, t);
      points += v.type === 'vector' ? v.samples.length : 1;
      // The answer is held whole too: it counts against the same limit as what was read.
      if (points > this.opts.maxSamples) throw this.#tooManySamples();
      if (v.type === 'scalar') add(out, {}, t, v.value);
      else if (v.type === 'vector') {
        const samples = v.samples;
        for (let i = 0; i < samples.length; i++) {
          const s = samples[i] as VSample;
          let series = lastMetrics[i] === s.metric ? lastSeries[i] : undefined;
          if (!series) {
            series = add(out, s.metric, t, s.value);
            lastMetrics[i] = s.metric;
            lastSeries[i] = series;
            continue;
          }
          (series.ts as number[]).push(t);
          (series.vs as number[]).push(s.value);
        }
      } else
        throw new PromQLError(
          'bad_data',
          `invalid expression type "${v.type === 'matrix' ? 'range vector' : v.type}" for range query, must be Scalar or instant Vector`,
        );
    }
    return { type: 'matrix', series: [...out.values()] };
  }

  eval(e: Expr, t: number): Value {
    switch (e.type) {
      case 'number':
        return { type: 'scalar', value: e.value };
      case 'string':
        return { type: 'string', value: e.value };
      case 'vector':
        return { type: 'vector', samples: this.instant(e, t) };
      case 'matrix':
      case 'subquery':
        return { type: 'matrix', series: this.range(e, t).series };
      case 'call':
        return this.call(e, t);
      case 'aggregate':
        return this.aggregate(e, t);
      case 'binary':
        return this.binary(e, t);
      case 'unary': {
        const v = this.eval(e.expr, t);
        if (e.op === '+') return v;
        if (v.type === 'scalar') return { type: 'scalar', value: -v.value };
        if (v.type !== 'vector') throw new PromQLError('execution', 'unary minus on a non-vector');
        return { type: 'vector', samples: unique(v.samples.map((s) => ({ metric: dropName(s.metric), value: -s.value, t }))) };
      }
    }
  }

  vectorOf(e: Expr, t: number): VSample[] {
    const v = this.eval(e, t);
    if (v.type !== 'vector') throw new PromQLError('execution', `expected an instant vector, got ${v.type}`);
    return v.samples;
  }

  scalarOf(e: Expr, t: number): number {
    const v = this.eval(e, t);
    if (v.type !== 'scalar') throw new PromQLError('execution', `expected a scalar, got ${v.type}`);
    return v.value;
  }

  /** The cursor of one use (a selector's, a range's start or end) over the series `data` holds. */
  #cursor(key: object, data: readonly MSeries[], t: number): StepCursor {
    let c = this.#cursors.get(key);
    if (!c) {
      c = new StepCursor(data.length);
      this.#cursors.set(key, c);
    }
    c.moveTo(t);
    return c;
  }

  instant(vs: VectorSelector, t: number): VSample[] {
    const ref = (vs.at ? this.atMs(vs.at) : t) - vs.offsetMs;
    const min = ref - this.opts.lookbackMs;
    const out: VSample[] = [];
    const data = this.#data.get(vs) ?? [];
    const cursor = this.#cursor(vs, data, ref);
    for (let k = 0; k < data.length; k++) {
      const s = data[k] as MSeries;
      const i = cursor.seek(k, s.ts, ref, false);
      if (i < 0) continue;
      const ts = s.ts[i] as number;
      if (ts < min || s.stale?.[i]) continue;
      out.push({ metric: s.metric, value: s.vs[i] as number, t: ts });
    }
    return out;
  }

  /** A range selector's or subquery's points for evaluation time t. */
  range(e: Expr, t: number): RangeArg {
    const series: MSeries[] = [];
    const w = this.windows(e, t, (metric, ts, vs, lo, hi) => {
      series.push(lo === 0 && hi === ts.length - 1 ? { metric, ts, vs } : { metric, ts: ts.slice(lo, hi + 1), vs: vs.slice(lo, hi + 1) });
    });
    return { series, rangeStartMs: w.rangeStartMs, rangeEndMs: w.rangeEndMs, rangeMs: w.rangeMs };
  }

  /**
   * Calls `fn` with each series of a range selector or subquery at evaluation time t, as the
   * indexes [lo, hi] of its points in the window: range functions read them in place, without the
   * copy `range` makes (at every step, for every series, it was a large share of a query's time).
   */
  windows(e: Expr, t: number, fn: RangeWindowFn): RangeBounds {
    if (e.type === 'matrix') {
      const vs = e.vector;
      const end = (vs.at ? this.atMs(vs.at) : t) - vs.offsetMs;
      const start = end - e.rangeMs;
      const bounds: RangeBounds = { rangeStartMs: start, rangeEndMs: end, rangeMs: e.rangeMs };
      const data = this.#data.get(vs) ?? [];
      let cursors = this.#rangeCursors.get(e);
      if (!cursors) {
        cursors = { start: {}, end: {} };
        this.#rangeCursors.set(e, cursors);
      }
      const first = this.#cursor(cursors.start, data, start);
      const last = this.#cursor(cursors.end, data, end);
      for (let k = 0; k < data.length; k++) {
        const s = data[k] as MSeries;
        const lo = first.seek(k, s.ts, start, true) + 1;
        const hi = last.seek(k, s.ts, end, false);
        if (hi < lo) continue;
        if (!s.stale) {
          fn(s.metric, s.ts, s.vs, lo, hi, bounds);
          continue;
        }
        // Staleness markers end a series; a range holds only real samples.
        const ts: number[] = [];
        const vals: number[] = [];
        for (let i = lo; i <= hi; i++) {
          if (s.stale[i]) continue;
          ts.push(s.ts[i] as number);
          vals.push(s.vs[i] as number);
        }
        if (ts.length) fn(s.metric, ts, vals, 0, ts.length - 1, bounds);
      }
      return bounds;
    }
    if (e.type === 'subquery') {
      const { series, ...bounds } = this.subquery(e, t);
      for (const s of series) if (s.ts.length) fn(s.metric, s.ts, s.vs, 0, s.ts.length - 1, bounds);
      return bounds;
    }
    throw new PromQLError('execution', `expected a range vector, got ${e.type}`);
  }

  subquery(e: Subquery, t: number): RangeArg {
    const step = e.stepMs || this.opts.defaultSubqueryStepMs;
    const end = (e.at ? this.atMs(e.at) : t) - e.offsetMs;
    const start = end - e.rangeMs;
    let memo = this.#subqueryMemo.get(e);
    if (!memo) {
      memo = new Map();
      this.#subqueryMemo.set(e, memo);
    }
    const out = new Map<string, MSeries>();
    for (let u = Math.ceil(start / step) * step; u <= end; u += step) {
      this.checkDeadline();
      let samples = memo.get(u);
      if (!samples) {
        samples = this.vectorOf(e.expr, u);
        memo.set(u, samples);
      }
      for (const s of samples) add(out, s.metric, u, s.value);
    }
    return { series: [...out.values()], rangeStartMs: start, rangeEndMs: end, rangeMs: e.rangeMs };
  }

  call(e: Call, t: number): Value {
    return callFunction(this, e, t);
  }

  aggregate(e: Aggregate, t: number): Value {
    const samples = this.vectorOf(e.expr, t);
    const param = e.param ? this.eval(e.param, t) : undefined;
    return { type: 'vector', samples: aggregate(e, samples, param, t) };
  }

  binary(e: Binary, t: number): Value {
    const l = this.eval(e.lhs, t);
    const r = this.eval(e.rhs, t);
    if (l.type === 'scalar' && r.type === 'scalar') {
      const [v, keep] = binop(e.op, l.value, r.value);
      return { type: 'scalar', value: e.bool ? (keep ? 1 : 0) : v };
    }
    if (l.type === 'vector' && r.type === 'scalar') return { type: 'vector', samples: vectorScalar(e, l.samples, r.value, false, t) };
    if (l.type === 'scalar' && r.type === 'vector') return { type: 'vector', samples: vectorScalar(e, r.samples, l.value, true, t) };
    if (l.type === 'vector' && r.type === 'vector') return { type: 'vector', samples: vectorVector(e, l.samples, r.samples, t) };
    throw new PromQLError('execution', `binary operator ${e.op} on ${l.type} and ${r.type}`);
  }
}

function add(out: Map<string, MSeries>, metric: Metric, t: number, v: number): MSeries {
  const k = labelKey(metric);
  let s = out.get(k);
  if (!s) {
    s = { metric, ts: [], vs: [] };
    out.set(k, s);
  }
  (s.ts as number[]).push(t);
  (s.vs as number[]).push(v);
  return s;
}

/** Index of the last time <= t, or -1. */
export function lastAtOrBefore(ts: ColumnView, t: number): number {
  let lo = 0;
  let hi = ts.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((ts[mid] as number) <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** Index of the last time < t, or -1. */
function lastBefore(ts: ColumnView, t: number): number {
  let lo = 0;
  let hi = ts.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((ts[mid] as number) < t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/**
 * Where each series' search ended at the last evaluation time. A range query's steps go forward,
 * so the next search walks on from there (each sample passed once over the whole query) instead
 * of searching every series at every step; a step back (a subquery's) searches afresh.
 */
class StepCursor {
  #last = Number.NaN;
  #jump = true;
  readonly #at: Int32Array;

  constructor(series: number) {
    this.#at = new Int32Array(series).fill(-1);
  }

  moveTo(t: number): void {
    this.#jump = !(t >= this.#last);
    this.#last = t;
  }

  /** Index of the last time <= t (< t when `strict`) of series k, or -1. */
  seek(k: number, ts: ColumnView, t: number, strict: boolean): number {
    let i: number;
    if (this.#jump) i = strict ? lastBefore(ts, t) : lastAtOrBefore(ts, t);
    else {
      i = this.#at[k] as number;
      if (strict) while (i + 1 < ts.length && (ts[i + 1] as number) < t) i++;
      else while (i + 1 < ts.length && (ts[i + 1] as number) <= t) i++;
    }
    this.#at[k] = i;
    return i;
  }
}

/**
 * Label-set lists found unique, by their first label set: a range query's steps mostly repeat the
 * same label-set objects in the same order, and comparing those by identity is cheaper than keys.
 */
const UNIQUE = new WeakMap<Metric, Metric[]>();

/** Refuses a vector with two samples of one label set (what dropping __name__ can make). */
export function unique(samples: VSample[]): VSample[] {
  const first = samples[0];
  if (!first) return samples;
  const known = UNIQUE.get(first.metric);
  if (known && known.length === samples.length) {
    let same = true;
    for (let i = 1; i < samples.length; i++) {
      if (known[i] !== (samples[i] as VSample).metric) {
        same = false;
        break;
      }
    }
    if (same) return samples;
  }
  const seen = new Set<string>();
  for (const s of samples) {
    const k = labelKey(s.metric);
    if (seen.has(k)) throw new PromQLError('execution', 'vector cannot contain metrics with the same labelset');
    seen.add(k);
  }
  UNIQUE.set(
    first.metric,
    samples.map((s) => s.metric),
  );
  return samples;
}

/** Applies a binary operator: the value, and for comparisons whether it holds. */
export function binop(op: Binary['op'], l: number, r: number): [number, boolean] {
  switch (op) {
    case '+':
      return [l + r, true];
    case '-':
      return [l - r, true];
    case '*':
      return [l * r, true];
    case '/':
      return [l / r, true];
    case '%':
      return [l % r, true];
    case '^':
      return [l === 1 || r === 0 ? 1 : l ** r, true];
    case 'atan2':
      return [Math.atan2(l, r), true];
    case '==':
      return [l, l === r];
    case '!=':
      return [l, l !== r];
    case '>':
      return [l, l > r];
    case '<':
      return [l, l < r];
    case '>=':
      return [l, l >= r];
    case '<=':
      return [l, l <= r];
    default:
      throw new PromQLError('execution', `operator ${op} not allowed between a vector and a scalar`);
  }
}

const dropsName = (e: Binary) => !COMPARISON_OPS.has(e.op) || e.bool;

function vectorScalar(e: Binary, samples: VSample[], scalar: number, scalarLeft: boolean, t: number): VSample[] {
  const out: VSample[] = [];
  for (const s of samples) {
    const [l, r] = scalarLeft ? [scalar, s.value] : [s.value, scalar];
    let [v, keep] = binop(e.op, l, r);
    // A comparison keeps the vector's value, whichever side it is on.
    if (COMPARISON_OPS.has(e.op) && scalarLeft) v = r;
    if (e.bool) {
      v = keep ? 1 : 0;
      keep = true;
    }
    if (keep) out.push({ metric: dropsName(e) ? dropName(s.metric) : s.metric, value: v, t });
  }
  return out;
}

function vectorVector(e: Binary, lhs: VSample[], rhs: VSample[], t: number): VSample[] {
  const m = e.matching;
  const key = (s: VSample) => matchKey(s.metric, m.on, m.labels);
  if (e.op === 'and' || e.op === 'unless') {
    const right = new Set(rhs.map(key));
    return lhs.filter((s) => right.has(key(s)) === (e.op === 'and'));
  }
  if (e.op === 'or') {
    const left = new Set(lhs.map(key));
    return [...lhs, ...rhs.filter((s) => !left.has(key(s)))];
  }
  let many = lhs;
  let one = rhs;
  if (m.card === 'one-to-many') [many, one] = [rhs, lhs];
  const oneBySig = new Map<string, VSample>();
  for (const s of one) {
    const k = key(s);
    const prev = oneBySig.get(k);
    if (prev) {
      throw new PromQLError(
        'execution',
        `found duplicate series for the match group ${formatMetric(pickMatch(s.metric, m.on, m.labels))} on the ${m.card === 'one-to-many' ? 'left' : 'right'} hand-side of the operation: [${formatMetric(prev.metric)}, ${formatMetric(s.metric)}];many-to-many matching not allowed: matching labels must be unique on one side`,
      );
    }
    oneBySig.set(k, s);
  }
  const out: VSample[] = [];
  const inserted = new Set<string>();
  for (const s of many) {
    const k = key(s);
    const o = oneBySig.get(k);
    if (!o) continue;
    let [vl, vr] = [s.value, o.value];
    if (m.card === 'one-to-many') [vl, vr] = [vr, vl];
    let [v, keep] = binop(e.op, vl, vr);
    if (e.bool) {
      v = keep ? 1 : 0;
    } else if (!keep) continue;
    const metric = resultMetricOf(s.metric, o.metric, e);
    const ik = m.card === 'one-to-one' ? k : labelKey(metric);
    if (inserted.has(ik)) {
      throw new PromQLError(
        'execution',
        m.card === 'one-to-one'
          ? `multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)`
          : 'multiple matches for labels: grouping labels must ensure unique matches',
      );
    }
    inserted.add(ik);
    out.push({ metric, value: v, t });
  }
  return out;
}

function pickMatch(m: Metric, on: boolean, names: readonly string[]): Metric {
  const out: Metric = {};
  for (const [n, v] of Object.entries(m)) if (on ? names.includes(n) : !names.includes(n) && n !== '__name__') out[n] = v;
  return out;
}

/**
 * Per binary operation, the result label set of each pair of inputs, made once: the same object at
 * every step of a range query, so what is keyed on it downstream (output series, groups, match
 * keys) is found by identity instead of recomputed.
 */
const RESULT_METRICS = new WeakMap<Binary, WeakMap<Metric, { one: Metric; out: Metric }>>();

function resultMetricOf(many: Metric, one: Metric, e: Binary): Metric {
  let memo = RESULT_METRICS.get(e);
  if (!memo) {
    memo = new WeakMap();
    RESULT_METRICS.set(e, memo);
  }
  const hit = memo.get(many);
  if (hit && hit.one === one) return hit.out;
  let out = resultMetric(many, one, e);
  if (e.bool) out = dropName(out);
  memo.set(many, { one, out });
  return out;
}

function resultMetric(many: Metric, one: Metric, e: Binary): Metric {
  const m = e.matching;
  // A copy of its own: it is changed below, and dropName's answer is shared.
  let out: Metric = COMPARISON_OPS.has(e.op) ? { ...many } : { ...dropName(many) };
  if (m.card === 'one-to-one') {
    if (m.on) {
      const keep: Metric = {};
      for (const n of m.labels) if (out[n] !== undefined) keep[n] = out[n] as string;
      out = keep;
    } else for (const n of m.labels) delete out[n];
  }
  for (const n of m.include) {
    const v = one[n];
    if (v) out[n] = v;
    else delete out[n];
  }
  return out;
}
