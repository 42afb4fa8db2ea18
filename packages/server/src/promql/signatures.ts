/** Argument and result types of the PromQL functions evaluated here (functions.ts implements them). */
import type { ValueType } from './ast.ts';

export interface Signature {
  args: ValueType[];
  ret: ValueType;
  /** How many trailing arguments may be left out. */
  optional?: number;
  /** The last argument type repeats (label_join). */
  variadic?: boolean;
}

const v = 'vector';
const m = 'matrix';
const s = 'scalar';
const str = 'string';

const overTime = ['avg', 'min', 'max', 'sum', 'count', 'last', 'stddev', 'stdvar', 'present'];
const math = [
  'abs',
  'ceil',
  'floor',
  'exp',
  'sqrt',
  'ln',
  'log2',
  'log10',
  'sgn',
  'deg',
  'rad',
  'sin',
  'cos',
  'tan',
  'asin',
  'acos',
  'atan',
  'sinh',
  'cosh',
  'tanh',
  'asinh',
  'acosh',
  'atanh',
];
const dates = ['day_of_month', 'day_of_week', 'day_of_year', 'days_in_month', 'hour', 'minute', 'month', 'year'];

export const FUNCTIONS: Record<string, Signature> = {
  rate: { args: [m], ret: v },
  irate: { args: [m], ret: v },
  increase: { args: [m], ret: v },
  delta: { args: [m], ret: v },
  idelta: { args: [m], ret: v },
  deriv: { args: [m], ret: v },
  changes: { args: [m], ret: v },
  resets: { args: [m], ret: v },
  predict_linear: { args: [m, s], ret: v },
  quantile_over_time: { args: [s, m], ret: v },
  absent_over_time: { args: [m], ret: v },
  histogram_quantile: { args: [s, v], ret: v },
  label_replace: { args: [v, str, str, str, str], ret: v },
  label_join: { args: [v, str, str, str], ret: v, variadic: true },
  time: { args: [], ret: s },
  pi: { args: [], ret: s },
  vector: { args: [s], ret: v },
  scalar: { args: [v], ret: s },
  clamp: { args: [v, s, s], ret: v },
  clamp_min: { args: [v, s], ret: v },
  clamp_max: { args: [v, s], ret: v },
  round: { args: [v, s], ret: v, optional: 1 },
  absent: { args: [v], ret: v },
  timestamp: { args: [v], ret: v },
  sort: { args: [v], ret: v },
  sort_desc: { args: [v], ret: v },
  ...Object.fromEntries(overTime.map((n) => [`${n}_over_time`, { args: [m], ret: v } satisfies Signature])),
  ...Object.fromEntries(math.map((n) => [n, { args: [v], ret: v } satisfies Signature])),
  ...Object.fromEntries(dates.map((n) => [n, { args: [v], ret: v, optional: 1 } satisfies Signature])),
};
