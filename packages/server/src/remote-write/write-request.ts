/**
 * The few protobuf messages of Prometheus remote_write, decoded by hand.
 * 1.0 (prompb/remote.proto, types.proto): WriteRequest { repeated TimeSeries timeseries = 1; } with
 * TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; } and
 * Sample { double value = 1; int64 timestamp = 2; }.
 * 2.0 (io.prometheus.write.v2): Request { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
 * with TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; ... exemplars = 4; },
 * labels as pairs of indexes into the symbols. Exemplars, histograms and metadata are counted, not kept.
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
  exemplars: number;
  /** 2.0: the series' TYPE (MetricType enum), HELP and UNIT, when sent. */
  metadata?: RemoteMetadata;
}

/** HELP, TYPE and UNIT of a family: 1.0's MetricMetadata (family named), 2.0's per-series Metadata. */
export interface RemoteMetadata {
  /** 1.0: metric_family_name; 2.0: empty (the series' name stands for it). */
  family: string;
  /** The MetricType enum's number (0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram, 5 summary, 6 info, 7 stateset). */
  type: number;
  help: string;
  unit: string;
}

/** A body that is not a valid WriteRequest; `message` names the field and the byte. */
export class WriteRequestError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos: number;
  readonly end: number;
  readonly buf: Uint8Array;
  readonly view: DataView;
  constructor(buf: Uint8Array, pos: number, end: number, view?: DataView) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    // One view of the whole body, shared by every sub-message's reader.
    this.view = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
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
    return new Reader(this.buf, start, end, this.view);
  }
}

function expectWire(wire: number, want: number, where: string): void {
  if (wire !== want) throw new WriteRequestError(`${where}: wire type ${wire}, expected ${want}`);
}

/** Decodes a remote_write 1.0 WriteRequest (already decompressed); its metadata list goes to `metadata` when given. */
export function decodeWriteRequest(buf: Uint8Array, metadata?: RemoteMetadata[]): RemoteSeries[] {
  const r = new Reader(buf, 0, buf.length);
  const out: RemoteSeries[] = [];
  let metas = 0;
  while (r.pos < r.end) {
    const { field, wire } = r.tag('WriteRequest');
    if (field === 1) {
      expectWire(wire, 2, `timeseries[${out.length}]`);
      out.push(decodeSeries(r.sub(`timeseries[${out.length}]`), `timeseries[${out.length}]`));
    } else if (field === 3) {
      const where = `metadata[${metas++}]`;
      expectWire(wire, 2, where);
      const m = r.sub(where);
      const meta: RemoteMetadata = { family: '', type: 0, help: '', unit: '' };
      while (m.pos < m.end) {
        const t = m.tag(where);
        if (t.field === 1 && t.wire === 0) meta.type = m.varint(`${where}.type`);
        else if (t.field === 2 && t.wire === 2) meta.family = m.string(`${where}.metric_family_name`);
        else if (t.field === 4 && t.wire === 2) meta.help = m.string(`${where}.help`);
        else if (t.field === 5 && t.wire === 2) meta.unit = m.string(`${where}.unit`);
        else m.skip(t.wire, where);
      }
      metadata?.push(meta);
    } else r.skip(wire, 'WriteRequest');
  }
  return out;
}

function decodeSeries(r: Reader, where: string): RemoteSeries {
  const s: RemoteSeries = { labels: [], samples: [], histograms: 0, exemplars: 0 };
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
      expectWire(wire, 2, `${where}.samples[${s.samples.length}]`);
      s.samples.push(sampleAt(r, where, s.samples.length));
    } else if (field === 4) {
      s.histograms++;
      r.skip(wire, where);
    } else if (field === 3) {
      s.exemplars++;
      r.skip(wire, where);
    } else r.skip(wire, where);
  }
  return s;
}

/**
 * The next Sample message of a series. Its location (`timeseries[i].samples[j]`) is only spelt out
 * when it is malformed: decoding again with it gives the same error, named; building it for every
 * sample was a good part of the receiver's time.
 */
function sampleAt(r: Reader, where: string, index: number): RemoteSeries['samples'][number] {
  const at = r.pos;
  const buf = r.buf;
  const len = buf[at] as number;
  // What senders write: a one-byte length, the value (field 1, fixed64), then the timestamp (field 2, varint).
  if (len < 0x80 && at + 1 + len <= r.end && buf[at + 1] === 0x09 && buf[at + 10] === 0x10) {
    const end = at + 1 + len;
    r.pos = at + 11;
    let timestampMs = Number.NaN;
    try {
      timestampMs = r.varint('');
    } catch {
      // Malformed: the careful path below says where.
    }
    if (r.pos === end && !Number.isNaN(timestampMs)) {
      const value = r.view.getFloat64(at + 2, true);
      const stale = r.view.getUint32(at + 2, true) === STALE_NAN_LO && r.view.getUint32(at + 6, true) === STALE_NAN_HI;
      return { value, timestampMs, stale };
    }
    r.pos = at;
  }
  try {
    return decodeSample(r.sub(''), '');
  } catch (err) {
    if (!(err instanceof WriteRequestError)) throw err;
    r.pos = at;
    const w = `${where}.samples[${index}]`;
    return decodeSample(r.sub(w), w);
  }
}

function decodeSample(m: Reader, w: string): RemoteSeries['samples'][number] {
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
  return { value, timestampMs, stale };
}

/** Decodes a remote_write 2.0 Request (already decompressed): labels resolved through its symbols. */
export function decodeWriteRequestV2(buf: Uint8Array): RemoteSeries[] {
  const r = new Reader(buf, 0, buf.length);
  const symbols: string[] = [];
  const raw: { refs: number[]; series: RemoteSeries; where: string; metaRefs: { type: number; help: number; unit: number } | undefined }[] =
    [];
  while (r.pos < r.end) {
    const { field, wire } = r.tag('Request');
    if (field === 4) {
      expectWire(wire, 2, `symbols[${symbols.length}]`);
      symbols.push(r.string(`symbols[${symbols.length}]`));
    } else if (field === 5) {
      const where = `timeseries[${raw.length}]`;
      expectWire(wire, 2, where);
      const m = r.sub(where);
      const series: RemoteSeries = { labels: [], samples: [], histograms: 0, exemplars: 0 };
      const refs: number[] = [];
      let metaRefs: { type: number; help: number; unit: number } | undefined;
      while (m.pos < m.end) {
        const t = m.tag(where);
        if (t.field === 1 && t.wire === 2) {
          // Packed, as proto3 writes repeated scalars.
          const p = m.sub(`${where}.labels_refs`);
          while (p.pos < p.end) refs.push(p.varint(`${where}.labels_refs`));
        } else if (t.field === 1 && t.wire === 0) refs.push(m.varint(`${where}.labels_refs`));
        else if (t.field === 2 && t.wire === 2) series.samples.push(sampleAt(m, where, series.samples.length));
        else if (t.field === 3) {
          series.histograms++;
          m.skip(t.wire, where);
        } else if (t.field === 4) {
          series.exemplars++;
          m.skip(t.wire, where);
        } else if (t.field === 5 && t.wire === 2) {
          // Metadata { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
          const md = m.sub(`${where}.metadata`);
          metaRefs = { type: 0, help: 0, unit: 0 };
          while (md.pos < md.end) {
            const f = md.tag(`${where}.metadata`);
            if (f.field === 1 && f.wire === 0) metaRefs.type = md.varint(`${where}.metadata.type`);
            else if (f.field === 3 && f.wire === 0) metaRefs.help = md.varint(`${where}.metadata.help_ref`);
            else if (f.field === 4 && f.wire === 0) metaRefs.unit = md.varint(`${where}.metadata.unit_ref`);
            else md.skip(f.wire, `${where}.metadata`);
          }
        } else m.skip(t.wire, where);
      }
      raw.push({ refs, series, where, metaRefs });
    } else r.skip(wire, 'Request');
  }
  if (symbols.length > 0 && symbols[0] !== '') throw new WriteRequestError('symbols[0]: must be the empty string');
  for (const { refs, series, where, metaRefs } of raw) {
    if (metaRefs) {
      // Reference 0 is the empty string, whether or not a symbols table came.
      const help = metaRefs.help === 0 ? '' : symbols[metaRefs.help];
      const unit = metaRefs.unit === 0 ? '' : symbols[metaRefs.unit];
      if (help === undefined || unit === undefined) {
        throw new WriteRequestError(
          `${where}.metadata.${help === undefined ? 'help_ref' : 'unit_ref'}: reference ${help === undefined ? metaRefs.help : metaRefs.unit} is past the ${symbols.length} symbols`,
        );
      }
      series.metadata = { family: '', type: metaRefs.type, help, unit };
    }
    if (refs.length % 2 !== 0)
      throw new WriteRequestError(`${where}.labels_refs: an odd number of references (${refs.length}); they come in name, value pairs`);
    for (let i = 0; i < refs.length; i += 2) {
      const n = symbols[refs[i] as number];
      const v = symbols[refs[i + 1] as number];
      if (n === undefined || v === undefined) {
        throw new WriteRequestError(
          `${where}.labels_refs[${n === undefined ? i : i + 1}]: reference ${n === undefined ? refs[i] : refs[i + 1]} is past the ${symbols.length} symbols`,
        );
      }
      series.labels.push({ name: n, value: v });
    }
  }
  return raw.map((x) => x.series);
}

/** Prometheus' staleness marker 0x7ff0000000000002, as the low and high words of its little-endian bytes. */
const STALE_NAN_LO = 0x00000002;
const STALE_NAN_HI = 0x7ff00000;
