/**
 * Inputs for the server's fuzz tests: encoders for the tests only (the server decodes; Prometheus
 * and its kin encode) of snappy blocks and remote_write 1.0 / 2.0 requests written from a model,
 * and the PromQL tokens arbitrary queries are made of.
 */
import fc from 'fast-check';
import { bytesField, double, str, varint } from './remote-write.ts';

export type ModelSeries = { labels: { name: string; value: string }[]; samples: { value: number; timestampMs: number }[] };
const wellFormed = (max: number) => fc.string({ maxLength: max, unit: 'grapheme' });
export const modelSeries: fc.Arbitrary<ModelSeries[]> = fc.array(
  fc.record({
    labels: fc.array(fc.record({ name: wellFormed(12), value: wellFormed(20) }), { maxLength: 5 }),
    samples: fc.array(
      fc.record({
        value: fc.double({ noNaN: true }),
        timestampMs: fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 45 }), fc.maxSafeInteger()),
      }),
      { maxLength: 4 },
    ),
  }),
  { maxLength: 6 },
);

/** Snappy as a sender may write it: the input cut into literals, runs written as copies of what came before. */
export function snappyEncode(data: Uint8Array, cuts: readonly number[]): Uint8Array {
  const out = [...varint(data.length)];
  let pos = 0;
  for (const cut of [...cuts, data.length]) {
    const end = Math.min(data.length, pos + Math.max(1, cut));
    if (end <= pos) break;
    // A copy when the bytes repeat those just before them (offset 1..4), else a literal.
    let offset = 0;
    for (let o = 1; o <= Math.min(4, pos); o++) {
      let same = true;
      for (let i = pos; i < end && same; i++) same = data[i] === data[i - o];
      if (same && end - pos >= 4 && end - pos <= 64) offset = o;
    }
    const n = end - pos;
    if (offset) out.push(((n - 1) << 2) | 2, offset & 0xff, offset >> 8);
    else {
      if (n <= 60) out.push((n - 1) << 2);
      else out.push(61 << 2, (n - 1) & 0xff, (n - 1) >> 8);
      out.push(...data.subarray(pos, end));
    }
    pos = end;
  }
  return Uint8Array.from(out);
}

export function writeRequestV1(series: readonly ModelSeries[]): Uint8Array {
  const out: number[] = [];
  for (const s of series) {
    const body: number[] = [];
    for (const l of s.labels) body.push(...bytesField(1, [...bytesField(1, str(l.name)), ...bytesField(2, str(l.value))]));
    for (const p of s.samples) body.push(...bytesField(2, [...varint(9), ...double(p.value), ...varint(16), ...varint(p.timestampMs)]));
    out.push(...bytesField(1, body));
  }
  return Uint8Array.from(out);
}

export function writeRequestV2(series: readonly ModelSeries[]): Uint8Array {
  const symbols = [''];
  const ref = (x: string) => (symbols.includes(x) ? symbols.indexOf(x) : symbols.push(x) - 1);
  const ts: number[] = [];
  for (const s of series) {
    const body = bytesField(
      1,
      s.labels.flatMap((l) => [...varint(ref(l.name)), ...varint(ref(l.value))]),
    );
    for (const p of s.samples) body.push(...bytesField(2, [...varint(9), ...double(p.value), ...varint(16), ...varint(p.timestampMs)]));
    ts.push(...bytesField(5, body));
  }
  return Uint8Array.from([...symbols.flatMap((x) => bytesField(4, str(x))), ...ts]);
}

/** Pieces of PromQL, joined at random (with noise) into queries that reach past the parser's first checks. */
export const PROMQL_TOKENS = [
  'up',
  'node_cpu_seconds_total',
  '{',
  '}',
  'job="a"',
  'mode!~"idle|iowait"',
  '__name__=~".+"',
  ',',
  '[5m]',
  '[1h:30s]',
  '[0s]',
  '[',
  ']',
  '(',
  ')',
  ' offset 1d',
  ' offset -5m',
  ' @ 1700000000',
  ' @ start()',
  ' @ ',
  'rate(',
  'sum by (job) (',
  'topk(3, ',
  'histogram_quantile(0.9, ',
  'quantile_over_time(',
  'label_replace(',
  'absent(',
  'count_values("v", ',
  ' + ',
  ' / ',
  ' ^ ',
  ' and ',
  ' or ',
  ' unless ',
  ' on(job) ',
  ' ignoring(mode) group_left ',
  ' > bool ',
  ' == ',
  '-',
  '1',
  '0.5',
  '1e308',
  'Inf',
  'NaN',
  '0x1F',
  '"str"',
  "'s'",
  '`raw`',
  '"\\q"',
  '#',
  'by',
  'without',
];

/**
 * PromQL that parses, built by its grammar (instant and range vectors, scalars, strings), so the
 * evaluator is reached as often as the parser: functions, aggregations, binary operators with
 * matching, offsets, @, subqueries. Types are mostly right; where they are not, bad_data is the answer.
 */
export const promqlExpr: fc.Arbitrary<string> = fc.letrec<{ iv: string; rv: string; sc: string }>((tie) => {
  const dur = fc.constantFrom('1m', '5m', '30s', '1h', '90s', '1ms', '2d');
  const num = fc.oneof(
    fc.constantFrom('0', '1', '-1', '0.5', '2', '1e308', 'NaN', 'Inf', '-Inf', '100'),
    fc.integer({ min: -5, max: 5 }).map(String),
  );
  const selector = fc
    .tuple(
      fc.constantFrom('up', 'node_cpu_seconds_total', 'nothing_here', '{__name__=~".+"}', '{job="a"}'),
      fc.constantFrom('', '{job="a"}', '{mode!="idle"}', '{mode=~"i.*"}', '{host!~"x|y"}', '{cpu=""}'),
    )
    .map(([n, m]) => (n.startsWith('{') ? n : `${n}${m}`));
  const iv = tie('iv');
  const rv = tie('rv');
  const sc = tie('sc');
  const binop = fc.constantFrom(' + ', ' - ', ' * ', ' / ', ' % ', ' ^ ', ' == ', ' != ', ' > bool ', ' < ', ' >= ', ' atan2 ');
  const setop = fc.constantFrom(' and ', ' or ', ' unless ');
  // group_left takes its own (labels): a bare group_left before "(" would read the next operand as them, in Prometheus too.
  const matching = fc.constantFrom('', ' on(job) ', ' ignoring(mode) ', ' on(host) group_left() ', ' ignoring(cpu) group_right(mode) ');
  const agg = fc.constantFrom('sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'group');
  const grouping = fc.constantFrom('', ' by (job)', ' without (mode)', ' by ()', ' by (__name__)');
  return {
    iv: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      selector,
      fc
        .tuple(
          fc.constantFrom(
            'rate',
            'irate',
            'increase',
            'delta',
            'idelta',
            'deriv',
            'changes',
            'resets',
            'avg_over_time',
            'min_over_time',
            'max_over_time',
            'sum_over_time',
            'count_over_time',
            'last_over_time',
            'stddev_over_time',
            'present_over_time',
            'absent_over_time',
          ),
          rv,
        )
        .map(([f, r]) => `${f}(${r})`),
      fc
        .tuple(
          fc.constantFrom(
            'abs',
            'ceil',
            'floor',
            'exp',
            'sqrt',
            'ln',
            'sgn',
            'round',
            'sort',
            'sort_desc',
            'timestamp',
            'absent',
            'hour',
            'month',
            'day_of_week',
            'days_in_month',
            'year',
            'deg',
            'asin',
            'acosh',
          ),
          iv,
        )
        .map(([f, e]) => `${f}(${e})`),
      fc.tuple(agg, grouping, iv).map(([a, g, e]) => `${a}${g} (${e})`),
      fc.tuple(fc.constantFrom('topk', 'bottomk', 'quantile'), sc, iv).map(([a, k, e]) => `${a}(${k}, ${e})`),
      iv.map((e) => `count_values("v", ${e})`),
      fc.tuple(iv, binop, matching, iv).map(([a, o, m, b]) => `(${a})${o}${m}(${b})`),
      fc.tuple(iv, setop, iv).map(([a, o, b]) => `(${a})${o}(${b})`),
      fc.tuple(iv, binop, sc).map(([a, o, b]) => `(${a})${o}${b}`),
      fc.tuple(sc, iv).map(([q, e]) => `histogram_quantile(${q}, ${e})`),
      fc.tuple(iv, sc, sc).map(([e, a, b]) => `clamp(${e}, ${a}, ${b})`),
      fc.tuple(rv, sc).map(([r, t]) => `predict_linear(${r}, ${t})`),
      fc.tuple(sc, rv).map(([q, r]) => `quantile_over_time(${q}, ${r})`),
      iv.map((e) => `label_replace(${e}, "dst", "$1", "mode", "(.*)")`),
      iv.map((e) => `label_join(${e}, "dst", "-", "job", "mode")`),
      sc.map((e) => `vector(${e})`),
      iv.map((e) => `-(${e})`),
      fc.tuple(selector, dur).map(([e, d]) => `${e} offset ${d}`),
      selector.map((e) => `${e} @ 1700000000`),
    ),
    rv: fc.oneof(
      { depthSize: 'small' },
      fc.tuple(selector, dur).map(([e, d]) => `${e}[${d}]`),
      fc.tuple(iv, dur, fc.constantFrom('', '15s', '1m')).map(([e, d, r]) => `(${e})[${d}:${r}]`),
    ),
    sc: fc.oneof(
      { depthSize: 'small' },
      num,
      iv.map((e) => `scalar(${e})`),
      fc.constant('time()'),
      fc.constant('pi()'),
      fc.tuple(num, binop, num).map(([a, o, b]) => `${a}${o.replace(' bool', '')}${b}`),
    ),
  };
}).iv;
