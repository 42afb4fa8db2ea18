/**
 * What remote_write 1.0 sends: a protobuf WriteRequest { repeated TimeSeries timeseries = 1 } with
 * TimeSeries { repeated Label labels = 1; repeated Sample samples = 2 }, Label { name = 1; value = 2 },
 * Sample { double value = 1; int64 timestamp = 2 }, compressed as one snappy block.
 * Protobuf messages concatenate: two encoded WriteRequests back to back are one WriteRequest with the
 * series of both, which is what lets the durable queue store encoded batches and send runs of them.
 */

export interface OutSeries {
  /** Sorted by name, `__name__` included, as the spec asks. */
  labels: { name: string; value: string }[];
  samples: { value: number; timestampMs: number; stale?: boolean }[];
}

const utf8 = new TextEncoder();
// Little-endian machines only (x64, arm64), as Node runs on here: a double's bytes are its wire bytes.
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const STALE_BYTES = Uint8Array.of(0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f);

class Writer {
  buf = new Uint8Array(1024);
  len = 0;

  #room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(v: number): void {
    this.#room(10);
    // Timestamps exceed 32 bits, so the loop divides instead of shifting.
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  byte(b: number): void {
    this.#room(1);
    this.buf[this.len++] = b;
  }

  double(v: number, stale: boolean): void {
    this.#room(8);
    if (stale) {
      // Prometheus' staleness marker is one NaN bit pattern; a JS NaN would not carry it.
      this.buf.set(STALE_BYTES, this.len);
    } else {
      F64[0] = v;
      this.buf.set(F64_BYTES, this.len);
    }
    this.len += 8;
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const varintLen = (v: number): number => {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
};

/** Encodes a WriteRequest (uncompressed). Lengths are computed first, so every byte is written once. */
export function encodeWriteRequest(series: readonly OutSeries[]): Uint8Array {
  const out = new Writer();
  for (const s of series) {
    const labels = s.labels.map((l) => {
      const n = utf8.encode(l.name);
      const v = utf8.encode(l.value);
      return { n, v, len: 1 + varintLen(n.length) + n.length + 1 + varintLen(v.length) + v.length };
    });
    let body = 0;
    for (const l of labels) body += 1 + varintLen(l.len) + l.len;
    for (const p of s.samples) {
      if (p.timestampMs < 0) throw new RangeError(`sample timestamp ${p.timestampMs} is before 1970; remote_write out does not send it`);
      const len = 9 + 1 + varintLen(p.timestampMs);
      body += 1 + varintLen(len) + len;
    }
    out.varint(0x0a);
    out.varint(body);
    for (const l of labels) {
      out.varint(0x0a);
      out.varint(l.len);
      out.varint(0x0a);
      out.varint(l.n.length);
      out.bytes(l.n);
      out.varint(0x12);
      out.varint(l.v.length);
      out.bytes(l.v);
    }
    for (const p of s.samples) {
      out.varint(0x12);
      out.varint(9 + 1 + varintLen(p.timestampMs));
      out.varint(0x09);
      out.double(p.value, p.stale === true);
      out.varint(0x10);
      out.varint(p.timestampMs);
    }
  }
  return out.done();
}

/**
 * Snappy block compression: greedy matching through a hash table of 4-byte sequences, the way the
 * reference encoder works at its simplest. Any valid block decodes with every snappy decoder; the
 * ratio on label-heavy WriteRequests is what matters here, not the last percent.
 */
export function snappyEncode(src: Uint8Array): Uint8Array {
  const out = new Writer();
  out.varint(src.length);
  const table = new Int32Array(1 << 14).fill(-1);
  const hash = (i: number) =>
    (Math.imul(
      (src[i] as number) | ((src[i + 1] as number) << 8) | ((src[i + 2] as number) << 16) | ((src[i + 3] as number) << 24),
      0x1e35a7bd,
    ) >>>
      18) &
    0x3fff;
  let lit = 0;
  let i = 0;
  const literal = (from: number, to: number) => {
    let n = to - from;
    if (n === 0) return;
    n -= 1;
    if (n < 60) out.byte(n << 2);
    else if (n < 0x100) out.bytes(Uint8Array.of(60 << 2, n));
    else if (n < 0x10000) out.bytes(Uint8Array.of(61 << 2, n & 0xff, n >>> 8));
    else if (n < 0x1000000) out.bytes(Uint8Array.of(62 << 2, n & 0xff, (n >>> 8) & 0xff, n >>> 16));
    else out.bytes(Uint8Array.of(63 << 2, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24));
    out.bytes(src.subarray(from, to));
  };
  const copy = (offset: number, n: number) => {
    // Copies of 2-byte offsets carry up to 64 bytes each.
    while (n > 0) {
      const m = n > 64 ? (n - 64 < 4 ? 60 : 64) : n;
      out.byte(((m - 1) << 2) | 2);
      out.byte(offset & 0xff);
      out.byte(offset >>> 8);
      n -= m;
    }
  };
  while (i + 4 <= src.length) {
    const h = hash(i);
    const cand = table[h] as number;
    table[h] = i;
    if (
      cand >= 0 &&
      i - cand < 0x10000 &&
      src[cand] === src[i] &&
      src[cand + 1] === src[i + 1] &&
      src[cand + 2] === src[i + 2] &&
      src[cand + 3] === src[i + 3]
    ) {
      let n = 4;
      while (i + n < src.length && src[cand + n] === src[i + n]) n++;
      literal(lit, i);
      copy(i - cand, n);
      i += n;
      lit = i;
    } else i++;
  }
  literal(lit, src.length);
  return out.done();
}
