/** PromQL aggregation operators (sum, avg, topk, quantile, count_values, ...) over one instant vector. */
import type { Aggregate } from './ast.ts';
import { PromQLError } from './engine.ts';
import { labelKey, type Metric, type Value, type VSample } from './values.ts';

/** The φ-quantile of values by linear interpolation, as Prometheus' quantile(). */
export function quantile(q: number, values: number[]): number {
  if (values.length === 0 || Number.isNaN(q)) return Number.NaN;
  if (q < 0) return Number.NEGATIVE_INFINITY;
  if (q > 1) return Number.POSITIVE_INFINITY;
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const rank = q * (n - 1);
  const lower = Math.max(0, Math.floor(rank));
  const upper = Math.min(n - 1, lower + 1);
  const weight = rank - Math.floor(rank);
  return (sorted[lower] as number) * (1 - weight) + (sorted[upper] as number) * weight;
}

/** A float as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it (count_values' label). */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  const s = String(v);
  if (!s.includes('e')) return s;
  const [mant, expStr] = s.split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const point = mant.replace('-', '').indexOf('.');
  const intLen = (point < 0 ? mant.replace('-', '').length : point) + exp;
  let out: string;
  if (intLen <= 0) out = `0.${'0'.repeat(-intLen)}${digits}`;
  else if (intLen >= digits.length) out = digits + '0'.repeat(intLen - digits.length);
  else out = `${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
  return neg ? `-${out}` : out;
}

/** Per aggregation, each input label set's group and its key: the same at every step of a range query. */
const GROUPS = new WeakMap<Aggregate, WeakMap<Metric, { metric: Metric; key: string }>>();

function groupMetric(m: Metric, e: Aggregate): { metric: Metric; key: string } {
  let memo = GROUPS.get(e);
  if (!memo) {
    memo = new WeakMap();
    GROUPS.set(e, memo);
  }
  let out = memo.get(m);
  if (!out) {
    const metric = groupOf(m, e);
    out = { metric, key: labelKey(metric) };
    memo.set(m, out);
  }
  return out;
}

function groupOf(m: Metric, e: Aggregate): Metric {
  const out: Metric = {};
  if (e.without) {
    const skip = new Set(e.grouping);
    for (const [n, v] of Object.entries(m)) if (n !== '__name__' && !skip.has(n)) out[n] = v;
  } else for (const n of e.grouping) if (m[n] !== undefined) out[n] = m[n] as string;
  return out;
}

interface Group {
  metric: Metric;
  /** Inputs in the group (count and group need no more). */
  n: number;
  values: number[];
  samples: VSample[];
}

export function aggregate(e: Aggregate, samples: VSample[], param: Value | undefined, t: number): VSample[] {
  let k = 0;
  let q = 0;
  let valueLabel = '';
  if (e.op === 'topk' || e.op === 'bottomk' || e.op === 'quantile') {
    if (param?.type !== 'scalar') throw new PromQLError('execution', `${e.op} needs a scalar parameter`);
    if (e.op === 'quantile') q = param.value;
    else {
      if (!Number.isFinite(param.value)) throw new PromQLError('execution', `Scalar value ${param.value} overflows int64`);
      k = Math.trunc(param.value);
      if (k < 1) return [];
    }
  }
  if (e.op === 'count_values') {
    if (param?.type !== 'string') throw new PromQLError('execution', 'count_values needs a string parameter');
    valueLabel = param.value;
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(valueLabel)) throw new PromQLError('execution', `invalid label name "${valueLabel}"`);
  }
  const groups = new Map<string, Group>();
  // Only topk and bottomk answer with the input samples themselves; counting needs no values.
  const keepSamples = e.op === 'topk' || e.op === 'bottomk';
  const keepValues = e.op !== 'count' && e.op !== 'group' && e.op !== 'count_values';
  for (const s of samples) {
    let { metric, key } = groupMetric(s.metric, e);
    if (e.op === 'count_values') {
      metric = { ...metric, [valueLabel]: formatFloat(s.value) };
      key = labelKey(metric);
    }
    let g = groups.get(key);
    if (!g) {
      g = { metric, n: 0, values: [], samples: [] };
      groups.set(key, g);
    }
    g.n++;
    if (keepValues) g.values.push(s.value);
    if (keepSamples) g.samples.push(s);
  }
  const out: VSample[] = [];
  for (const g of groups.values()) {
    const vs = g.values;
    switch (e.op) {
      case 'sum':
        out.push({ metric: g.metric, value: kahanSum(vs), t });
        break;
      case 'avg':
        out.push({ metric: g.metric, value: mean(vs), t });
        break;
      case 'count':
      case 'count_values':
        out.push({ metric: g.metric, value: g.n, t });
        break;
      case 'group':
        out.push({ metric: g.metric, value: 1, t });
        break;
      case 'min':
        out.push({ metric: g.metric, value: vs.reduce((a, b) => (a > b || Number.isNaN(a) ? b : a)), t });
        break;
      case 'max':
        out.push({ metric: g.metric, value: vs.reduce((a, b) => (a < b || Number.isNaN(a) ? b : a)), t });
        break;
      case 'stddev':
        out.push({ metric: g.metric, value: Math.sqrt(variance(vs)), t });
        break;
      case 'stdvar':
        out.push({ metric: g.metric, value: variance(vs), t });
        break;
      case 'quantile':
        out.push({ metric: g.metric, value: quantile(q, vs), t });
        break;
      case 'topk':
      case 'bottomk': {
        // NaN ranks last either way, as in Prometheus.
        const sign = e.op === 'topk' ? -1 : 1;
        const sorted = [...g.samples].sort((a, b) => {
          if (Number.isNaN(a.value)) return Number.isNaN(b.value) ? 0 : 1;
          if (Number.isNaN(b.value)) return -1;
          return sign * (a.value - b.value);
        });
        for (const s of sorted.slice(0, k)) out.push({ metric: s.metric, value: s.value, t });
        break;
      }
    }
  }
  return out;
}

export function kahanSum(vs: readonly number[]): number {
  let sum = 0;
  let c = 0;
  for (const v of vs) {
    const t = sum + v;
    if (Number.isFinite(t)) {
      if (Math.abs(sum) >= Math.abs(v)) c += sum - t + v;
      else c += v - t + sum;
    }
    sum = t;
  }
  return Number.isFinite(sum) ? sum + c : sum;
}

export function mean(vs: readonly number[]): number {
  if (vs.length === 0) return Number.NaN;
  const s = kahanSum(vs);
  if (Number.isFinite(s)) return s / vs.length;
  // Overflowing sums: an incremental mean keeps finite inputs finite.
  let m = 0;
  for (let i = 0; i < vs.length; i++) m += ((vs[i] as number) - m) / (i + 1);
  return m;
}

/** Population variance, as stdvar and stdvar_over_time. */
export function variance(vs: readonly number[]): number {
  let count = 0;
  let m = 0;
  let aux = 0;
  for (const v of vs) {
    count++;
    const delta = v - m;
    m += delta / count;
    aux += delta * (v - m);
  }
  return aux / count;
}
