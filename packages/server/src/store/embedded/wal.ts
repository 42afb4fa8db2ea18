/**
 * The write-ahead log: one segment file per head. Appends queue up while a write + fdatasync
 * is in flight and then go out together (group commit): under load many agents' reports share
 * one sync, and each caller still resolves only once its own bytes are on disk.
 *
 * Frame: [u32 body length][u32 crc32 of body][body]. A torn or corrupt frame ends the segment.
 * A body is one report record (encodeReport below).
 */
import { readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';

const RECORD_REPORT = 2;

interface Pending {
  bufs: Uint8Array[];
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

export interface WalStats {
  syncs: number;
  bytes: number;
}

export class WalSegment {
  readonly file: string;
  readonly number: number;
  readonly #fh: FileHandle;
  #pending: Pending = { bufs: [], waiters: [] };
  #writing: Promise<void> | undefined;
  #failed: Error | undefined;
  #closed = false;
  readonly stats: WalStats;
  bytes = 0;

  private constructor(file: string, number: number, fh: FileHandle, stats: WalStats) {
    this.file = file;
    this.number = number;
    this.#fh = fh;
    this.stats = stats;
  }

  static async create(file: string, number: number, stats: WalStats): Promise<WalSegment> {
    const fh = await open(file, 'a', PRIVATE_FILE_MODE);
    return new WalSegment(file, number, fh, stats);
  }

  /** Queues one frame made of `parts`; resolves once it is durable. */
  append(parts: Uint8Array[]): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(new Error(`write-ahead log segment ${this.number} is sealed`));
    let crc = 0;
    let len = 0;
    for (const p of parts) {
      crc = crc32(p, crc);
      len += p.byteLength;
    }
    const head = Buffer.allocUnsafe(8);
    head.writeUInt32LE(len, 0);
    head.writeUInt32LE(crc, 4);
    this.#pending.bufs.push(head, ...parts);
    this.bytes += len + 8;
    const done = new Promise<void>((resolve, reject) => this.#pending.waiters.push({ resolve, reject }));
    if (!this.#writing) this.#writing = this.#drain();
    return done;
  }

  async #drain(): Promise<void> {
    while (this.#pending.bufs.length) {
      const batch = this.#pending;
      this.#pending = { bufs: [], waiters: [] };
      try {
        let off = 0;
        const total = batch.bufs.reduce((n, b) => n + b.byteLength, 0);
        // writev may write less than asked; continue from where it stopped.
        let bufs = batch.bufs;
        while (off < total) {
          const { bytesWritten } = await this.#fh.writev(bufs);
          off += bytesWritten;
          if (off < total) bufs = skipBytes(bufs, bytesWritten);
        }
        await this.#fh.datasync();
        this.stats.syncs++;
        this.stats.bytes += total;
        for (const w of batch.waiters) w.resolve();
      } catch (err) {
        this.#failed = new Error(`write-ahead log ${this.file}: ${(err as Error).message}`, { cause: err });
        for (const w of [...batch.waiters, ...this.#pending.waiters]) w.reject(this.#failed);
        this.#pending = { bufs: [], waiters: [] };
      }
    }
    this.#writing = undefined;
  }

  /** Waits for every queued frame to be durable, then closes the file. */
  async seal(): Promise<void> {
    this.#closed = true;
    while (this.#writing) await this.#writing;
    await this.#fh.close();
    if (this.#failed) throw this.#failed;
  }
}

function skipBytes(bufs: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = n;
  for (const b of bufs) {
    if (skip >= b.byteLength) {
      skip -= b.byteLength;
      continue;
    }
    out.push(skip ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

/** The intact frames of a segment, and where the intact part ends. */
export function readSegment(file: string): { bodies: Buffer[]; validBytes: number; size: number } {
  const buf = readFileSync(file);
  const bodies: Buffer[] = [];
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32LE(pos);
    const crc = buf.readUInt32LE(pos + 4);
    if (pos + 8 + len > buf.length) break;
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (crc32(body) !== crc) break;
    bodies.push(body);
    pos += 8 + len;
  }
  return { bodies, validBytes: pos, size: buf.length };
}

/** A series first seen in a report: its id and its key inside the agent. */
export interface SeriesDefinition {
  id: number;
  key: string;
}

/** Samples as three columns: series id, time, value. */
export interface SampleColumns {
  sid: Uint32Array;
  ts: Float64Array;
  vs: Float64Array;
}

export interface ReportRecord extends SampleColumns {
  agentId: string;
  seq: number;
  defs: SeriesDefinition[];
}

// Report record: u8 type, u8 0, u16 agent length, agent, f64 seq, u32 definitions, each
// (u32 id, u32 key length, key), u32 n, then u32 series ids[n], f64 times[n], f64 values[n].
/** The frame parts of one report whose samples are `cols` [start, end); sequence 0 records a reset. */
export function encodeReport(
  agentId: string,
  seq: number,
  defs: SeriesDefinition[],
  cols: SampleColumns,
  start: number,
  end: number,
): Uint8Array[] {
  const agent = Buffer.from(agentId, 'utf8');
  const keyBufs = defs.map((d) => Buffer.from(d.key, 'utf8'));
  const defBytes = keyBufs.reduce((n, k) => n + 8 + k.length, 0);
  const hdr = Buffer.allocUnsafe(4 + agent.length + 8 + 4 + defBytes + 4);
  let o = 0;
  hdr.writeUInt8(RECORD_REPORT, o);
  hdr.writeUInt8(0, o + 1);
  hdr.writeUInt16LE(agent.length, o + 2);
  o += 4;
  agent.copy(hdr, o);
  o += agent.length;
  hdr.writeDoubleLE(seq, o);
  o += 8;
  hdr.writeUInt32LE(defs.length, o);
  o += 4;
  defs.forEach((d, i) => {
    const k = keyBufs[i] as Buffer;
    hdr.writeUInt32LE(d.id, o);
    hdr.writeUInt32LE(k.length, o + 4);
    k.copy(hdr, o + 8);
    o += 8 + k.length;
  });
  hdr.writeUInt32LE(end - start, o);
  const n = end - start;
  // Views into the head's shared arrays: the appended range is never written again.
  return [
    hdr,
    new Uint8Array(cols.sid.buffer, start * 4, n * 4),
    new Uint8Array(cols.ts.buffer, start * 8, n * 8),
    new Uint8Array(cols.vs.buffer, start * 8, n * 8),
  ];
}

export function decodeReport(body: Buffer): ReportRecord {
  if (body.readUInt8(0) !== RECORD_REPORT) throw new Error(`unknown write-ahead log record type ${body.readUInt8(0)}`);
  const alen = body.readUInt16LE(2);
  let o = 4;
  const agentId = body.toString('utf8', o, o + alen);
  o += alen;
  const seq = body.readDoubleLE(o);
  o += 8;
  const ndefs = body.readUInt32LE(o);
  o += 4;
  const defs: SeriesDefinition[] = [];
  for (let i = 0; i < ndefs; i++) {
    const id = body.readUInt32LE(o);
    const klen = body.readUInt32LE(o + 4);
    defs.push({ id, key: body.toString('utf8', o + 8, o + 8 + klen) });
    o += 8 + klen;
  }
  const n = body.readUInt32LE(o);
  o += 4;
  const copy = (bytes: number) => {
    const ab = new ArrayBuffer(bytes);
    new Uint8Array(ab).set(body.subarray(o, o + bytes));
    o += bytes;
    return ab;
  };
  const sid = new Uint32Array(copy(n * 4));
  const ts = new Float64Array(copy(n * 8));
  const vs = new Float64Array(copy(n * 8));
  return { agentId, seq, defs, sid, ts, vs };
}
