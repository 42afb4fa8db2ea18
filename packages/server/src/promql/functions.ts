/** PromQL functions; rate, increase and delta extrapolate exactly as Prometheus' extrapolatedRate. */
import { RE2JS } from 're2js';
import { kahanSum, mean, quantile, variance } from './aggregate.ts';
import type { Call, Expr, VectorSelector } from './ast.ts';
import { type Evaluator, PromQLError, type RangeArg, type RangeBounds, unique } from './engine.ts';
import { type ColumnView, dropName, labelKey, type Metric, type MSeries, type Value, type VSample } from './values.ts';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function callFunction(ev: Evaluator, e: Call, t: number): Value {
  const f = e.func;
  const vec = (samples: VSample[]): Value => ({ type: 'vector', samples });
  const overTime = OVER_TIME[f];
  if (overTime) {
    const arg = ev.range(e.args[0] as Expr, t);
    const keepName = f === 'last_over_time';
    return vec(unique(arg.series.map((s) => ({ metric: keepName ? s.metric : dropName(s.metric), value: overTime(s.vs, s.ts), t }))));
  }
  const math = MATH[f];
  if (math) return vec(unique(ev.vectorOf(e.args[0] as Expr, t).map((s) => ({ metric: dropName(s.metric), value: math(s.value), t }))));
  const date = DATES[f];
  if (date) {
    const input = e.args[0] ? ev.vectorOf(e.args[0], t) : [{ metric: {}, value: t / 1000, t }];
    return vec(
      unique(
        input.map((s) => ({ metric: dropName(s.metric), value: Number.isNaN(s.value) ? Number.NaN : date(new Date(s.value * 1000)), t })),
      ),
    );
  }
  switch (f) {
    case 'rate':
    case 'increase':
    case 'delta': {
      const out: VSample[] = [];
      const isCounter = f !== 'delta';
      const isRate = f === 'rate';
      ev.windows(e.args[0] as Expr, t, (metric, ts, vs, lo, hi, w) => {
        const v = extrapolatedRate(w, ts, vs, lo, hi, isCounter, isRate);
        if (v !== undefined) out.push({ metric: dropName(metric), value: v, t });
      });
      return vec(unique(out));
    }
    case 'irate':
    case 'idelta': {
      const out: VSample[] = [];
      ev.windows(e.args[0] as Expr, t, (metric, ts, vs, lo, hi) => {
        const v = instantValue(ts, vs, lo, hi, f === 'irate');
        if (v !== undefined) out.push({ metric: dropName(metric), value: v, t });
      });
      return vec(unique(out));
    }
    case 'deriv': {
      const arg = ev.range(e.args[0] as Expr, t);
      return vec(unique(rangeOut(arg, t, (s) => (s.ts.length < 2 ? undefined : linearRegression(s, s.ts[0] as number)[0]))));
    }
    case 'predict_linear': {
      const arg = ev.range(e.args[0] as Expr, t);
      const d = ev.scalarOf(e.args[1] as Expr, t);
      return vec(
        unique(
          rangeOut(arg, t, (s) => {
            if (s.ts.length < 2) return undefined;
            // Prometheus predicts from the evaluation time, whatever the selector's offset.
            const [slope, intercept] = linearRegression(s, t);
            return slope * d + intercept;
          }),
        ),
      );
    }
    case 'changes':
    case 'resets': {
      const arg = ev.range(e.args[0] as Expr, t);
      return vec(
        unique(
          rangeOut(arg, t, (s) => {
            let n = 0;
            for (let i = 1; i < s.vs.length; i++) {
              const a = s.vs[i - 1] as number;
              const b = s.vs[i] as number;
              if (f === 'resets' ? b < a : a !== b && !(Number.isNaN(a) && Number.isNaN(b))) n++;
            }
            return n;
          }),
        ),
      );
    }
    case 'quantile_over_time': {
      const q = ev.scalarOf(e.args[0] as Expr, t);
      const arg = ev.range(e.args[1] as Expr, t);
      return vec(unique(rangeOut(arg, t, (s) => quantile(q, s.vs))));
    }
    case 'absent_over_time': {
      const arg = ev.range(e.args[0] as Expr, t);
      if (arg.series.length > 0) return vec([]);
      return vec([{ metric: absentLabels(e.args[0] as Expr), value: 1, t }]);
    }
    case 'absent': {
      if (ev.vectorOf(e.args[0] as Expr, t).length > 0) return vec([]);
      return vec([{ metric: absentLabels(e.args[0] as Expr), value: 1, t }]);
    }
    case 'histogram_quantile':
      return vec(histogramQuantile(ev.scalarOf(e.args[0] as Expr, t), ev.vectorOf(e.args[1] as Expr, t), t));
    case 'label_replace':
      return vec(unique(labelReplace(ev, e, t)));
    case 'label_join':
      return vec(unique(labelJoin(ev, e, t)));
    case 'time':
      return { type: 'scalar', value: t / 1000 };
    case 'pi':
      return { type: 'scalar', value: Math.PI };
    case 'vector':
      return vec([{ metric: {}, value: ev.scalarOf(e.args[0] as Expr, t), t }]);
    case 'scalar': {
      const v = ev.vectorOf(e.args[0] as Expr, t);
      return { type: 'scalar', value: v.length === 1 ? (v[0] as VSample).value : Number.NaN };
    }
    case 'clamp':
    case 'clamp_min':
    case 'clamp_max': {
      const v = ev.vectorOf(e.args[0] as Expr, t);
      const lo = f === 'clamp_max' ? Number.NEGATIVE_INFINITY : ev.scalarOf(e.args[1] as Expr, t);
      const hi =
        f === 'clamp'
          ? ev.scalarOf(e.args[2] as Expr, t)
          : f === 'clamp_max'
            ? ev.scalarOf(e.args[1] as Expr, t)
            : Number.POSITIVE_INFINITY;
      if (hi < lo) return vec([]);
      return vec(unique(v.map((s) => ({ metric: dropName(s.metric), value: clamp(s.value, lo, hi, f), t }))));
    }
    case 'round': {
      const v = ev.vectorOf(e.args[0] as Expr, t);
      const to = e.args[1] ? ev.scalarOf(e.args[1], t) : 1;
      const inv = 1 / to;
      return vec(unique(v.map((s) => ({ metric: dropName(s.metric), value: Math.floor(s.value * inv + 0.5) / inv, t }))));
    }
    case 'timestamp':
      return vec(unique(ev.vectorOf(e.args[0] as Expr, t).map((s) => ({ metric: dropName(s.metric), value: s.t / 1000, t }))));
    case 'sort':
    case 'sort_desc': {
      const sign = f === 'sort' ? 1 : -1;
      const v = [...ev.vectorOf(e.args[0] as Expr, t)];
      v.sort((a, b) => {
        if (Number.isNaN(a.value)) return Number.isNaN(b.value) ? 0 : 1;
        if (Number.isNaN(b.value)) return -1;
        return sign * (a.value - b.value);
      });
      return vec(v);
    }
    default:
      throw new PromQLError('bad_data', `function "${f}" is not supported here`);
  }
}

function clamp(v: number, lo: number, hi: number, f: string): number {
  // Go's math.Max/Min keep NaN; clamp_min and clamp_max do the same.
  if (Number.isNaN(v)) return v;
  if (f === 'clamp_min') return Math.max(v, lo);
  if (f === 'clamp_max') return Math.min(v, hi);
  return Math.max(lo, Math.min(hi, v));
}

function rangeOut(arg: RangeArg, t: number, f: (s: MSeries) => number | undefined): VSample[] {
  const out: VSample[] = [];
  for (const s of arg.series) {
    if (s.ts.length === 0) continue;
    const v = f(s);
    if (v !== undefined) out.push({ metric: dropName(s.metric), value: v, t });
  }
  return out;
}

/**
 * Prometheus' extrapolatedRate over points lo..hi of one series: the change over the samples,
 * extrapolated toward the range's edges. `w` is the range's window (its ends and length).
 */
export function extrapolatedRate(
  w: RangeBounds,
  ts: ColumnView,
  vs: ColumnView,
  lo: number,
  hi: number,
  isCounter: boolean,
  isRate: boolean,
): number | undefined {
  const n = hi - lo + 1;
  if (n < 2) return undefined;
  const firstT = ts[lo] as number;
  const lastT = ts[hi] as number;
  const firstV = vs[lo] as number;
  let result = (vs[hi] as number) - firstV;
  if (isCounter) {
    let last = 0;
    for (let i = lo; i <= hi; i++) {
      const v = vs[i] as number;
      if (v < last) result += last;
      last = v;
    }
  }
  let toStart = (firstT - w.rangeStartMs) / 1000;
  const toEnd = (w.rangeEndMs - lastT) / 1000;
  const sampled = (lastT - firstT) / 1000;
  const avgBetween = sampled / (n - 1);
  if (isCounter && result > 0 && firstV >= 0) {
    // A counter cannot go below zero: do not extrapolate past the time it would have been zero.
    const toZero = sampled * (firstV / result);
    if (toZero < toStart) toStart = toZero;
  }
  const threshold = avgBetween * 1.1;
  let interval = sampled;
  interval += toStart < threshold ? toStart : avgBetween / 2;
  interval += toEnd < threshold ? toEnd : avgBetween / 2;
  result *= interval / sampled;
  if (isRate) result /= w.rangeMs / 1000;
  return result;
}

function instantValue(ts: ColumnView, vs: ColumnView, lo: number, hi: number, isRate: boolean): number | undefined {
  if (hi - lo + 1 < 2) return undefined;
  const last = vs[hi] as number;
  const prev = vs[hi - 1] as number;
  let result = isRate && last < prev ? last : last - prev;
  const interval = (ts[hi] as number) - (ts[hi - 1] as number);
  if (interval === 0) return undefined;
  if (isRate) result /= interval / 1000;
  return result;
}

/** Least squares slope (per second) and intercept at interceptMs, as Prometheus' linearRegression. */
export function linearRegression(s: MSeries, interceptMs: number): [number, number] {
  const init = s.vs[0] as number;
  let constant = true;
  for (let i = 1; i < s.vs.length && constant; i++) constant = s.vs[i] === init;
  if (constant) return Number.isFinite(init) || Number.isNaN(init) ? [0, init] : [Number.NaN, Number.NaN];
  const n = s.ts.length;
  const xs = new Array<number>(n);
  for (let i = 0; i < n; i++) xs[i] = ((s.ts[i] as number) - interceptMs) / 1000;
  const sumX = kahanSum(xs);
  const sumY = kahanSum(s.vs);
  const sumXY = kahanSum(xs.map((x, i) => x * (s.vs[i] as number)));
  const sumX2 = kahanSum(xs.map((x) => x * x));
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  return [slope, sumY / n - (slope * sumX) / n];
}

/** Array.prototype.reduce without an initial value, over either kind of column. */
function fold(vs: ColumnView, f: (a: number, b: number) => number): number {
  let acc = vs[0] as number;
  for (let i = 1; i < vs.length; i++) acc = f(acc, vs[i] as number);
  return acc;
}

const OVER_TIME: Record<string, (vs: ColumnView, ts: ColumnView) => number> = {
  avg_over_time: (vs) => mean(vs),
  min_over_time: (vs) => fold(vs, (a, b) => (a > b || Number.isNaN(a) ? b : a)),
  max_over_time: (vs) => fold(vs, (a, b) => (a < b || Number.isNaN(a) ? b : a)),
  sum_over_time: (vs) => kahanSum(vs),
  count_over_time: (vs) => vs.length,
  last_over_time: (vs) => vs[vs.length - 1] as number,
  present_over_time: () => 1,
  stddev_over_time: (vs) => Math.sqrt(variance(vs)),
  stdvar_over_time: (vs) => variance(vs),
};

const MATH: Record<string, (v: number) => number> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  exp: Math.exp,
  sqrt: Math.sqrt,
  ln: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  sgn: (v) => (Number.isNaN(v) ? v : Math.sign(v)),
  deg: (v) => (v * 180) / Math.PI,
  rad: (v) => (v * Math.PI) / 180,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  asinh: Math.asinh,
  acosh: Math.acosh,
  atanh: Math.atanh,
};

const DATES: Record<string, (d: Date) => number> = {
  day_of_month: (d) => d.getUTCDate(),
  day_of_week: (d) => d.getUTCDay(),
  day_of_year: (d) => Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1,
  days_in_month: (d) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate(),
  hour: (d) => d.getUTCHours(),
  minute: (d) => d.getUTCMinutes(),
  month: (d) => d.getUTCMonth() + 1,
  year: (d) => d.getUTCFullYear(),
};

/** absent()'s labels: the equality matchers of a plain selector argument, each name once. */
function absentLabels(e: Expr): Metric {
  const vs: VectorSelector | undefined = e.type === 'vector' ? e : e.type === 'matrix' ? e.vector : undefined;
  if (!vs) return {};
  const out: Metric = {};
  const seen = new Set<string>();
  for (const m of vs.matchers) {
    if (m.name === '__name__') continue;
    if (m.op === '=' && !seen.has(m.name)) out[m.name] = m.value;
    else delete out[m.name];
    seen.add(m.name);
  }
  return out;
}

function histogramQuantile(q: number, samples: VSample[], t: number): VSample[] {
  const groups = new Map<string, { metric: Metric; buckets: { le: number; count: number }[] }>();
  for (const s of samples) {
    const leText = s.metric.le;
    if (leText === undefined) continue;
    const le = leText === '+Inf' || leText === 'Inf' || leText === '+inf' ? Number.POSITIVE_INFINITY : Number(leText);
    if (Number.isNaN(le) && leText !== 'NaN') continue;
    const { le: _, ...rest } = dropName(s.metric);
    const k = labelKey(rest);
    let g = groups.get(k);
    if (!g) {
      g = { metric: rest, buckets: [] };
      groups.set(k, g);
    }
    g.buckets.push({ le, count: s.value });
  }
  return [...groups.values()].map((g) => ({ metric: g.metric, value: bucketQuantile(q, g.buckets), t }));
}

/** Prometheus' bucketQuantile: linear interpolation inside the bucket holding the rank. */
export function bucketQuantile(q: number, input: { le: number; count: number }[]): number {
  if (Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...input].sort((a, b) => a.le - b.le);
  if (sorted.length === 0 || (sorted.at(-1) as { le: number }).le !== Number.POSITIVE_INFINITY) return Number.NaN;
  // Buckets of one bound (label variations) are added up; counts are made monotonic.
  const buckets: { le: number; count: number }[] = [];
  for (const b of sorted) {
    const last = buckets.at(-1);
    if (last && last.le === b.le) last.count += b.count;
    else buckets.push({ ...b });
  }
  let max = Number.NEGATIVE_INFINITY;
  for (const b of buckets) {
    if (b.count > max) max = b.count;
    else if (b.count < max) b.count = max;
  }
  if (buckets.length < 2) return Number.NaN;
  const observations = (buckets.at(-1) as { count: number }).count;
  if (observations === 0) return Number.NaN;
  let rank = q * observations;
  let b = buckets.length - 1;
  for (let i = 0; i < buckets.length - 1; i++) {
    if ((buckets[i] as { count: number }).count >= rank) {
      b = i;
      break;
    }
  }
  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as { le: number }).le;
  if (b === 0 && (buckets[0] as { le: number }).le <= 0) return (buckets[0] as { le: number }).le;
  let start = 0;
  const end = (buckets[b] as { le: number }).le;
  let count = (buckets[b] as { count: number }).count;
  if (b > 0) {
    start = (buckets[b - 1] as { le: number }).le;
    count -= (buckets[b - 1] as { count: number }).count;
    rank -= (buckets[b - 1] as { count: number }).count;
  }
  return start + (end - start) * (rank / count);
}

function stringArg(e: Expr | undefined): string {
  if (e?.type !== 'string') throw new PromQLError('bad_data', 'expected a string literal');
  return e.value;
}

/** Go's regexp Expand: $1, ${1}, $name, ${name}, $$; an unknown group expands to nothing. */
export function expandTemplate(template: string, group: (name: string) => string | null): string {
  return template.replace(/\$(\$|\{([a-zA-Z0-9_]+)\}|([a-zA-Z0-9_]+))/g, (_m, all: string, braced?: string, bare?: string) => {
    if (all === '$') return '$';
    const name = (braced ?? bare) as string;
    return group(name) ?? '';
  });
}

function labelReplace(ev: Evaluator, e: Call, t: number): VSample[] {
  const [vArg, dstE, replE, srcE, reE] = e.args;
  const dst = stringArg(dstE);
  const repl = stringArg(replE);
  const src = stringArg(srcE);
  const reText = stringArg(reE);
  if (!LABEL_NAME.test(dst)) throw new PromQLError('execution', `invalid destination label name in label_replace(): ${dst}`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(`^(?:${reText})$`);
  } catch (err) {
    throw new PromQLError('execution', `invalid regular expression in label_replace(): ${reText} (${(err as Error).message})`);
  }
  return ev.vectorOf(vArg as Expr, t).map((s) => {
    const m = re.matcher(s.metric[src] ?? '');
    if (!m.matches()) return s;
    const value = expandTemplate(repl, (name) => {
      try {
        return /^[0-9]+$/.test(name) ? m.group(Number(name)) : m.group(name);
      } catch {
        return null;
      }
    });
    const metric = { ...s.metric };
    if (value === '') delete metric[dst];
    else metric[dst] = value;
    return { metric, value: s.value, t };
  });
}

function labelJoin(ev: Evaluator, e: Call, t: number): VSample[] {
  const [vArg, dstE, sepE, ...srcE] = e.args;
  const dst = stringArg(dstE);
  const sep = stringArg(sepE);
  const srcs = srcE.map(stringArg);
  if (!LABEL_NAME.test(dst)) throw new PromQLError('execution', `invalid destination label name in label_join(): ${dst}`);
  for (const s of srcs) if (!LABEL_NAME.test(s)) throw new PromQLError('execution', `invalid source label name in label_join(): ${s}`);
  return ev.vectorOf(vArg as Expr, t).map((s) => {
    const value = srcs.map((n) => s.metric[n] ?? '').join(sep);
    const metric = { ...s.metric };
    if (value === '') delete metric[dst];
    else metric[dst] = value;
    return { metric, value: s.value, t };
  });
}
