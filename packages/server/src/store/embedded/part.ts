/**
 * Part files: immutable, one tier and one time window each. Chunks (one per series) sorted by
 * (metric name ordinal, series id), then an index of sort keys and offsets, then a footer.
 *
 *   "FNP1" u8 tier u8 version u16 0 | chunks ... | timestamp columns ... | index | footer
 *   index: per chunk, LEB128 varints of (key - previous key) and (chunk length); then the
 *   number of timestamp columns and each one's length
 *   footer: f64 index offset, u32 n, u32 crc32(index), "FNPE", u32 index bytes
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { encodeTimestampBlock, type TimestampTable } from '../codec/chunk.ts';
import type { TierName } from '../query.ts';

export const TIER_CODES: Record<TierName, number> = { raw: 0, '1m': 1, '1h': 2 };
const HEADER = 8;
const FOOTER = 24;

export interface PartMeta {
  id: string;
  tier: TierName;
  /** Start of the time window the part belongs to. */
  window: number;
  level: number;
  minTs: number;
  maxTs: number;
  /** Samples (raw) or rollup rows. */
  rows: number;
  series: number;
  bytes: number;
  /** The newest head segment whose data is in the part: on equal timestamps the newer wins. */
  maxSeg: number;
  /** Raw parts: its samples are already in the 1 m and 1 h tiers. Rollup parts: always true. */
  rolledUp: boolean;
}

export interface PartIndex {
  keys: Float64Array;
  /** n + 1 offsets: chunk i is [offsets[i], offsets[i + 1]). */
  offsets: Float64Array;
  /** m + 1 offsets of the shared timestamp columns, which follow the chunks. */
  tsOffsets: Float64Array;
}

/** Writes a part with buffered synchronous writes (it runs in a worker thread). */
export class PartWriter {
  readonly #tmp: string;
  readonly #final: string;
  readonly #fd: number;
  #buf: Buffer;
  #used = 0;
  #pos = HEADER;
  readonly #keys: number[] = [];
  readonly #offsets: number[] = [];
  rows = 0;
  minTs = Number.POSITIVE_INFINITY;
  maxTs = Number.NEGATIVE_INFINITY;
  readonly #tsIds = new Map<string, number>();
  readonly #tsBlocks: Buffer[] = [];
  /** The part's shared timestamp columns (raw chunks refer to them). */
  readonly timestamps: TimestampTable = {
    ref: (ts, from, to, base) => {
      const bytes = encodeTimestampBlock(ts, from, to, base);
      const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
      let id = this.#tsIds.get(key);
      if (id === undefined) {
        id = this.#tsBlocks.length;
        this.#tsBlocks.push(Buffer.from(bytes));
        this.#tsIds.set(key, id);
      }
      return id;
    },
  };

  constructor(file: string, tier: TierName, bufferBytes = 256 * 1024) {
    this.#final = file;
    this.#tmp = `${file}.tmp`;
    this.#fd = openSync(this.#tmp, 'w', PRIVATE_FILE_MODE);
    this.#buf = Buffer.allocUnsafe(bufferBytes);
    const head = Buffer.alloc(HEADER);
    head.write('FNP1', 0, 'latin1');
    head.writeUInt8(TIER_CODES[tier], 4);
    head.writeUInt8(1, 5);
    writeSync(this.#fd, head, 0, HEADER, 0);
  }

  get count(): number {
    return this.#keys.length;
  }

  add(key: number, chunk: Uint8Array, rows: number, minTs: number, maxTs: number): void {
    const last = this.#keys.at(-1);
    if (last !== undefined && key <= last) throw new Error(`part chunks out of order: ${key} after ${last}`);
    this.#keys.push(key);
    this.#offsets.push(this.#pos);
    this.#write(chunk);
    this.rows += rows;
    if (minTs < this.minTs) this.minTs = minTs;
    if (maxTs > this.maxTs) this.maxTs = maxTs;
  }

  #write(bytes: Uint8Array): void {
    if (this.#used + bytes.byteLength > this.#buf.length) this.#flushBuffer();
    if (bytes.byteLength > this.#buf.length) {
      writeAll(this.#fd, bytes, this.#pos);
    } else {
      this.#buf.set(bytes, this.#used);
      this.#used += bytes.byteLength;
    }
    this.#pos += bytes.byteLength;
  }

  #flushBuffer(): void {
    if (this.#used === 0) return;
    writeAll(this.#fd, this.#buf.subarray(0, this.#used), this.#pos - this.#used);
    this.#used = 0;
  }

  /** Writes index and footer, syncs, and renames the file into place; returns its size. */
  finish(): number {
    const n = this.#keys.length;
    const chunksEnd = this.#pos;
    for (const b of this.#tsBlocks) this.#write(b);
    const indexOffset = this.#pos;
    // Keys ascend and chunks are contiguous: deltas and lengths as varints, ~3 bytes a chunk.
    const index = Buffer.allocUnsafe(n * 18 + this.#tsBlocks.length * 9 + 16);
    let at = 0;
    let prev = 0;
    for (let i = 0; i < n; i++) {
      const key = this.#keys[i] as number;
      at = putVarint(index, at, key - prev);
      prev = key;
      const end = i + 1 < n ? (this.#offsets[i + 1] as number) : chunksEnd;
      at = putVarint(index, at, end - (this.#offsets[i] as number));
    }
    at = putVarint(index, at, this.#tsBlocks.length);
    for (const b of this.#tsBlocks) at = putVarint(index, at, b.length);
    const indexBytes = index.subarray(0, at);
    this.#write(indexBytes);
    const footer = Buffer.alloc(FOOTER);
    footer.writeDoubleLE(indexOffset, 0);
    footer.writeUInt32LE(n, 8);
    footer.writeUInt32LE(crc32(indexBytes), 12);
    footer.write('FNPE', 16, 'latin1');
    footer.writeUInt32LE(at, 20);
    this.#write(footer);
    this.#flushBuffer();
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    renameSync(this.#tmp, this.#final);
    return this.#pos;
  }

  abort(): void {
    try {
      closeSync(this.#fd);
    } catch {}
    rmSync(this.#tmp, { force: true });
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off, position + off);
}

function parseIndex(file: string, footer: Buffer, readIndex: (offset: number, length: number) => Buffer, size: number): PartIndex {
  if (footer.toString('latin1', 16, 20) !== 'FNPE') throw new Error(`part ${file}: missing footer (the file is truncated or not a part)`);
  const indexOffset = footer.readDoubleLE(0);
  const n = footer.readUInt32LE(8);
  const len = footer.readUInt32LE(20);
  if (indexOffset + len + FOOTER !== size) throw new Error(`part ${file}: index does not fit the file size`);
  const index = readIndex(indexOffset, len);
  if (crc32(index) !== footer.readUInt32LE(12)) throw new Error(`part ${file}: index checksum mismatch`);
  const keys = new Float64Array(n);
  const offsets = new Float64Array(n + 1);
  let at = 0;
  let key = 0;
  let off = HEADER;
  for (let i = 0; i < n; i++) {
    // Inline LEB128 reads: a million entries parse in milliseconds.
    let v = 0;
    let mul = 1;
    let b: number;
    do {
      b = index[at++] as number;
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    key += v;
    keys[i] = key;
    offsets[i] = off;
    v = 0;
    mul = 1;
    do {
      b = index[at++] as number;
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    off += v;
  }
  offsets[n] = off;
  const readVar = () => {
    let v = 0;
    let mul = 1;
    let b: number;
    do {
      b = index[at++] as number;
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80 && at <= len);
    return v;
  };
  const m = at < len ? readVar() : 0;
  const tsOffsets = new Float64Array(m + 1);
  tsOffsets[0] = off;
  for (let j = 0; j < m; j++) {
    off += readVar();
    tsOffsets[j + 1] = off;
  }
  if (at !== len || off !== indexOffset) throw new Error(`part ${file}: index does not match the chunks`);
  return { keys, offsets, tsOffsets };
}

function putVarint(buf: Buffer, at: number, v: number): number {
  let x = v;
  while (x >= 128) {
    buf[at++] = (x % 128) | 0x80;
    x = Math.floor(x / 128);
  }
  buf[at++] = x;
  return at;
}

export function readPartIndexSync(file: string, fd: number, size: number): PartIndex {
  const read = (offset: number, length: number) => {
    const b = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const r = readSync(fd, b, got, length - got, offset + got);
      if (r === 0) throw new Error(`part ${file}: unexpected end of file`);
      got += r;
    }
    return b;
  };
  return parseIndex(file, read(size - FOOTER, FOOTER), read, size);
}

export async function readPartIndex(file: string, fh: FileHandle, size: number): Promise<PartIndex> {
  const footer = Buffer.allocUnsafe(FOOTER);
  await fh.read(footer, 0, FOOTER, size - FOOTER);
  let index = Buffer.alloc(0);
  if (footer.toString('latin1', 16, 20) === 'FNPE') {
    index = Buffer.allocUnsafe(footer.readUInt32LE(20));
    await fh.read(index, 0, index.length, footer.readDoubleLE(0));
  }
  return parseIndex(file, footer, () => index, size);
}

/** First index i with keys[i] >= key. */
export function lowerBound(keys: Float64Array, key: number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as number) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Reads ascending byte ranges of one file through a large window (merges run in key order). */
export class SequentialReader {
  readonly #fd: number;
  #buf: Buffer = Buffer.alloc(0);
  #start = 0;
  #end = 0;
  readonly #window: number;

  constructor(file: string, window = 4 * 1024 * 1024) {
    this.#fd = openSync(file, 'r');
    this.#window = window;
  }

  get fd(): number {
    return this.#fd;
  }

  read(offset: number, length: number): Buffer {
    if (offset < this.#start || offset + length > this.#end) {
      const size = Math.max(length, this.#window);
      if (this.#buf.length < size) this.#buf = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < length) {
        const r = readSync(this.#fd, this.#buf, got, size - got, offset + got);
        if (r === 0) break;
        got += r;
      }
      if (got < length) throw new Error(`part read past its end at ${offset}+${length}`);
      this.#start = offset;
      this.#end = offset + got;
    }
    return this.#buf.subarray(offset - this.#start, offset - this.#start + length);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

/** The shared timestamp columns of a part, read whole (they are small: one per agent and run). */
export function readTimestampsSync(fd: number, index: PartIndex): Buffer {
  const start = index.tsOffsets[0] as number;
  const len = (index.tsOffsets[index.tsOffsets.length - 1] as number) - start;
  const b = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const r = readSync(fd, b, got, len - got, start + got);
    if (r === 0) throw new Error('part ends inside its timestamp columns');
    got += r;
  }
  return b;
}

/** Column `ref` out of a part's timestamp section. */
export function timestampBlock(index: PartIndex, section: Buffer, ref: number): Uint8Array {
  const start = index.tsOffsets[0] as number;
  if (ref < 0 || ref + 1 >= index.tsOffsets.length) throw new RangeError(`timestamp column ${ref} is not in the part`);
  return section.subarray((index.tsOffsets[ref] as number) - start, (index.tsOffsets[ref + 1] as number) - start);
}
