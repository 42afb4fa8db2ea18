/**
 * One destination's durable queue: what is stored but not yet accepted by the receiver, in segment
 * files under data_dir/remote-write/<name>/, read from a cursor that moves only after the receiver
 * said yes (or refused for good). Records are encoded WriteRequests, so a run of them is sent as it
 * lies on disk. Past the byte cap the oldest segment goes, unsent, and its samples are counted.
 *
 * Record: u32 body length, u32 sample count, u64-as-double highest timestamp (ms), body. Little-endian.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

const HEADER = 16;

interface Segment {
  seq: number;
  bytes: number;
  /** Samples in records at or past the cursor (the whole segment unless it is the cursor's). */
  unread: number;
}

export interface QueueBatch {
  /** Concatenated records: itself a WriteRequest. */
  body: Uint8Array;
  samples: number;
  highestMs: number;
  /** Where the cursor goes once the batch is done with. */
  end: { seq: number; offset: number };
}

export class DurableQueue {
  readonly dir: string;
  readonly #capBytes: number;
  readonly #segmentBytes: number;
  #segments: Segment[] = [];
  #cursor = { seq: 0, offset: 0 };
  #writeFd: number | undefined;
  /** Samples dropped because the cap was reached, since this process opened the queue. */
  droppedByCap = 0;

  constructor(dir: string, capBytes: number) {
    this.dir = dir;
    this.#capBytes = capBytes;
    // Eight segments under the cap, so dropping one loses an eighth of the backlog at most.
    this.#segmentBytes = Math.max(64 * 1024, Math.min(64 * 1024 * 1024, Math.floor(capBytes / 8)));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.#open();
  }

  #path(seq: number): string {
    return join(this.dir, `${String(seq).padStart(10, '0')}.seg`);
  }

  #open(): void {
    const cursorFile = join(this.dir, 'cursor.json');
    if (existsSync(cursorFile)) {
      try {
        const c = JSON.parse(readFileSync(cursorFile, 'utf8')) as { seq: unknown; offset: unknown };
        if (Number.isSafeInteger(c.seq) && Number.isSafeInteger(c.offset))
          this.#cursor = { seq: c.seq as number, offset: c.offset as number };
      } catch {
        // A torn cursor (crash while renaming cannot tear it; a hand edit can): re-send from the oldest segment.
      }
    }
    const seqs = readdirSync(this.dir)
      .filter((f) => /^\d{10}\.seg$/.test(f))
      .map((f) => Number(f.slice(0, 10)))
      .sort((a, b) => a - b)
      .filter((s) => s >= this.#cursor.seq);
    for (const f of readdirSync(this.dir))
      if (/^\d{10}\.seg$/.test(f) && Number(f.slice(0, 10)) < this.#cursor.seq) rmSync(join(this.dir, f));
    if (seqs.length && seqs[0] !== this.#cursor.seq) this.#cursor = { seq: seqs[0] as number, offset: 0 };
    for (const seq of seqs) {
      const from = seq === this.#cursor.seq ? this.#cursor.offset : 0;
      const { bytes, samples } = this.#scan(seq, from, true);
      this.#segments.push({ seq, bytes, unread: samples });
    }
    if (this.#segments.length === 0) this.#segments.push({ seq: this.#cursor.seq, bytes: 0, unread: 0 });
  }

  /** Counts the samples of the whole records from `from`, cutting a torn last record (a crash mid-write). */
  #scan(seq: number, from: number, repair: boolean): { bytes: number; samples: number } {
    const fd = openSync(this.#path(seq), 'r+');
    try {
      const size = fstatSync(fd).size;
      const head = Buffer.alloc(HEADER);
      let pos = 0;
      let samples = 0;
      while (pos + HEADER <= size) {
        readSync(fd, head, 0, HEADER, pos);
        const len = head.readUInt32LE(0);
        if (pos + HEADER + len > size) break;
        if (pos >= from) samples += head.readUInt32LE(4);
        pos += HEADER + len;
      }
      if (pos < size && repair) ftruncateSync(fd, pos);
      return { bytes: pos, samples };
    } finally {
      closeSync(fd);
    }
  }

  get pendingSamples(): number {
    let n = 0;
    for (const s of this.#segments) n += s.unread;
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const s of this.#segments) n += s.bytes;
    return n;
  }

  /** Appends one encoded WriteRequest holding `samples` samples, the newest at `highestMs`. */
  append(body: Uint8Array, samples: number, highestMs: number): void {
    let last = this.#segments[this.#segments.length - 1] as Segment;
    if (last.bytes > 0 && last.bytes + HEADER + body.length > this.#segmentBytes) {
      this.#closeWriter();
      last = { seq: last.seq + 1, bytes: 0, unread: 0 };
      this.#segments.push(last);
    }
    this.#writeFd ??= openSync(this.#path(last.seq), 'a', 0o600);
    const head = Buffer.alloc(HEADER);
    head.writeUInt32LE(body.length, 0);
    head.writeUInt32LE(samples, 4);
    head.writeDoubleLE(highestMs, 8);
    writeSync(this.#writeFd, head);
    writeSync(this.#writeFd, body);
    last.bytes += HEADER + body.length;
    last.unread += samples;
    this.#enforceCap();
  }

  #enforceCap(): void {
    while (this.bytes > this.#capBytes && this.#segments.length > 1) {
      const first = this.#segments.shift() as Segment;
      this.droppedByCap += first.unread;
      rmSync(this.#path(first.seq), { force: true });
      const next = this.#segments[0] as Segment;
      this.#setCursor({ seq: next.seq, offset: 0 });
    }
  }

  /** Reads whole records from the cursor until `maxSamples` would be passed (at least one record). */
  read(maxSamples: number): QueueBatch | undefined {
    const parts: Uint8Array[] = [];
    let samples = 0;
    let highestMs = 0;
    let { seq, offset } = this.#cursor;
    const head = Buffer.alloc(HEADER);
    for (const seg of this.#segments) {
      if (seg.seq < seq) continue;
      if (seg.seq > seq) {
        seq = seg.seq;
        offset = 0;
      }
      if (offset >= seg.bytes) continue;
      const fd = openSync(this.#path(seg.seq), 'r');
      try {
        while (offset + HEADER <= seg.bytes) {
          readSync(fd, head, 0, HEADER, offset);
          const len = head.readUInt32LE(0);
          const n = head.readUInt32LE(4);
          if (parts.length && samples + n > maxSamples) return this.#batch(parts, samples, highestMs, seq, offset);
          const body = Buffer.alloc(len);
          readSync(fd, body, 0, len, offset + HEADER);
          parts.push(body);
          samples += n;
          highestMs = Math.max(highestMs, head.readDoubleLE(8));
          offset += HEADER + len;
        }
      } finally {
        closeSync(fd);
      }
    }
    return parts.length ? this.#batch(parts, samples, highestMs, seq, offset) : undefined;
  }

  #batch(parts: Uint8Array[], samples: number, highestMs: number, seq: number, offset: number): QueueBatch {
    return { body: Buffer.concat(parts), samples, highestMs, end: { seq, offset } };
  }

  /** Moves the cursor past a batch once the receiver took it (or refused it for good). */
  commit(end: QueueBatch['end']): void {
    // The cap may have dropped the batch's segments while it was in flight: then there is nothing to move.
    if (end.seq < this.#cursor.seq || (end.seq === this.#cursor.seq && end.offset <= this.#cursor.offset)) return;
    while (this.#segments.length > 1 && (this.#segments[0] as Segment).seq < end.seq) {
      const done = this.#segments.shift() as Segment;
      rmSync(this.#path(done.seq), { force: true });
    }
    this.#setCursor(end);
    const first = this.#segments[0] as Segment;
    first.unread = first.seq === end.seq ? this.#scan(first.seq, end.offset, false).samples : first.unread;
  }

  #setCursor(c: { seq: number; offset: number }): void {
    this.#cursor = c;
    const tmp = join(this.dir, 'cursor.json.tmp');
    writeFileSync(tmp, JSON.stringify(c), { mode: 0o600 });
    renameSync(tmp, join(this.dir, 'cursor.json'));
  }

  #closeWriter(): void {
    if (this.#writeFd !== undefined) closeSync(this.#writeFd);
    this.#writeFd = undefined;
  }

  close(): void {
    this.#closeWriter();
  }
}
