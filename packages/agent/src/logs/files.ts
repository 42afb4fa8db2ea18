import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { type FileHandle, glob, open, readdir, stat } from 'node:fs/promises';
import { dirname, join, matchesGlob } from 'node:path';
import { type Chunk, Multiline, splitLine } from './multiline.ts';
import { LineRun } from './plain.ts';
import type { FilePosition } from './positions.ts';
import type { SourceRuntime } from './source.ts';

/** How many bytes identify a file besides its device and inode. */
export const FINGERPRINT_BYTES = 1024;
/** What one read takes at most: the shipper's read buffer. */
export const READ_BYTES = 256 * 1024;
/** Compressed rotations are never read: their bytes are the same lines again, compressed. */
const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|zip|Z)$/;

type Utf8Slicing = Buffer & { utf8Slice?(start: number, end: number): string };
/** `buf.toString('utf8', start, end)` without its argument checks: a line's cost here, where nothing is optimized away. */
const utf8Text: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as Utf8Slicing).utf8Slice === 'function'
    ? (buf, start, end) => (buf as Utf8Slicing & { utf8Slice(start: number, end: number): string }).utf8Slice(start, end)
    : (buf, start, end) => buf.toString('utf8', start, end);

export function fingerprint(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readPrefix(fh: FileHandle, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * One file being read. It is known by device and inode (a rename keeps it, so reading goes on
 * through rename rotation) and by a fingerprint of its first bytes (a truncated-and-rewritten file
 * or a reused inode has other first bytes). `offset` is the first byte not yet emitted as part of
 * a record or dropped: the read position to save.
 */
export class TailedFile {
  readonly source: SourceRuntime;
  readonly stream: string;
  path: string;
  readonly dev: number;
  readonly ino: number;
  fp = '';
  fpLen = 0;
  /** Next byte to read from the file. */
  #readPos: number;
  /** Everything before this is emitted or dropped. */
  offset: number;
  #fh: FileHandle;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #lastGrowthAt: number;
  /** When the file stopped being at any matched path (rotated away, deleted); 0 while it is. */
  goneSince = 0;
  readonly #multiline: Multiline | undefined;

  private constructor(
    source: SourceRuntime,
    fh: FileHandle,
    path: string,
    stream: string,
    dev: number,
    ino: number,
    offset: number,
    now: number,
  ) {
    this.source = source;
    this.#fh = fh;
    this.path = path;
    this.stream = stream;
    this.dev = dev;
    this.ino = ino;
    this.#readPos = offset;
    this.offset = offset;
    this.#lastGrowthAt = now;
    this.#multiline = source.cfg.multiline ? new Multiline(source.cfg.multiline, source.maxLineBytes) : undefined;
  }

  get key(): string {
    return `${this.dev}:${this.ino}`;
  }

  /**
   * Opens `path`; `saved` is the position remembered for this device and inode, used when the
   * file's first bytes still match it and it is not shorter than the position (truncated while the
   * agent was stopped: read from 0).
   */
  static async open(
    source: SourceRuntime,
    path: string,
    opts: { saved?: FilePosition; atEnd: boolean; now: number },
  ): Promise<{ file: TailedFile; resumed: 'saved' | 'truncated' | 'replaced' | 'new' }> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      let offset = opts.atEnd ? st.size : 0;
      let resumed: 'saved' | 'truncated' | 'replaced' | 'new' = 'new';
      const saved = opts.saved;
      if (saved) {
        const prefix = await readPrefix(fh, saved.fpLen);
        if (prefix.length < saved.fpLen || fingerprint(prefix) !== saved.fp) {
          offset = 0;
          resumed = prefix.length < saved.fpLen && saved.fp === fingerprint(prefix) ? 'truncated' : 'replaced';
        } else if (st.size < saved.offset) {
          offset = 0;
          resumed = 'truncated';
        } else {
          offset = saved.offset;
          resumed = 'saved';
        }
      }
      const file = new TailedFile(source, fh, path, saved && resumed === 'saved' ? saved.stream : path, st.dev, st.ino, offset, opts.now);
      await file.#refreshFingerprint(st.size);
      return { file, resumed };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  position(): FilePosition {
    return {
      source: this.source.cfg.name,
      stream: this.stream,
      path: this.path,
      dev: this.dev,
      ino: this.ino,
      fp: this.fp,
      fpLen: this.fpLen,
      offset: this.offset,
    };
  }

  /** Extends the fingerprint while the file is shorter than FINGERPRINT_BYTES. */
  async #refreshFingerprint(size: number): Promise<void> {
    if (this.fpLen >= FINGERPRINT_BYTES || size <= this.fpLen) return;
    const prefix = await readPrefix(this.#fh, Math.min(size, FINGERPRINT_BYTES));
    this.fp = fingerprint(prefix);
    this.fpLen = prefix.length;
  }

  /**
   * Whether the file was truncated or rewritten under us (copytruncate, `> file`, a reused
   * inode): shorter than what was read, or its first bytes changed. Then reading starts over at 0.
   */
  async checkReplaced(now: number): Promise<{ why: 'truncated' | 'replaced'; leftovers: Chunk[]; lostFrom: number } | undefined> {
    const st = await this.#fh.stat();
    if (this.fpLen > 0) {
      const prefix = await readPrefix(this.#fh, this.fpLen);
      if (prefix.length < this.fpLen || fingerprint(prefix) !== this.fp) {
        return this.#restart(st.size < this.#readPos ? 'truncated' : 'replaced', now);
      }
    }
    if (st.size < this.#readPos) return this.#restart('truncated', now);
    await this.#refreshFingerprint(st.size);
    return undefined;
  }

  /**
   * Starts over at byte 0. What was read of the old content and held back (a last line without
   * newline, an unfinished multiline event) is let go first as `leftovers`; the caller emits them,
   * then sets `offset` to 0.
   */
  #restart(why: 'truncated' | 'replaced', now: number): { why: 'truncated' | 'replaced'; leftovers: Chunk[]; lostFrom: number } {
    const leftovers = this.flushWaiting(now, 0, true);
    const lostFrom = this.#readPos;
    this.#readPos = 0;
    this.offset = 0;
    this.#partial = [];
    this.#partialBytes = 0;
    this.fp = '';
    this.fpLen = 0;
    return { why, leftovers, lostFrom };
  }

  /**
   * Reads what is there (up to `buf`'s length) into `buf` and returns its complete lines, and the
   * events the multiline joiner completes; for a source that ships lines as read, the lines after
   * the first come as a `run` of bytes in `buf` instead, to be written before the next read: in
   * order `chunks`, `run`, `tail`. An empty result with `eof` means nothing new.
   */
  async read(now: number, buf: Buffer): Promise<{ chunks: Chunk[]; run?: LineRun; tail?: Chunk[]; bytes: number; eof: boolean }> {
    const { bytesRead } = await this.#fh.read(buf, 0, buf.length, this.#readPos);
    if (bytesRead === 0) return { chunks: [], bytes: 0, eof: true };
    this.#lastGrowthAt = now;
    const base = this.#readPos;
    const start = this.#readPos - this.#partialBytes;
    this.#readPos += bytesRead;
    if (this.fpLen < FINGERPRINT_BYTES) await this.#refreshFingerprint(this.#readPos);
    const data = buf.subarray(0, bytesRead);
    // Newlines are looked for in a plain view: Buffer's own indexOf costs twice as much a call here.
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
    const lines: Chunk[] = [];
    let lineStart = start;
    let from = 0;
    let run: LineRun | undefined;
    /** Pieces of a too long last line: after the run. */
    const tail: Chunk[] = [];
    const max = this.source.maxLineBytes;
    for (;;) {
      const nl = bytes.indexOf(10, from);
      if (nl < 0) break;
      const end = base + nl + 1;
      if (this.#partialBytes) {
        const whole = Buffer.concat([...this.#partial, data.subarray(from, nl)]);
        this.#partial = [];
        this.#partialBytes = 0;
        splitLine(whole, lineStart, end, max, lines);
      } else if (this.source.shipsAsRead && !this.#multiline) {
        const last = bytes.lastIndexOf(10) + 1;
        if (isUtf8(data.subarray(from, last))) {
          run = new LineRun(new Uint8Array(buf.buffer, buf.byteOffset, last), base, from, last);
          lineStart = base + last;
          from = last;
          break;
        }
        splitLine(data.subarray(from, nl), lineStart, end, max, lines);
      } else {
        // The common line, whole in this read and within the limit, decoded straight from the buffer as splitLine would.
        const stop = nl > from && bytes[nl - 1] === 13 ? nl - 1 : nl;
        if (stop - from <= max) lines.push({ text: utf8Text(data, from, stop), offset: lineStart, end });
        else splitLine(data.subarray(from, nl), lineStart, end, max, lines);
      }
      lineStart = end;
      from = nl + 1;
    }
    if (from < bytesRead) {
      this.#partial.push(Buffer.from(data.subarray(from)));
      this.#partialBytes += bytesRead - from;
      // A line longer than the limit is not held whole: its full pieces go now, marked truncated.
      if (this.#partialBytes >= max) {
        const whole = Buffer.concat(this.#partial);
        const keep = whole.length % max;
        const cut = whole.length - keep;
        for (let i = 0; i < cut; i += max) {
          tail.push({
            text: whole.subarray(i, i + max).toString('utf8'),
            offset: lineStart + i,
            end: lineStart + i + max,
            truncated: true,
          });
        }
        this.#partial = keep ? [whole.subarray(cut)] : [];
        this.#partialBytes = keep;
      }
    }
    if (!run) return { chunks: this.#join([...lines, ...tail], now), bytes: bytesRead, eof: false };
    return { chunks: lines, run, tail, bytes: bytesRead, eof: false };
  }

  #join(lines: Chunk[], now: number): Chunk[] {
    if (!this.#multiline) return lines;
    const out: Chunk[] = [];
    for (const l of lines) out.push(...this.#multiline.push(l, now));
    return out;
  }

  /**
   * What waited too long: the multiline event past its timeout, and a last line without a newline
   * after `partialMs` without new bytes (`force`: both, now; the file is being closed). A writer
   * that finishes such a line later makes its rest a line of its own.
   */
  flushWaiting(now: number, partialMs: number, force: boolean): Chunk[] {
    const out: Chunk[] = [];
    const idle = now - this.#lastGrowthAt >= partialMs;
    if (this.#partialBytes && (force || idle)) {
      const whole = Buffer.concat(this.#partial);
      this.#partial = [];
      this.#partialBytes = 0;
      const lines: Chunk[] = [];
      splitLine(whole, this.#readPos - whole.length, this.#readPos, this.source.maxLineBytes, lines);
      out.push(...this.#join(lines, now));
    }
    const ml = this.#multiline?.flush(now, this.source.cfg.multiline?.timeout ?? 0, force);
    if (ml) out.push(ml);
    return out;
  }

  /** True once a rotated-away or deleted file has given nothing new for `waitMs` after it went. */
  finished(now: number, waitMs: number): boolean {
    return this.goneSince > 0 && now - Math.max(this.goneSince, this.#lastGrowthAt) >= waitMs && this.#partialBytes === 0;
  }

  /** Nothing is held back: every byte read is emitted. */
  get idle(): boolean {
    return this.#partialBytes === 0 && this.#multiline?.pendingOffset === undefined;
  }

  async close(): Promise<void> {
    await this.#fh.close().catch(() => undefined);
  }
}

/** Paths matching a source's include globs and none of its exclude globs; compressed files never. */
export async function matchFiles(include: readonly string[], exclude: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  for (const pattern of include) {
    for await (const path of glob(pattern)) {
      if (COMPRESSED.test(path)) continue;
      if (exclude.some((x) => matchesGlob(path, x))) continue;
      out.add(path);
    }
  }
  return [...out].sort();
}

/**
 * A file remembered from before a restart that is at none of the matched paths (rotated away
 * while the agent was stopped): looked for by device and inode in the directory it was in, so
 * its unread end is still read.
 */
export async function findMoved(saved: FilePosition): Promise<string | undefined> {
  const dir = dirname(saved.path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (COMPRESSED.test(path)) continue;
    const st = await stat(path).catch(() => undefined);
    if (st?.isFile() && st.dev === saved.dev && st.ino === saved.ino) return path;
  }
  return undefined;
}
