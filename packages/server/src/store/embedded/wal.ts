/**
 * The write-ahead log: one segment file per head. Appends queue up while a write + fdatasync
 * is in flight and then go out together (group commit): under load many agents' reports share
 * one sync, and each caller still resolves only once its own bytes are on disk.
 *
 * Frame: [u32 body length][u32 crc32 of body][body]. A torn or corrupt frame ends the segment.
 */
import { readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';

export const RECORD_REPORT = 2;

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
        this.#failed = new Error(`write-ahead log ${this.file}: ${(err as Error).message}`);
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
