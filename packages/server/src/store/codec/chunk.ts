/**
 * Chunk codecs for one series: timestamps as delta-of-delta, values either as decimal
 * mantissas (delta or delta-of-delta, for counters and gauges that are decimals in disguise)
 * or Gorilla-style XOR of the IEEE 754 bits (for everything else: arbitrary floats, NaN, -0,
 * infinities). Every value round-trips bit for bit, except that NaN payloads other than the
 * quiet NaN the XOR path also keeps exactly.
 */
import { BitReader, BitWriter } from './bits.ts';

/** Widths of the signed classes after the unary prefix; class 0 is the value 0 in one bit. */
const TS_WIDTHS = [0, 4, 8, 13, 20, 44] as const;
const VALUE_WIDTHS = [0, 6, 13, 20, 27, 34, 41, 53] as const;

const zigzag = (v: number) => (v >= 0 ? v * 2 : -v * 2 - 1);
const unzigzag = (z: number) => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

function classOf(z: number, widths: readonly number[]): number {
  if (z === 0) return 0;
  for (let c = 1; c < widths.length; c++) if (z < 2 ** (widths[c] as number)) return c;
  throw new RangeError(`value ${z} is too wide to encode`);
}

function classCost(c: number, widths: readonly number[]): number {
  const last = widths.length - 1;
  return (c === last ? last : c + 1) + (widths[c] as number);
}

function writeClassed(w: BitWriter, v: number, widths: readonly number[]): void {
  const z = zigzag(v);
  const c = classOf(z, widths);
  const last = widths.length - 1;
  // Unary prefix: c ones, then a zero unless it is the widest class.
  for (let i = 0; i < c; i++) w.bit(1);
  if (c < last) w.bit(0);
  if (c > 0) w.writeWide(z, widths[c] as number);
}

function readClassed(r: BitReader, widths: readonly number[]): number {
  const last = widths.length - 1;
  let c = 0;
  while (c < last && r.bit() === 1) c++;
  if (c === 0) return 0;
  return unzigzag(r.readWide(widths[c] as number));
}

/** An unsigned integer below 2^53 as its bit length (6 bits) and then its bits. */
function writeVar(w: BitWriter, v: number): void {
  const n = v === 0 ? 0 : Math.floor(Math.log2(v)) + 1;
  const bits = v >= 2 ** n ? n + 1 : n;
  w.write(bits, 6);
  w.writeWide(v, bits);
}

function readVar(r: BitReader): number {
  return r.readWide(r.read(6));
}

/** Timestamps: the first relative to `base` (the part's window), then deltas of deltas. */
export function writeTimestamps(w: BitWriter, ts: ArrayLike<number>, from: number, to: number, base = 0): void {
  if (to <= from) return;
  const first = ts[from] as number;
  if (first < 0 || first >= 2 ** 44) throw new RangeError(`timestamp ${first} out of range`);
  writeVar(w, zigzag(first - base));
  let prev = first;
  let prevDelta = 0;
  for (let i = from + 1; i < to; i++) {
    const t = ts[i] as number;
    const delta = t - prev;
    writeClassed(w, delta - prevDelta, TS_WIDTHS);
    prevDelta = delta;
    prev = t;
  }
}

export function readTimestamps(r: BitReader, n: number, out: Float64Array | number[], at = 0, base = 0): void {
  if (n === 0) return;
  let prev = base + unzigzag(readVar(r));
  out[at] = prev;
  let delta = 0;
  for (let i = 1; i < n; i++) {
    delta += readClassed(r, TS_WIDTHS);
    prev += delta;
    out[at + i] = prev;
  }
}

let scratch = new Float64Array(1024);
const CODEC_XOR = 0;
const CODEC_DECIMAL_DELTA = 1;
const CODEC_DECIMAL_DOD = 2;
const MAX_EXPONENT = 12;
const MAX_MANTISSA = 2 ** 49;
const POW10 = Array.from({ length: MAX_EXPONENT + 1 }, (_, i) => 10 ** i);

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
// Little-endian hosts keep the high word second.
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

/**
 * The smallest decimal exponent E such that every value is an integer mantissa m / 10^E
 * with |m| < 2^49 that divides back to the same double; -1 when there is none.
 */
function decimalExponent(vs: ArrayLike<number>, from: number, to: number): number {
  let e = 0;
  for (let i = from; i < to; i++) {
    const v = vs[i] as number;
    if (!Number.isFinite(v) || Object.is(v, -0)) return -1;
    while (true) {
      const p = POW10[e] as number;
      const m = Math.round(v * p);
      if (Math.abs(m) < MAX_MANTISSA && m / p === v) break;
      if (++e > MAX_EXPONENT) return -1;
    }
  }
  return e;
}

/** Values of one chunk: picks the cheaper codec for this run of values. */
export function writeValues(w: BitWriter, vs: ArrayLike<number>, from: number, to: number): void {
  const n = to - from;
  if (n <= 0) return;
  const e = decimalExponent(vs, from, to);
  if (e >= 0) {
    const p = POW10[e] as number;
    if (scratch.length < n) scratch = new Float64Array(n * 2);
    const ms = scratch;
    let deltaCost = 0;
    let dodCost = 0;
    let prev = 0;
    let prevDelta = 0;
    for (let i = 0; i < n; i++) {
      const m = Math.round((vs[from + i] as number) * p);
      ms[i] = m;
      if (i > 0) {
        const d = m - prev;
        deltaCost += classCost(classOf(zigzag(d), VALUE_WIDTHS), VALUE_WIDTHS);
        dodCost += classCost(classOf(zigzag(d - prevDelta), VALUE_WIDTHS), VALUE_WIDTHS);
        prevDelta = d;
      }
      prev = m;
    }
    const dod = dodCost < deltaCost;
    w.write(dod ? CODEC_DECIMAL_DOD : CODEC_DECIMAL_DELTA, 2);
    w.write(e, 4);
    writeVar(w, zigzag(ms[0] as number));
    prev = ms[0] as number;
    prevDelta = 0;
    for (let i = 1; i < n; i++) {
      const m = ms[i] as number;
      const d = m - prev;
      writeClassed(w, dod ? d - prevDelta : d, VALUE_WIDTHS);
      prevDelta = d;
      prev = m;
    }
    return;
  }
  w.write(CODEC_XOR, 2);
  writeXor(w, vs, from, to);
}

export function readValues(r: BitReader, n: number, out: Float64Array | number[], at = 0): void {
  if (n === 0) return;
  const codec = r.read(2);
  if (codec === CODEC_XOR) {
    readXor(r, n, out, at);
    return;
  }
  if (codec !== CODEC_DECIMAL_DELTA && codec !== CODEC_DECIMAL_DOD) throw new RangeError(`unknown value codec ${codec}`);
  const e = r.read(4);
  if (e > MAX_EXPONENT) throw new RangeError(`decimal exponent ${e} out of range`);
  const p = POW10[e] as number;
  let m = unzigzag(readVar(r));
  out[at] = m / p;
  let delta = 0;
  for (let i = 1; i < n; i++) {
    const x = readClassed(r, VALUE_WIDTHS);
    if (codec === CODEC_DECIMAL_DOD) delta += x;
    else delta = x;
    m += delta;
    out[at + i] = m / p;
  }
}

function clz64(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

function ctz32(x: number): number {
  return x === 0 ? 32 : 31 - Math.clz32(x & -x);
}

function ctz64(hi: number, lo: number): number {
  return lo !== 0 ? ctz32(lo) : 32 + ctz32(hi);
}

/** Gorilla XOR: '0' for a repeat; '10' + bits within the previous window; '11' + new window. */
function writeXor(w: BitWriter, vs: ArrayLike<number>, from: number, to: number): void {
  f64[0] = vs[from] as number;
  let prevHi = u32[HI] as number;
  let prevLo = u32[LO] as number;
  w.write64(prevHi, prevLo, 64);
  let lead = -1;
  let trail = 0;
  for (let i = from + 1; i < to; i++) {
    f64[0] = vs[i] as number;
    const hi = u32[HI] as number;
    const lo = u32[LO] as number;
    const xh = (hi ^ prevHi) >>> 0;
    const xl = (lo ^ prevLo) >>> 0;
    prevHi = hi;
    prevLo = lo;
    if (xh === 0 && xl === 0) {
      w.bit(0);
      continue;
    }
    let l = clz64(xh, xl);
    const t = ctz64(xh, xl);
    if (lead >= 0 && l >= lead && t >= trail) {
      w.write(2, 2);
      const bits = 64 - lead - trail;
      const [sh, sl] = shr64(xh, xl, trail);
      w.write64(sh, sl, bits);
      continue;
    }
    if (l > 31) l = 31;
    const bits = 64 - l - t;
    w.write(3, 2);
    w.write(l, 5);
    // 64 significant bits are written as 0: a window is never empty.
    w.write(bits & 63, 6);
    const [sh, sl] = shr64(xh, xl, t);
    w.write64(sh, sl, bits);
    lead = l;
    trail = t;
  }
}

function shr64(hi: number, lo: number, n: number): [number, number] {
  if (n === 0) return [hi, lo];
  if (n >= 32) return [0, hi >>> (n - 32)];
  return [hi >>> n, ((lo >>> n) | (hi << (32 - n))) >>> 0];
}

const word = new Uint32Array(2);

function readXor(r: BitReader, n: number, out: Float64Array | number[], at: number): void {
  r.read64(64, word);
  let hi = word[0] as number;
  let lo = word[1] as number;
  u32[HI] = hi;
  u32[LO] = lo;
  out[at] = f64[0] as number;
  let lead = 0;
  let trail = 0;
  for (let i = 1; i < n; i++) {
    if (r.bit() === 1) {
      if (r.bit() === 1) {
        lead = r.read(5);
        const bits = r.read(6) || 64;
        trail = 64 - lead - bits;
      }
      const bits = 64 - lead - trail;
      r.read64(bits, word);
      // shl64 inlined: a tuple per sample was most of the decoder's garbage.
      const wh = word[0] as number;
      const wl = word[1] as number;
      let xh: number;
      let xl: number;
      if (trail === 0) {
        xh = wh;
        xl = wl;
      } else if (trail >= 32) {
        xh = (wl << (trail - 32)) >>> 0;
        xl = 0;
      } else {
        xh = ((wh << trail) | (wl >>> (32 - trail))) >>> 0;
        xl = (wl << trail) >>> 0;
      }
      hi = (hi ^ xh) >>> 0;
      lo = (lo ^ xl) >>> 0;
    }
    u32[HI] = hi;
    u32[LO] = lo;
    out[at + i] = f64[0] as number;
  }
}

const shared = new BitWriter(64 * 1024);
const tsShared = new BitWriter(16 * 1024);

/**
 * Timestamp columns shared by the chunks of one part: every series of an agent carries the
 * same report times, so a part stores each distinct column once and chunks refer to it.
 */
export interface TimestampTable {
  /** The column's number in the table (added when new), or -1 to keep it in the chunk. */
  ref(ts: ArrayLike<number>, from: number, to: number, base: number): number;
}

/** A column of timestamps on its own (a shared-table entry). */
export function encodeTimestampBlock(ts: ArrayLike<number>, from: number, to: number, base: number): Uint8Array {
  tsShared.reset();
  writeTimestamps(tsShared, ts, from, to, base);
  return tsShared.finish();
}

/**
 * Runs of this many samples or more refer to a column of the part's timestamp table. Every length
 * does: a flush of 5,000 hosts writes 1 to 3 samples a series, and a host's series share their
 * report times, so a reference (1 to 2 bytes) replaces a first timestamp and deltas (about 7 bytes
 * for 3 samples); a flush part went from 6.55 to 5.0 bytes a sample on the realistic generator.
 */
const MIN_SHARED = 1;

/**
 * One raw chunk: a flag, then either a reference into the part's timestamp table or the
 * timestamps inline, the count, and the values. The result is valid until the next encode call.
 */
export function encodeRawChunk(
  ts: ArrayLike<number>,
  vs: ArrayLike<number>,
  from: number,
  to: number,
  base = 0,
  table?: TimestampTable,
): Uint8Array {
  const ref = table && to - from >= MIN_SHARED ? table.ref(ts, from, to, base) : -1;
  const w = shared;
  w.reset();
  if (ref >= 0) {
    w.bit(1);
    writeVar(w, ref);
    writeVar(w, to - from);
  } else {
    w.bit(0);
    writeVar(w, to - from);
    writeTimestamps(w, ts, from, to, base);
  }
  writeValues(w, vs, from, to);
  return w.finish();
}

export interface RawPoints {
  ts: Float64Array;
  vs: Float64Array;
}

/** Rows in a rollup chunk, from its header alone. */
export function chunkRows(buf: Uint8Array): number {
  return readVar(new BitReader(buf));
}

/**
 * Decodes one raw chunk. With `columns`, a shared timestamp column is decoded once per reader and
 * its array handed to every chunk referring to it (read-only: callers copy before changing): the
 * series of one host share their report times, so a query over many of them decodes each once.
 */
export function decodeRawChunk(
  buf: Uint8Array,
  base = 0,
  block?: (ref: number) => Uint8Array,
  columns?: Map<number, Float64Array>,
): RawPoints {
  const r = new BitReader(buf);
  const shared = r.bit() === 1;
  const ref = shared ? readVar(r) : -1;
  const n = readVar(r);
  let ts: Float64Array;
  const vs = new Float64Array(n);
  if (shared) {
    if (!block) throw new RangeError('chunk refers to a timestamp table that was not given');
    const known = columns?.get(ref);
    if (known && known.length === n) ts = known;
    else {
      ts = new Float64Array(n);
      readTimestamps(new BitReader(block(ref)), n, ts, 0, base);
      columns?.set(ref, ts);
    }
  } else {
    ts = new Float64Array(n);
    readTimestamps(r, n, ts, 0, base);
  }
  readValues(r, n, vs);
  return { ts, vs };
}

/**
 * Rollup rows of one series: bucket start, min, max, sum, count, last and the time of last
 * (so merging partial buckets from several parts keeps the truly latest value).
 */
export interface RollupRows {
  ts: Float64Array;
  min: Float64Array;
  max: Float64Array;
  sum: Float64Array;
  count: Float64Array;
  last: Float64Array;
  lastTs: Float64Array;
}

export function allocRollup(n: number): RollupRows {
  return {
    ts: new Float64Array(n),
    min: new Float64Array(n),
    max: new Float64Array(n),
    sum: new Float64Array(n),
    count: new Float64Array(n),
    last: new Float64Array(n),
    lastTs: new Float64Array(n),
  };
}

/** One rollup chunk; the result is valid until the next encode call. */
export function encodeRollupChunk(r: RollupRows, from: number, to: number, base = 0): Uint8Array {
  const w = shared;
  w.reset();
  writeVar(w, to - from);
  writeTimestamps(w, r.ts, from, to, base);
  writeValues(w, r.min, from, to);
  writeValues(w, r.max, from, to);
  writeValues(w, r.sum, from, to);
  writeValues(w, r.count, from, to);
  writeValues(w, r.last, from, to);
  writeTimestamps(w, r.lastTs, from, to, base);
  return w.finish();
}

export function decodeRollupChunk(buf: Uint8Array, base = 0): RollupRows {
  const rd = new BitReader(buf);
  const n = readVar(rd);
  const r = allocRollup(n);
  readTimestamps(rd, n, r.ts, 0, base);
  readValues(rd, n, r.min);
  readValues(rd, n, r.max);
  readValues(rd, n, r.sum);
  readValues(rd, n, r.count);
  readValues(rd, n, r.last);
  readTimestamps(rd, n, r.lastTs, 0, base);
  return r;
}
