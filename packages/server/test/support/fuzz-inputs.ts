/**
 * Inputs for the server's fuzz tests: encoders for the tests only (the server decodes; Prometheus
 * and its kin encode) of snappy blocks and remote_write 1.0 / 2.0 requests written from a model,
 * and the PromQL tokens arbitrary queries are made of.
 */
import fc from 'fast-check';

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

function varint(n: number | bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}
const bytesField = (num: number, body: number[]) => [...varint(num * 8 + 2), ...varint(body.length), ...body];
const utf8 = (s: string) => [...Buffer.from(s, 'utf8')];
const double = (v: number) => [...new Uint8Array(new Float64Array([v]).buffer)];

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
    for (const l of s.labels) body.push(...bytesField(1, [...bytesField(1, utf8(l.name)), ...bytesField(2, utf8(l.value))]));
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
  return Uint8Array.from([...symbols.flatMap((x) => bytesField(4, utf8(x))), ...ts]);
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
