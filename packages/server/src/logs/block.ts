/**
 * The bytes of one block of the embedded log store (docs/adr/0003-log-store.md).
 *
 * Version 1 (blocks written before the version field existed): the records as a protobuf LogBatch,
 * zstd level 3. Protobuf interleaves each line's time, source, stream and labels with its message,
 * which breaks up the runs zstd finds between messages.
 *
 * Version 2: columns. The repeated values (sources, streams, label sets, field names) are kept once
 * in dictionaries and each line refers to them by number; times are deltas; then every message one
 * after another. The same zstd then compresses the messages as the text they are. Read back,
 * a version 2 block gives the same LogRecords a version 1 block of the same lines gives.
 */
import { promisify } from 'node:util';
import { constants, zstdCompress, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { pb } from '@falconet/protocol';
import type { WordHashes } from './terms.ts';

export const BLOCK_V1 = 1;
export const BLOCK_V2 = 2;
/** Reports are compressed on the event loop as they arrive: a fast level. */
export const INGEST_LEVEL = 3;
/**
 * Compaction runs in the background on libuv's threads: a level that buys about a fifth more. 11 took
 * 0.0026 of raw off 9 and 10 on the bench's lines at no compaction CPU measurable here (decoding
 * and re-indexing the lines cost more than zstd does).
 */
export const COMPACT_LEVEL = 11;

const zstdCompressAsync = promisify(zstdCompress);
const params = (level: number) => ({ params: { [constants.ZSTD_c_compressionLevel]: level } });

/** Bytes of a growing column: unsigned LEB128 varints and raw bytes. */
class ColumnWriter {
  #buf = Buffer.allocUnsafe(1024);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  uint(v: number): void {
    this.#room(10);
    // Above 2^31 bitwise operators would truncate: divide instead.
    let x = v;
    while (x >= 0x80) {
      this.#buf[this.#len++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.#buf[this.#len++] = x;
  }

  /** Signed, zigzag-mapped so small negatives stay short. */
  int(v: number): void {
    this.uint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  bytes(b: Buffer): void {
    this.#room(b.length);
    b.copy(this.#buf, this.#len);
    this.#len += b.length;
  }

  text(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.uint(b.length);
    this.bytes(b);
  }

  /** The UTF-8 of `s` without a length before it; returns its length in bytes. */
  utf8(s: string): number {
    this.#room(s.length * 3);
    const n = this.#buf.write(s, this.#len, 'utf8');
    this.#len += n;
    return n;
  }

  done(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  /** The bytes written so far, from `from` on: valid until the next write. */
  view(from: number): { buf: Buffer; start: number; end: number } {
    return { buf: this.#buf, start: from, end: this.#len };
  }

  get length(): number {
    return this.#len;
  }
}

class ColumnReader {
  #pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }

  uint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.#pos >= this.buf.length) throw new Error('log block: column ends early');
      const b = this.buf[this.#pos++] as number;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  }

  int(): number {
    const u = this.uint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  bytes(n: number): Buffer {
    if (this.#pos + n > this.buf.length) throw new Error('log block: column ends early');
    const b = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  text(): string {
    return this.bytes(this.uint()).toString('utf8');
  }
}

/** Numbers for the distinct values of one column, in order of first use. */
class Dictionary {
  readonly values: string[] = [];
  readonly #ids = new Map<string, number>();
  id(v: string): number {
    let i = this.#ids.get(v);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(v);
      this.#ids.set(v, i);
    }
    return i;
  }
}

/**
 * A label set's dictionary key: its pairs in name order (the same set in another order is the same
 * set). Names are label names (no NUL); a value's length goes before it, so any value is unambiguous.
 */
function labelKey(labels: Record<string, string>): string {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  if (names.length > 1) names.sort();
  let key = '';
  for (const n of names) {
    const v = labels[n] as string;
    key += `${n}\u0000${v.length}\u0000${v}`;
  }
  return key;
}

/** What each line refers to or holds, one column per attribute: a column of like values compresses best. */
const COLUMNS = ['time', 'observed', 'level', 'source', 'stream', 'labels', 'offset', 'fields', 'length'] as const;

/** Whether two label sets hold the same pairs (lines of one report mostly carry equal sets). */
function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  let n = 0;
  for (const k in a) {
    if (b[k] !== a[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

/** The uncompressed version 2 layout of `recs`; the messages' words go into `terms` on the way. */
function columns(recs: readonly pb.LogRecord[], terms?: WordHashes): Buffer {
  const sources = new Dictionary();
  const streams = new Dictionary();
  const labelSets = new Dictionary();
  const labelPairs: [string, string][][] = [];
  const fieldNames = new Dictionary();
  const col = Object.fromEntries(COLUMNS.map((c) => [c, new ColumnWriter()])) as Record<(typeof COLUMNS)[number], ColumnWriter>;
  const fieldValues = new ColumnWriter();
  const messages = new ColumnWriter();
  let prevT = 0;
  let prevLabels: Record<string, string> | undefined;
  let prevSet = 0;
  for (const r of recs) {
    col.time.int(r.timeMs - prevT);
    prevT = r.timeMs;
    col.observed.int(r.observedMs - r.timeMs);
    col.level.uint(r.level);
    col.source.uint(sources.id(r.source));
    col.stream.uint(streams.id(r.stream));
    if (prevLabels === undefined || !sameLabels(r.labels, prevLabels)) {
      prevSet = labelSets.id(labelKey(r.labels));
      if (prevSet === labelPairs.length) labelPairs.push(Object.entries(r.labels));
      prevLabels = r.labels;
    }
    col.labels.uint(prevSet);
    col.offset.uint(r.offset);
    let nFields = 0;
    for (const _ in r.fields) nFields++;
    col.fields.uint(nFields);
    if (nFields > 0) {
      for (const k in r.fields) {
        col.fields.uint(fieldNames.id(k));
        fieldValues.text(r.fields[k] as string);
      }
    }
    const at = messages.length;
    col.length.uint(messages.utf8(r.message));
    if (terms) {
      const m = messages.view(at);
      terms.addUtf8(m.buf, m.start, m.end, r.message);
    }
  }
  const head = new ColumnWriter();
  head.uint(BLOCK_V2);
  head.uint(recs.length);
  head.text(JSON.stringify([sources.values, streams.values, labelPairs, fieldNames.values]));
  for (const c of [...COLUMNS.map((c) => col[c]), fieldValues]) {
    const b = c.done();
    head.uint(b.length);
    head.bytes(b);
  }
  // Messages last and together: the part worth compressing, as one text.
  return Buffer.concat([head.done(), messages.done()]);
}

function fromColumns(buf: Buffer): pb.LogRecord[] {
  const head = new ColumnReader(buf);
  const v = head.uint();
  if (v !== BLOCK_V2) throw new Error(`log block: version ${v} inside a version 2 block`);
  const n = head.uint();
  const [sources, streams, labels, fieldNames] = JSON.parse(head.text()) as [string[], string[], [string, string][][], string[]];
  const col = Object.fromEntries(COLUMNS.map((c) => [c, new ColumnReader(head.bytes(head.uint()))])) as Record<
    (typeof COLUMNS)[number],
    ColumnReader
  >;
  const values = new ColumnReader(head.bytes(head.uint()));
  const out: pb.LogRecord[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    t += col.time.int();
    const fields: Record<string, string> = {};
    for (let f = col.fields.uint(); f > 0; f--) fields[fieldNames[col.fields.uint()] ?? ''] = values.text();
    out.push({
      timeMs: t,
      observedMs: t + col.observed.int(),
      source: sources[col.source.uint()] ?? '',
      stream: streams[col.stream.uint()] ?? '',
      level: col.level.uint() as pb.LogRecord['level'],
      message: head.bytes(col.length.uint()).toString('utf8'),
      labels: Object.fromEntries(labels[col.labels.uint()] ?? []),
      fields,
      offset: col.offset.uint(),
    });
  }
  return out;
}

/** A version 2 block at the ingest level, compressed on the calling thread; its messages' words go into `terms`. */
export function encodeBlock(recs: readonly pb.LogRecord[], terms?: WordHashes): Buffer {
  return zstdCompressSync(columns(recs, terms), params(INGEST_LEVEL));
}

/** A version 2 block compressed on libuv's threads (compaction): the event loop goes on serving. */
export async function encodeBlockInBackground(recs: readonly pb.LogRecord[], level = COMPACT_LEVEL, terms?: WordHashes): Promise<Buffer> {
  const raw = columns(recs, terms);
  // One output chunk for the whole block: zlib's default (16 KiB) makes a thread pool round trip per chunk.
  return await zstdCompressAsync(raw, { ...params(level), chunkSize: Math.max(64 * 1024, raw.length) });
}

/** A version 1 block, as stores before version 2 wrote them (kept for tests of reading old data). */
export function encodeBlockV1(recs: readonly pb.LogRecord[]): Buffer {
  return zstdCompressSync(pb.LogBatch.encode({ records: recs as pb.LogRecord[], dropped: {} }).finish());
}

/** The records of a block of version `v` (undefined: written before versions, so 1). */
export function decodeBlock(body: Buffer, v: number | undefined): pb.LogRecord[] {
  const raw = zstdDecompressSync(body);
  if (v === undefined || v === BLOCK_V1) return pb.LogBatch.decode(raw).records;
  if (v === BLOCK_V2) return fromColumns(raw);
  throw new Error(`log block version ${v} is newer than this server reads (upgrade the server)`);
}
