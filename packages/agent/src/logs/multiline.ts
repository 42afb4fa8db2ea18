import type { MultilineConfig } from './config.ts';

/** A line, or an event of several joined lines, with the byte range it came from in its file. */
export interface Chunk {
  text: string;
  /** Byte offset of its first byte. */
  offset: number;
  /** Byte offset just past it (its newline included): where reading resumes once it is shipped. */
  end: number;
  /** Cut at logs.max_line_bytes. */
  truncated?: boolean;
}

/**
 * One line (its newline taken off) as chunks of at most `max` bytes, the pieces of a longer one
 * marked truncated, the CR of a CRLF dropped. `offset` and `end` are its byte range in its file.
 */
export function splitLine(whole: Buffer, offset: number, end: number, max: number, out: Chunk[]): void {
  let body = whole;
  if (body.length && body[body.length - 1] === 13) body = body.subarray(0, body.length - 1);
  if (body.length <= max) {
    out.push({ text: body.toString('utf8'), offset, end });
    return;
  }
  for (let i = 0; i < body.length; i += max) {
    const last = i + max >= body.length;
    out.push({
      text: body.subarray(i, i + max).toString('utf8'),
      offset: offset + i,
      end: last ? end : offset + i + max,
      truncated: true,
    });
  }
}

/**
 * Joins the lines of one multi-line event (a stack trace, an indented continuation) into one
 * record, by a start pattern (a matching line begins an event) or a continuation pattern (a
 * matching line belongs to the event before it). An event is let go when the next begins, after
 * `timeout` without another line, or at `max_lines`. One joiner per file: events never mix files.
 */
export class Multiline {
  readonly #start: RegExp | undefined;
  readonly #continuation: RegExp | undefined;
  readonly #maxLines: number;
  readonly #maxBytes: number;
  #lines: Chunk[] = [];
  #bytes = 0;
  #lastAt = 0;

  constructor(cfg: MultilineConfig, maxBytes: number) {
    this.#start = cfg.start ? new RegExp(cfg.start) : undefined;
    this.#continuation = cfg.continuation ? new RegExp(cfg.continuation) : undefined;
    this.#maxLines = cfg.max_lines;
    this.#maxBytes = maxBytes;
  }

  /** Where the event still being gathered begins (undefined when none): read positions may not pass it. */
  get pendingOffset(): number | undefined {
    return this.#lines[0]?.offset;
  }

  /** Takes one line; returns the events it completes (zero or one). */
  push(line: Chunk, nowMs: number): Chunk[] {
    const out: Chunk[] = [];
    const joins = this.#start ? !this.#start.test(line.text) : (this.#continuation as RegExp).test(line.text);
    if (this.#lines.length && (!joins || this.#lines.length >= this.#maxLines)) out.push(this.#take());
    this.#lines.push(line);
    this.#bytes += line.text.length + 1;
    this.#lastAt = nowMs;
    return out;
  }

  /** The pending event when it has waited `timeoutMs` (or `force`), else nothing. */
  flush(nowMs: number, timeoutMs: number, force = false): Chunk | undefined {
    if (!this.#lines.length) return undefined;
    if (!force && nowMs - this.#lastAt < timeoutMs) return undefined;
    return this.#take();
  }

  #take(): Chunk {
    const lines = this.#lines;
    this.#lines = [];
    this.#bytes = 0;
    const first = lines[0] as Chunk;
    const last = lines[lines.length - 1] as Chunk;
    let text = lines.map((l) => l.text).join('\n');
    let truncated = lines.some((l) => l.truncated);
    if (text.length > this.#maxBytes) {
      text = text.slice(0, this.#maxBytes);
      truncated = true;
    }
    return { text, offset: first.offset, end: last.end, ...(truncated ? { truncated } : {}) };
  }
}
