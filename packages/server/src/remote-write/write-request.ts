/**
 * The few protobuf messages of Prometheus remote_write 1.0 (prometheus/prompb/remote.proto and
 * types.proto), decoded by hand: WriteRequest { repeated TimeSeries timeseries = 1; } with
 * TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; } and
 * Sample { double value = 1; int64 timestamp = 2; }. Exemplars, histograms and metadata are skipped.
 */

export interface RemoteLabel {
  name: string;
  value: string;
}

export interface RemoteSeries {
  labels: RemoteLabel[];
  /** `stale`: Prometheus' staleness marker (a NaN of one bit pattern), sent when a series disappears. */
  samples: { value: number; timestampMs: number; stale: boolean }[];
  /** Native histograms in the series: not stored, but counted so the sender can be told. */
  histograms: number;
}

/** A body that is not a valid WriteRequest; `message` names the field and the byte. */
export class WriteRequestError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos: number;
  readonly end: number;
  readonly buf: Uint8Array;
  readonly view: DataView;
  constructor(buf: Uint8Array, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** A varint as a double: exact up to 2^53, which covers millisecond timestamps; 10-byte negatives wrap. */
  varint(where: string): number {
    let lo = 0;
    let hi = 0;
    for (let i = 0; ; i++) {
      if (this.pos >= this.end) throw new WriteRequestError(`${where}: truncated varint at byte ${this.pos}`);
      if (i >= 10) throw new WriteRequestError(`${where}: varint longer than 10 bytes at byte ${this.pos}`);
      const b = this.buf[this.pos++] as number;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) break;
    }
    lo >>>= 0;
    if (hi & 0x80000000) return (hi | 0) * 2 ** 32 + lo;
    return (hi >>> 0) * 2 ** 32 + lo;
  }

  tag(where: string): { field: number; wire: number } {
    const t = this.varint(where);
    return { field: Math.floor(t / 8), wire: t % 8 };
  }

  bytes(where: string): { start: number; end: number } {
    const n = this.varint(where);
    const start = this.pos;
    if (n > this.end - start) throw new WriteRequestError(`${where}: length ${n} at byte ${start} runs past the end of its message`);
    this.pos = start + n;
    return { start, end: start + n };
  }

  string(where: string): string {
    const { start, end } = this.bytes(where);
    try {
      return utf8.decode(this.buf.subarray(start, end));
    } catch {
      throw new WriteRequestError(`${where}: not valid UTF-8 at byte ${start}`);
    }
  }

  double(where: string): number {
    if (this.pos + 8 > this.end) throw new WriteRequestError(`${where}: truncated double at byte ${this.pos}`);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Whether the 8 bytes just read as a double are the staleness marker (read from the bytes: NaN payloads may not survive a JS number). */
  lastWasStale(): boolean {
    return this.view.getUint32(this.pos - 8, true) === STALE_NAN_LO && this.view.getUint32(this.pos - 4, true) === STALE_NAN_HI;
  }

  skip(wire: number, where: string): void {
    if (wire === 0) this.varint(where);
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes(where);
    else if (wire === 5) this.pos += 4;
    else throw new WriteRequestError(`${where}: unsupported wire type ${wire} at byte ${this.pos}`);
    if (this.pos > this.end) throw new WriteRequestError(`${where}: field runs past the end of its message`);
  }

  sub(where: string): Reader {
    const { start, end } = this.bytes(where);
    return new Reader(this.buf, start, end);
  }
}

function expectWire(wire: number, want: number, where: string): void {
  if (wire !== want) throw new WriteRequestError(`${where}: wire type ${wire}, expected ${want}`);
}

/** Decodes a remote_write 1.0 WriteRequest (already decompressed). */
export function decodeWriteRequest(buf: Uint8Array): RemoteSeries[] {
  const r = new Reader(buf, 0, buf.length);
  const out: RemoteSeries[] = [];
  while (r.pos < r.end) {
    const { field, wire } = r.tag('WriteRequest');
    if (field === 1) {
      expectWire(wire, 2, `timeseries[${out.length}]`);
      out.push(decodeSeries(r.sub(`timeseries[${out.length}]`), `timeseries[${out.length}]`));
    } else r.skip(wire, 'WriteRequest');
  }
  return out;
}

function decodeSeries(r: Reader, where: string): RemoteSeries {
  const s: RemoteSeries = { labels: [], samples: [], histograms: 0 };
  while (r.pos < r.end) {
    const { field, wire } = r.tag(where);
    if (field === 1) {
      const w = `${where}.labels[${s.labels.length}]`;
      expectWire(wire, 2, w);
      const m = r.sub(w);
      let name = '';
      let value = '';
      while (m.pos < m.end) {
        const t = m.tag(w);
        if (t.field === 1 && t.wire === 2) name = m.string(`${w}.name`);
        else if (t.field === 2 && t.wire === 2) value = m.string(`${w}.value`);
        else m.skip(t.wire, w);
      }
      s.labels.push({ name, value });
    } else if (field === 2) {
      const w = `${where}.samples[${s.samples.length}]`;
      expectWire(wire, 2, w);
      const m = r.sub(w);
      let value = 0;
      let timestampMs = 0;
      let stale = false;
      while (m.pos < m.end) {
        const t = m.tag(w);
        if (t.field === 1 && t.wire === 1) {
          value = m.double(`${w}.value`);
          stale = m.lastWasStale();
        } else if (t.field === 2 && t.wire === 0) timestampMs = m.varint(`${w}.timestamp`);
        else m.skip(t.wire, w);
      }
      s.samples.push({ value, timestampMs, stale });
    } else if (field === 4) {
      s.histograms++;
      r.skip(wire, where);
    } else r.skip(wire, where);
  }
  return s;
}

/** Prometheus' staleness marker 0x7ff0000000000002, as the low and high words of its little-endian bytes. */
const STALE_NAN_LO = 0x00000002;
const STALE_NAN_HI = 0x7ff00000;
