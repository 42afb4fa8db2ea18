/** PromQL aggregation operators (sum, avg, topk, quantile, count_values, ...) over one instant vector. */
import type { Aggregate } from './ast.ts';
import { PromQLError } from './engine.ts';
import { type ColumnView, labelKey, type Metric, type Value, type VSample } from './values.ts';

/** The φ-quantile of values by linear interpolation, as Prometheus' quantile(). */
export function quantile(q: number, values: ColumnView): number {
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

/**
 * One output group of an aggregation, found again at every step of a range query: label sets that
 * group alike share it. The running fields are its state at the step being evaluated (`step` says
 * which), so the operators that need no list of values fold each input in as it comes.
 */
interface GroupSlot {
  metric: Metric;
  key: string;
  step: number;
  n: number;
  /** Kahan sum and its compensation (sum, avg). */
  sum: number;
  c: number;
  /** Running mean (avg when the sum overflows; stddev, stdvar). */
  mean: number;
  /** Welford's sum of squared differences (stddev, stdvar). */
  aux: number;
  /** min or max so far. */
  best: number;
}

/**
 * Per aggregation, each input label set's group: the same at every step of a range query. A step's
 * inputs are most often the same label-set objects, in the same order, as the step before's, so
 * those are compared first, by identity, before a lookup.
 */
interface GroupMemo {
  byMetric: WeakMap<Metric, GroupSlot>;
  byKey: Map<string, GroupSlot>;
  lastInputs: Metric[];
  lastSlots: GroupSlot[];
}
const GROUPS = new WeakMap<Aggregate, GroupMemo>();

function groupMemo(e: Aggregate): GroupMemo {
  let memo = GROUPS.get(e);
  if (!memo) {
    memo = { byMetric: new WeakMap(), byKey: new Map(), lastInputs: [], lastSlots: [] };
    GROUPS.set(e, memo);
  }
  return memo;
}

function groupSlot(m: Metric, e: Aggregate, memo = groupMemo(e)): GroupSlot {
  let slot = memo.byMetric.get(m);
  if (!slot) {
    const metric = groupOf(m, e);
    const key = labelKey(metric);
    slot = memo.byKey.get(key);
    if (!slot) {
      slot = { metric, key, step: 0, n: 0, sum: 0, c: 0, mean: 0, aux: 0, best: 0 };
      memo.byKey.set(key, slot);
    }
    memo.byMetric.set(m, slot);
  }
  return slot;
}

/** Tells one aggregate() call's groups from the last one's (see GroupSlot.step). */
let stepCounter = 0;

/** The operators computed by folding each input into its group, without collecting values. */
const RUNNING = new Set(['sum', 'avg', 'count', 'group', 'min', 'max', 'stddev', 'stdvar']);

/** sum, avg, count, group, min, max, stddev, stdvar: the same arithmetic, in the same order, as over a list of the values. */
function aggregateRunning(e: Aggregate, samples: VSample[], t: number): VSample[] {
  const step = ++stepCounter;
  const groups: GroupSlot[] = [];
  const op = e.op;
  const memo = groupMemo(e);
  const { lastInputs, lastSlots } = memo;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as VSample;
    let g: GroupSlot;
    if (lastInputs[i] === s.metric) g = lastSlots[i] as GroupSlot;
    else {
      g = groupSlot(s.metric, e, memo);
      lastInputs[i] = s.metric;
      lastSlots[i] = g;
    }
    const v = s.value;
    if (g.step !== step) {
      g.step = step;
      g.n = 0;
      g.sum = 0;
      g.c = 0;
      g.mean = 0;
      g.aux = 0;
      g.best = v;
      groups.push(g);
    }
    g.n++;
    switch (op) {
      case 'sum':
      case 'avg': {
        // kahanSum's step, then mean's fallback for a sum that overflows.
        const sum = g.sum;
        const next = sum + v;
        if (Number.isFinite(next)) {
          if (Math.abs(sum) >= Math.abs(v)) g.c += sum - next + v;
          else g.c += v - next + sum;
        }
        g.sum = next;
        if (op === 'avg') g.mean += (v - g.mean) / g.n;
        break;
      }
      case 'min':
        if (g.n > 1 && (g.best > v || Number.isNaN(g.best))) g.best = v;
        break;
      case 'max':
        if (g.n > 1 && (g.best < v || Number.isNaN(g.best))) g.best = v;
        break;
      case 'stddev':
      case 'stdvar': {
        const delta = v - g.mean;
        g.mean += delta / g.n;
        g.aux += delta * (v - g.mean);
        break;
      }
    }
  }
  const out: VSample[] = new Array(groups.length);
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as GroupSlot;
    let value: number;
    switch (op) {
      case 'sum':
        value = Number.isFinite(g.sum) ? g.sum + g.c : g.sum;
        break;
      case 'avg': {
        const sum = Number.isFinite(g.sum) ? g.sum + g.c : g.sum;
        value = Number.isFinite(sum) ? sum / g.n : g.mean;
        break;
      }
      case 'count':
        value = g.n;
        break;
      case 'group':
        value = 1;
        break;
      case 'min':
      case 'max':
        value = g.best;
        break;
      case 'stddev':
        value = Math.sqrt(g.aux / g.n);
        break;
      default:
        value = g.aux / g.n;
    }
    out[i] = { metric: g.metric, value, t };
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
  if (RUNNING.has(e.op)) return aggregateRunning(e, samples, t);
  const groups = new Map<string, Group>();
  // Only topk and bottomk answer with the input samples themselves; counting needs no values.
  const keepSamples = e.op === 'topk' || e.op === 'bottomk';
  const keepValues = e.op !== 'count' && e.op !== 'group' && e.op !== 'count_values';
  for (const s of samples) {
    let { metric, key } = groupSlot(s.metric, e);
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

export function kahanSum(vs: ColumnView): number {
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

export function mean(vs: ColumnView): number {
  if (vs.length === 0) return Number.NaN;
  const s = kahanSum(vs);
  if (Number.isFinite(s)) return s / vs.length;
  // Overflowing sums: an incremental mean keeps finite inputs finite.
  let m = 0;
  for (let i = 0; i < vs.length; i++) m += ((vs[i] as number) - m) / (i + 1);
  return m;
}

/** Population variance, as stdvar and stdvar_over_time. */
export function variance(vs: ColumnView): number {
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
