/**
 * remote_write encoders for tests only: the server decodes, Prometheus encodes (e2e/promql-conformance.test.ts).
 * 1.0 WriteRequest and 2.0 Request, with HELP/TYPE/UNIT metadata when asked, and snappy of literals.
 */
export function varint(n: number | bigint): number[] {
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
export const field = (num: number, wire: number) => varint(num * 8 + wire);
export const bytesField = (num: number, body: number[]) => [...field(num, 2), ...varint(body.length), ...body];
export const str = (s: string) => [...new TextEncoder().encode(s)];
export function double(v: number, raw?: [number, number]): number[] {
  const b = new DataView(new ArrayBuffer(8));
  if (raw) {
    b.setUint32(0, raw[0], true);
    b.setUint32(4, raw[1], true);
  } else b.setFloat64(0, v, true);
  return [...new Uint8Array(b.buffer)];
}
/** `meta`: 2.0's per-series Metadata (type enum number, help, unit). */
export type TestSeries = {
  labels: Record<string, string>;
  samples: { v: number; t: number; stale?: boolean }[];
  meta?: { type: number; help: string; unit?: string };
};
/** 1.0's MetricMetadata. */
export type TestMetadata = { family: string; type: number; help: string; unit?: string };
export function writeRequest(series: TestSeries[], metadata: TestMetadata[] = []): Uint8Array {
  const out: number[] = [];
  for (const m of metadata) {
    out.push(
      ...bytesField(3, [
        ...field(1, 0),
        ...varint(m.type),
        ...bytesField(2, str(m.family)),
        ...bytesField(4, str(m.help)),
        ...(m.unit ? bytesField(5, str(m.unit)) : []),
      ]),
    );
  }
  for (const s of series) {
    const body: number[] = [];
    for (const [n, v] of Object.entries(s.labels)) body.push(...bytesField(1, [...bytesField(1, str(n)), ...bytesField(2, str(v))]));
    for (const p of s.samples) {
      const sample = [...field(1, 1), ...double(p.v, p.stale ? [0x00000002, 0x7ff00000] : undefined), ...field(2, 0), ...varint(p.t)];
      body.push(...bytesField(2, sample));
    }
    out.push(...bytesField(1, body));
  }
  return new Uint8Array(out);
}
/** A remote_write 2.0 Request: labels as packed references into a symbols table starting with "". */
export function writeRequestV2(series: TestSeries[], opts: { exemplar?: boolean; refs?: (refs: number[]) => number[] } = {}): Uint8Array {
  const symbols = [''];
  const ref = (x: string) => {
    let i = symbols.indexOf(x);
    if (i < 0) i = symbols.push(x) - 1;
    return i;
  };
  const ts: number[] = [];
  for (const s of series) {
    let refs = Object.entries(s.labels).flatMap(([n, v]) => [ref(n), ref(v)]);
    if (opts.refs) refs = opts.refs(refs);
    const body: number[] = bytesField(1, refs.flatMap(varint));
    for (const p of s.samples) {
      body.push(
        ...bytesField(2, [...field(1, 1), ...double(p.v, p.stale ? [0x00000002, 0x7ff00000] : undefined), ...field(2, 0), ...varint(p.t)]),
      );
    }
    if (opts.exemplar) body.push(...bytesField(4, [...field(2, 1), ...double(1)]));
    if (s.meta) {
      body.push(
        ...bytesField(5, [
          ...field(1, 0),
          ...varint(s.meta.type),
          ...field(3, 0),
          ...varint(ref(s.meta.help)),
          ...field(4, 0),
          ...varint(ref(s.meta.unit ?? '')),
        ]),
      );
    }
    ts.push(...bytesField(5, body));
  }
  return new Uint8Array([...symbols.flatMap((x) => bytesField(4, str(x))), ...ts]);
}

/** Snappy with literals only (valid, uncompressed), plus a back-reference when `copy` is set. */
export function snappy(data: Uint8Array): Uint8Array {
  const out = [...varint(data.length)];
  for (let i = 0; i < data.length; i += 60) {
    const chunk = data.subarray(i, i + 60);
    out.push((chunk.length - 1) << 2, ...chunk);
  }
  return new Uint8Array(out);
}
