import type { Readable } from 'node:stream';
import { type Chunk, Multiline, splitLine } from './multiline.ts';
import type { SourceRuntime } from './source.ts';

/** One line (or multiline event) read from a pipe, with the stream it came from. */
export interface PipeEntry {
  chunk: Chunk;
  stream: string;
  fields: Record<string, string>;
}

/** Entries waiting for the shipper, at most, per source; past it the pipes are paused (the writer blocks). */
const MAX_QUEUED = 5_000;

/**
 * Lines of one pipe: a command's stdout or stderr, or the agent's own stdin. Bytes are cut at
 * newlines (and at logs.max_line_bytes, as a file's are), then joined by the source's multiline
 * rule. A pipe has no offsets to resume from, so chunks carry 0: what was read and not yet
 * spooled when the agent is killed is gone, while a clean stop flushes it (flush with force).
 */
export class PipeLines {
  readonly stream: string;
  readonly fields: Record<string, string>;
  readonly #max: number;
  readonly #multiline: Multiline | undefined;
  readonly #multilineTimeout: number;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #lastAt = 0;

  constructor(source: SourceRuntime, stream: string, fields: Record<string, string>) {
    this.stream = stream;
    this.fields = fields;
    this.#max = source.maxLineBytes;
    this.#multiline = source.cfg.multiline ? new Multiline(source.cfg.multiline, source.maxLineBytes) : undefined;
    this.#multilineTimeout = source.cfg.multiline?.timeout ?? 0;
  }

  /** Takes bytes; returns the lines (events) they complete. */
  push(data: Buffer, now: number): Chunk[] {
    this.#lastAt = now;
    const lines: Chunk[] = [];
    let from = 0;
    for (;;) {
      const nl = data.indexOf(10, from);
      if (nl < 0) break;
      const piece = data.subarray(from, nl);
      const whole = this.#partialBytes ? Buffer.concat([...this.#partial, piece]) : piece;
      this.#partial = [];
      this.#partialBytes = 0;
      splitLine(whole, 0, 0, this.#max, lines);
      from = nl + 1;
    }
    if (from < data.length) {
      this.#partial.push(Buffer.from(data.subarray(from)));
      this.#partialBytes += data.length - from;
      // A line longer than the limit is not held whole: its full pieces go now, marked truncated.
      if (this.#partialBytes >= this.#max) {
        const whole = Buffer.concat(this.#partial);
        const keep = whole.length % this.#max;
        const cut = whole.length - keep;
        for (let i = 0; i < cut; i += this.#max)
          lines.push({ text: whole.subarray(i, i + this.#max).toString('utf8'), offset: 0, end: 0, truncated: true });
        this.#partial = keep ? [whole.subarray(cut)] : [];
        this.#partialBytes = keep;
      }
    }
    return this.#join(lines, now);
  }

  /**
   * What waited too long: a last line without a newline after `partialMs` without new bytes, the
   * multiline event past its timeout; with `force` (the pipe ended, the agent stops) both, now.
   */
  flush(now: number, partialMs: number, force: boolean): Chunk[] {
    const out: Chunk[] = [];
    if (this.#partialBytes && (force || now - this.#lastAt >= partialMs)) {
      const whole = Buffer.concat(this.#partial);
      this.#partial = [];
      this.#partialBytes = 0;
      const lines: Chunk[] = [];
      splitLine(whole, 0, 0, this.#max, lines);
      out.push(...this.#join(lines, now));
    }
    const ml = this.#multiline?.flush(now, this.#multilineTimeout, force);
    if (ml) out.push(ml);
    return out;
  }

  #join(lines: Chunk[], now: number): Chunk[] {
    if (!this.#multiline) return lines;
    const out: Chunk[] = [];
    for (const l of lines) out.push(...this.#multiline.push(l, now));
    return out;
  }
}

/**
 * The queue between a source's pipes and the shipper: entries in the order read, pipes paused
 * while it is full so a fast writer waits instead of filling the agent's memory.
 */
export class PipeQueue {
  readonly source: SourceRuntime;
  readonly #onData: () => void;
  readonly #pipes = new Map<Readable, PipeLines>();
  #queue: PipeEntry[] = [];
  #paused = false;

  constructor(source: SourceRuntime, onData: () => void) {
    this.source = source;
    this.#onData = onData;
  }

  /** Reads `input` into the queue; resolves when it ends (its last line flushed) or fails. */
  attach(input: Readable, lines: PipeLines, now: () => number): Promise<void> {
    this.#pipes.set(input, lines);
    if (this.#paused) input.pause();
    return new Promise((resolve) => {
      const done = () => {
        if (!this.#pipes.has(input)) return;
        this.#pipes.delete(input);
        this.#add(lines, lines.flush(now(), 0, true));
        this.#onData();
        resolve();
      };
      input.on('data', (data: Buffer) => {
        this.#add(lines, lines.push(data, now()));
        if (this.#queue.length >= MAX_QUEUED && !this.#paused) {
          this.#paused = true;
          for (const p of this.#pipes.keys()) p.pause();
        }
        this.#onData();
      });
      input.once('end', done);
      input.once('close', done);
      input.once('error', done);
    });
  }

  #add(lines: PipeLines, chunks: readonly Chunk[]): void {
    for (const chunk of chunks) this.#queue.push({ chunk, stream: lines.stream, fields: lines.fields });
  }

  /** Lines held back past their wait (no newline yet, an open multiline event), into the queue. */
  flushWaiting(now: number, partialMs: number): void {
    for (const lines of this.#pipes.values()) this.#add(lines, lines.flush(now, partialMs, false));
  }

  /** Lets go of every pipe still open: their held-back lines join the queue (a clean stop loses nothing read). */
  detachAll(now: number): void {
    for (const [input, lines] of [...this.#pipes]) {
      this.#pipes.delete(input);
      input.removeAllListeners('data');
      input.pause();
      this.#add(lines, lines.flush(now, 0, true));
    }
  }

  /** Entries read and not yet taken, up to `max`; reading resumes once the queue is short again. */
  take(max: number): PipeEntry[] {
    const out = this.#queue.splice(0, max);
    if (this.#paused && this.#queue.length < MAX_QUEUED / 2) {
      this.#paused = false;
      for (const p of this.#pipes.keys()) p.resume();
    }
    return out;
  }
}
