import { pb } from '@falconet/protocol';

/** A number ts-proto would write otherwise than this writer (NaN, a fraction, beyond 2^53): the record goes the generic way. */
class UnusualNumber extends Error {}

const TWO_POW_32 = 2 ** 32;

/**
 * A LogBatch already in its protobuf bytes, as the log shipper gathers it: the report stream
 * spools the bytes as they are. `records` decodes them, for a reader other than the stream.
 */
export class EncodedLogBatch implements pb.LogBatch {
  readonly bytes: Buffer;
  readonly lines: number;
  readonly dropped: Record<string, number>;
  #records: pb.LogRecord[] | undefined;

  constructor(bytes: Buffer, lines: number, dropped: Record<string, number>) {
    this.bytes = bytes;
    this.lines = lines;
    this.dropped = dropped;
  }

  get records(): pb.LogRecord[] {
    this.#records ??= pb.LogBatch.decode(this.bytes).records;
    return this.#records;
  }
}

/**
 * Writes a LogBatch's protobuf bytes straight into one buffer, a record at a time: the same bytes
 * as `pb.LogBatch.encode(batch).finish()` (a test holds them equal) at a fraction of its cost,
 * and no record objects kept until the batch is full. A length is written before what it
 * measures: room is kept for the widest length the content can have, and the content moved back
 * by the bytes the length did not need (rarely: a string's room comes from its UTF-16 length).
 */
export class LogBatchWriter {
  #buf: Buffer;
  #pos = 0;
  #lines = 0;
  /** The bytes of strings that repeat from line to line: sources, streams, label and field names. */
  readonly #known = new Map<string, Uint8Array>();

  readonly #initialBytes: number;
  #spare: Buffer | undefined;

  /** `initialBytes`: what a batch takes, usually; each batch starts in a buffer of that size. */
  constructor(initialBytes = 64 * 1024) {
    this.#initialBytes = initialBytes;
    this.#buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  /** Records written so far. */
  get lines(): number {
    return this.#lines;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#pos;
  }

  /** The batch so far, the `dropped` counts after it; the writer starts a new one. */
  finish(dropped: Record<string, number>): EncodedLogBatch {
    for (const key in dropped) {
      if (!Object.hasOwn(dropped, key)) continue;
      const value = dropped[key] as number;
      this.#byte(18);
      const at = this.#open(1);
      if (key !== '') this.#string(10, key);
      if (value !== 0) this.#uint(16, value);
      this.#close(at, 1);
    }
    const batch = new EncodedLogBatch(this.#buf.subarray(0, this.#pos), this.#lines, dropped);
    // The batch keeps its bytes; the next one starts in a buffer of its own.
    this.#buf = this.#spare ?? Buffer.allocUnsafeSlow(this.#initialBytes);
    this.#spare = undefined;
    this.#pos = 0;
    this.#lines = 0;
    return batch;
  }

  /**
   * Takes back the buffer of a batch no one reads any more (handed over to the spool), for the
   * batch after next: a busy file's batches then reuse two buffers instead of making one each.
   */
  recycle(batch: EncodedLogBatch): void {
    const whole = batch.bytes.buffer;
    if (batch.bytes.byteOffset === 0 && whole.byteLength === this.#initialBytes && whole !== this.#buf.buffer)
      this.#spare = Buffer.from(whole);
  }

  /** A whole pb.LogBatch, written at once (a caller that made record objects). */
  encode(batch: pb.LogBatch): EncodedLogBatch {
    for (const r of batch.records) this.add(r);
    return this.finish(batch.dropped);
  }

  add(r: pb.LogRecord): void {
    const start = this.#pos;
    try {
      this.#record(r);
    } catch (err) {
      if (!(err instanceof UnusualNumber)) throw err;
      // Written by the generic encoder instead, which writes such a number its own way (or refuses it).
      this.#pos = start;
      const bytes = pb.LogBatch.encode({ records: [r], dropped: {} }).finish();
      this.#ensure(bytes.length);
      this.#buf.set(bytes, this.#pos);
      this.#pos += bytes.length;
    }
    this.#lines++;
  }

  /**
   * The fields every line of one read shares (times, source, stream), as `add` writes them: for
   * `addLine`. Times must be non-negative safe integers.
   */
  static head(timeMs: number, observedMs: number, source: string, stream: string): Uint8Array {
    const w = new LogBatchWriter(64 + 3 * (source.length + stream.length));
    if (timeMs !== 0) w.#uint(8, timeMs);
    if (observedMs !== 0) w.#uint(16, observedMs);
    if (source !== '') w.#string(26, source);
    if (stream !== '') w.#string(34, stream);
    return new Uint8Array(w.#buf.buffer, w.#buf.byteOffset, w.#pos).slice();
  }

  /**
   * A record of `head`'s fields, `level`, the message `text[from, to)` (valid UTF-8) and `offset`:
   * the bytes `add` writes for the same record with no labels or fields.
   */
  addLine(head: Uint8Array, level: number, text: Uint8Array, from: number, to: number, offset: number): void {
    const n = to - from;
    // Written inline, few calls: this runs for every line of a busy file, without an optimizing compiler.
    if (this.#pos + head.length + n + 32 > this.#buf.length) this.#ensure(head.length + n + 32);
    const buf = this.#buf;
    let p = this.#pos;
    const nBytes = n < 128 ? 1 : n < 16_384 ? 2 : 3;
    const offsetBytes = offset === 0 ? 0 : 1 + varintSize(offset);
    const body = head.length + (level !== 0 ? 2 : 0) + (n > 0 ? 1 + nBytes + n : 0) + offsetBytes;
    buf[p++] = 10;
    if (body < 128) buf[p++] = body;
    else if (body < 16_384) {
      buf[p++] = (body & 127) | 128;
      buf[p++] = body >>> 7;
    } else p = writeVarint(buf, p, body);
    buf.set(head, p);
    p += head.length;
    if (level !== 0) {
      buf[p++] = 40;
      buf[p++] = level;
    }
    if (n > 0) {
      buf[p++] = 50;
      if (n < 128) buf[p++] = n;
      else if (n < 16_384) {
        buf[p++] = (n & 127) | 128;
        buf[p++] = n >>> 7;
      } else p = writeVarint(buf, p, n);
      buf.set(text.subarray(from, to), p);
      p += n;
    }
    if (offset !== 0) {
      buf[p++] = 72;
      p = writeVarint(buf, p, offset);
    }
    this.#pos = p;
    this.#lines++;
  }

  #record(r: pb.LogRecord): void {
    this.#byte(10);
    const at = this.#open(2);
    if (r.timeMs !== 0) this.#int(8, r.timeMs);
    if (r.observedMs !== 0) this.#int(16, r.observedMs);
    if (r.source !== '') this.#string(26, r.source, true);
    if (r.stream !== '') this.#string(34, r.stream, true);
    if (r.level !== 0) this.#int(40, r.level);
    if (r.message !== '') this.#string(50, r.message);
    for (const key in r.labels) if (Object.hasOwn(r.labels, key)) this.#entry(58, key, r.labels[key] as string);
    for (const key in r.fields) if (Object.hasOwn(r.fields, key)) this.#entry(66, key, r.fields[key] as string);
    if (r.offset !== 0) this.#uint(72, r.offset);
    this.#close(at, 2);
  }

  #entry(tag: number, key: string, value: string): void {
    if (this.#pos + 2 > this.#buf.length) this.#ensure(2);
    this.#buf[this.#pos] = tag;
    // One byte of room for the entry's length: a name and a value of up to about 40 characters.
    const room = key.length + value.length < 40 ? 1 : 2;
    this.#pos += 1 + room;
    const at = this.#pos;
    if (key !== '') this.#string(10, key, true);
    if (value !== '') this.#string(18, value);
    this.#close(at, room);
  }

  /** `known`: a string that repeats from record to record (a source, a path, a field's name), its bytes kept. */
  #string(tag: number, s: string, known = false): void {
    const bytes = known ? this.#known.get(s) : undefined;
    if (bytes) {
      if (this.#pos + 6 + bytes.length > this.#buf.length) this.#ensure(6 + bytes.length);
      const buf = this.#buf;
      let p = this.#pos;
      buf[p++] = tag;
      if (bytes.length < 128) buf[p++] = bytes.length;
      else p = writeVarint(buf, p, bytes.length);
      buf.set(bytes, p);
      this.#pos = p + bytes.length;
      return;
    }
    const most = s.length * 3;
    const room = most < 128 ? 1 : most < 16_384 ? 2 : varintSize(most);
    if (this.#pos + 1 + room + most > this.#buf.length) this.#ensure(1 + room + most);
    const buf = this.#buf;
    buf[this.#pos++] = tag;
    const start = this.#pos + room;
    const n = writeUtf8(buf, s, start);
    const size = n < 128 ? 1 : n < 16_384 ? 2 : varintSize(n);
    if (size < room) buf.copyWithin(this.#pos + size, start, start + n);
    const at = this.#pos + size;
    this.#pos = writeVarint(buf, this.#pos, n) + n;
    if (known && s.length <= 128) {
      if (this.#known.size >= 256) this.#known.clear();
      this.#known.set(s, Uint8Array.prototype.slice.call(buf, at, at + n));
    }
  }

  /** int64 and int32 (an enum): negatives as ten bytes, as protobuf writes them. */
  #int(tag: number, v: number): void {
    if (!Number.isSafeInteger(v)) throw new UnusualNumber();
    this.#ensure(11);
    this.#buf[this.#pos++] = tag;
    if (v >= 0) this.#pos = writeVarint(this.#buf, this.#pos, v);
    else {
      let x = BigInt.asUintN(64, BigInt(v));
      while (x > 127n) {
        this.#buf[this.#pos++] = Number(x & 127n) | 128;
        x >>= 7n;
      }
      this.#buf[this.#pos++] = Number(x);
    }
  }

  #uint(tag: number, v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new UnusualNumber();
    this.#ensure(11);
    this.#buf[this.#pos++] = tag;
    this.#pos = writeVarint(this.#buf, this.#pos, v);
  }

  #byte(b: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = b;
  }

  /** Keeps `room` bytes for a length; returns where the content begins. */
  #open(room: number): number {
    this.#ensure(room);
    this.#pos += room;
    return this.#pos;
  }

  /** Writes the length of the content from `start` into the `room` bytes before it, moving the content when it needs other than `room`. */
  #close(start: number, room: number): void {
    const n = this.#pos - start;
    const size = varintSize(n);
    if (size !== room) {
      this.#ensure(size - room);
      this.#buf.copyWithin(start - room + size, start, this.#pos);
      this.#pos += size - room;
    }
    writeVarint(this.#buf, start - room, n);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }
}

type Utf8Writing = Buffer & { utf8Write?(s: string, offset: number): number };
/**
 * Buffer's own UTF-8 writer, which Buffer.prototype.write calls after checking its arguments: a
 * third of a string's cost here, where nothing is optimized away.
 */
const writeUtf8: (buf: Buffer, s: string, at: number) => number =
  typeof (Buffer.prototype as Utf8Writing).utf8Write === 'function'
    ? (buf, s, at) => (buf as Utf8Writing & { utf8Write(s: string, offset: number): number }).utf8Write(s, at)
    : (buf, s, at) => buf.write(s, at, 'utf8');

function varintSize(v: number): number {
  if (v < 128) return 1;
  if (v < 16_384) return 2;
  if (v < 2_097_152) return 3;
  if (v < 268_435_456) return 4;
  let n = 5;
  for (let x = Math.floor(v / 34_359_738_368); x > 0; x = Math.floor(x / 128)) n++;
  return n;
}

/** A non-negative safe integer as a varint at `pos`; returns the position after it. */
function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  let p = pos;
  if (v < TWO_POW_32) {
    let x = v >>> 0;
    while (x > 127) {
      buf[p++] = (x & 127) | 128;
      x >>>= 7;
    }
    buf[p++] = x;
    return p;
  }
  let x = v;
  while (x > 127) {
    buf[p++] = (x % 128) | 128;
    x = Math.floor(x / 128);
  }
  buf[p++] = x;
  return p;
}
