/**
 * SampleBatch straight between `Sample` objects and protobuf bytes, the hot path of every report
 * (the agent encodes one each interval, the server decodes 500 a second at 5,000 agents). The
 * generated ts-proto code builds an intermediate object per sample and per label and goes through
 * a generic writer; this does neither. The bytes are exactly what the generated code writes
 * (fields in number order, proto3 defaults left out), and decoding accepts anything a conforming
 * encoder may send: fields in any order, repeated scalars, unknown fields of every wire type.
 * Tests hold both directions against the generated code.
 */
import { type Labels, type Sample, setOwn } from './sample.ts';

/** The bytes do not form a SampleBatch. */
export class WireError extends Error {
  override name = 'WireError';
}

// Field tags: (number << 3) | wire type.
const BATCH_SAMPLES = (1 << 3) | 2;
const SAMPLE_NAME = (1 << 3) | 2;
const SAMPLE_LABEL = (2 << 3) | 2;
const SAMPLE_VALUE = (3 << 3) | 1;
const SAMPLE_TIMESTAMP = (4 << 3) | 0;
const LABEL_NAME = (1 << 3) | 2;
const LABEL_VALUE = (2 << 3) | 2;

const TWO_32 = 4294967296;

function varintSize(n: number): number {
  // Non-negative integers up to 2^53; negative int64 values always take ten bytes.
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** UTF-8 length of a string; a plain loop is faster than a call into C++ for short ASCII names. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  varint(n: number): void {
    const buf = this.buf;
    if (n >= 0 && n < 128) {
      buf[this.pos++] = n;
      return;
    }
    // Two 32-bit halves (two's complement for negative int64), seven bits at a time.
    let lo = n >>> 0;
    let hi = n < 0 ? ~Math.floor(-n / TWO_32) + (lo === 0 ? 1 : 0) : Math.floor(n / TWO_32);
    hi >>>= 0;
    while (hi !== 0 || lo > 127) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }
  /** A length-prefixed string whose UTF-8 length is `len`. */
  string(s: string, len: number): void {
    this.varint(len);
    const buf = this.buf;
    if (len === s.length) {
      for (let i = 0; i < len; i++) buf[this.pos++] = s.charCodeAt(i);
    } else this.pos += buf.write(s, this.pos, 'utf8');
  }
}

function labelSize(nameLen: number, valueLen: number): number {
  let n = 0;
  if (nameLen) n += 1 + varintSize(nameLen) + nameLen;
  if (valueLen) n += 1 + varintSize(valueLen) + valueLen;
  return n;
}

/** Encodes samples as a SampleBatch message. */
export function encodeSampleBatch(samples: readonly Sample[]): Buffer {
  // First pass: every string's UTF-8 length and every sample's size, kept for the second pass.
  const lengths: number[] = [];
  const sampleSizes = new Array<number>(samples.length);
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Sample;
    const nameLen = utf8Length(s.name);
    lengths.push(nameLen);
    let n = nameLen ? 1 + varintSize(nameLen) + nameLen : 0;
    for (const k in s.labels) {
      const kl = utf8Length(k);
      const vl = utf8Length(s.labels[k] as string);
      lengths.push(kl, vl);
      const l = labelSize(kl, vl);
      n += 1 + varintSize(l) + l;
    }
    if (s.value !== 0 || Object.is(s.value, -0)) n += 9;
    if (s.timestampMs !== 0) n += 1 + varintSize(s.timestampMs);
    sampleSizes[i] = n;
    total += 1 + varintSize(n) + n;
  }
  const w = new Writer(total);
  const buf = w.buf;
  let li = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i] as Sample;
    buf[w.pos++] = BATCH_SAMPLES;
    w.varint(sampleSizes[i] as number);
    const nameLen = lengths[li++] as number;
    if (nameLen) {
      buf[w.pos++] = SAMPLE_NAME;
      w.string(s.name, nameLen);
    }
    for (const k in s.labels) {
      const kl = lengths[li++] as number;
      const vl = lengths[li++] as number;
      buf[w.pos++] = SAMPLE_LABEL;
      w.varint(labelSize(kl, vl));
      if (kl) {
        buf[w.pos++] = LABEL_NAME;
        w.string(k, kl);
      }
      if (vl) {
        buf[w.pos++] = LABEL_VALUE;
        w.string(s.labels[k] as string, vl);
      }
    }
    if (s.value !== 0 || Object.is(s.value, -0)) {
      buf[w.pos++] = SAMPLE_VALUE;
      buf.writeDoubleLE(s.value, w.pos);
      w.pos += 8;
    }
    if (s.timestampMs !== 0) {
      buf[w.pos++] = SAMPLE_TIMESTAMP;
      w.varint(s.timestampMs);
    }
  }
  if (w.pos !== total) throw new Error(`SampleBatch encoder wrote ${w.pos} bytes, expected ${total}`);
  return buf;
}

/**
 * Strings decoded lately, by a hash of their bytes: metric names, label names and most label
 * values repeat in every report, and matching a few bytes in JavaScript is several times cheaper
 * than decoding them again (and hands the store the same string instances).
 */
const INTERN_SLOTS = 8192;
const INTERN_MAX_BYTES = 64;
const internBytes: (Uint8Array | undefined)[] = new Array(INTERN_SLOTS);
const internStrings: string[] = new Array(INTERN_SLOTS);

function internedString(buf: Buffer, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return '';
  if (len > INTERN_MAX_BYTES) return buf.toString('utf8', start, end);
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  const slot = (h >>> 0) & (INTERN_SLOTS - 1);
  const known = internBytes[slot];
  if (known !== undefined && known.length === len) {
    let same = true;
    for (let i = 0; i < len; i++)
      if (known[i] !== buf[start + i]) {
        same = false;
        break;
      }
    if (same) return internStrings[slot] as string;
  }
  const str = buf.toString('utf8', start, end);
  internBytes[slot] = Uint8Array.prototype.slice.call(buf, start, end);
  internStrings[slot] = str;
  return str;
}

class Reader {
  readonly buf: Buffer;
  readonly end: number;
  pos: number;
  constructor(buf: Buffer, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  fail(what: string): never {
    throw new WireError(`${what} at byte ${this.pos}`);
  }
  /** A varint as a number: exact up to 2^53 and for negative int64 values down to -2^53. */
  varint(): number {
    const buf = this.buf;
    const start = this.pos;
    let result = 0;
    let mul = 1;
    // Up to seven bytes (49 bits) the sum is exact in a double; longer ones take the slow path.
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = buf[this.pos++] as number;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    this.pos = start;
    return this.#longVarint();
  }
  #longVarint(): number {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++] as number;
      if (i === 9 && b > 1) this.fail('varint longer than 64 bits');
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return Number(BigInt.asIntN(64, result));
    }
    return this.fail('varint longer than 64 bits');
  }
  /** The end offset of a length-delimited field starting at the current position. */
  length(): number {
    const n = this.varint();
    const end = this.pos + n;
    if (end > this.end) this.fail(`length ${n} runs past the end of its message`);
    return end;
  }
  string(): string {
    const end = this.length();
    const s = internedString(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.length();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) this.fail('truncated fixed-width field');
  }
}

function readLabel(r: Reader, end: number, labels: Record<string, string>): void {
  let name = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === LABEL_NAME) name = r.string();
    else if (tag === LABEL_VALUE) value = r.string();
    else r.skip(tag & 7);
  }
  setOwn(labels, name, value);
}

function readSample(r: Reader, end: number): Sample {
  let name = '';
  const labels: Record<string, string> = {};
  let value = 0;
  let timestampMs = 0;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case SAMPLE_NAME:
        name = r.string();
        break;
      case SAMPLE_LABEL: {
        const labelEnd = r.length();
        const sub = new Reader(r.buf, r.pos, labelEnd);
        readLabel(sub, labelEnd, labels);
        if (sub.pos !== labelEnd) sub.fail('field runs past the end of its label');
        r.pos = labelEnd;
        break;
      }
      case SAMPLE_VALUE:
        if (r.pos + 8 > end) r.fail('truncated double');
        value = r.buf.readDoubleLE(r.pos);
        r.pos += 8;
        break;
      case SAMPLE_TIMESTAMP:
        timestampMs = r.varint();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) r.fail('sample overruns its length');
  return { name, labels: labels as Labels, value, timestampMs };
}

/** Decodes a SampleBatch message; throws WireError naming the byte where it went wrong. */
export function decodeSampleBatch(bytes: Uint8Array): Sample[] {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf, 0, buf.length);
  const out: Sample[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === BATCH_SAMPLES) {
      const end = r.length();
      const sub = new Reader(buf, r.pos, end);
      out.push(readSample(sub, end));
      r.pos = end;
    } else r.skip(tag & 7);
  }
  if (r.pos !== r.end) r.fail('field runs past the end of the batch');
  return out;
}
