import type { LogBatchWriter } from '../transport/log-batch.ts';
import { type Chunk, splitLine } from './multiline.ts';
import { LEVEL_IN_TEXT, levelInText, levelOf } from './parse.ts';

/**
 * Complete lines of a file read at once, for a source that ships them as read (no parser but the
 * level word, no redaction, multiline, rate limit or static labels): written from the bytes read
 * straight into the batch, one record a line, with no string or record object per line. The
 * records are those the general path (splitLine, SourceRuntime.toRecord) makes of the same
 * lines, which a test holds equal. The bytes are valid UTF-8 (the reader checked), so the bytes
 * of a line are the bytes of its text.
 */
/**
 * The Latin-1 text newlines and level words are looked for in is made a window of about this
 * many bytes at a time: V8 makes a string past 128 KiB in its large-object space, some ten
 * times slower a byte.
 */
const WINDOW_BYTES = 48 * 1024;

export class LineRun {
  /** File offset of `bytes[0]`. */
  readonly base: number;
  readonly #bytes: Uint8Array;
  readonly #end: number;
  /** `bytes[textFrom, textEnd)` as Latin-1 text: each byte a character, at its index less `textFrom`. */
  #text = '';
  #textFrom = 0;
  #textEnd = 0;
  #at: number;
  /** The next level word in the text at or after the line being looked at (-1: none in the text), and its level. */
  #wordAt = -2;
  #wordLevel = 0;
  readonly #word = new RegExp(LEVEL_IN_TEXT.source, 'g');

  /** `bytes[from, end)` are whole lines, the last ending with a newline. */
  constructor(bytes: Uint8Array, base: number, from: number, end: number) {
    this.#bytes = bytes;
    this.base = base;
    this.#at = from;
    this.#end = end;
  }

  /** File offset just past the lines written (or cut) so far. */
  get offset(): number {
    return this.base + this.#at;
  }

  get done(): boolean {
    return this.#at >= this.#end;
  }

  /**
   * Writes lines with `head` (LogBatchWriter.head) until the batch has `maxLines` lines or
   * `maxBytes` bytes, or the run ends, or the next line is longer than `maxLineBytes`: then it
   * returns true, and the caller takes that line in pieces with `cutLine`.
   */
  write(batch: LogBatchWriter, head: Uint8Array, maxLines: number, maxBytes: number, maxLineBytes: number): boolean {
    const bytes = this.#bytes;
    while (this.#at < this.#end && batch.lines < maxLines && batch.bytes < maxBytes) {
      const at = this.#at;
      if (at >= this.#textEnd) this.#window(at);
      const nl = this.#text.indexOf('\n', at - this.#textFrom) + this.#textFrom;
      const stop = nl > at && bytes[nl - 1] === 13 ? nl - 1 : nl;
      if (stop - at > maxLineBytes) return true;
      // An empty line moves the offset and makes no record, as in the general path.
      if (stop > at) batch.addLine(head, this.#level(at, stop), bytes, at, stop, this.base + at);
      this.#at = nl + 1;
    }
    return false;
  }

  /** The next line as splitLine cuts it, into `out`. */
  cutLine(maxLineBytes: number, out: Chunk[]): void {
    const at = this.#at;
    const nl = this.#bytes.indexOf(10, at);
    splitLine(Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset + at, nl - at), this.base + at, this.base + nl + 1, maxLineBytes, out);
    this.#at = nl + 1;
  }

  /** The text of whole lines from `at`, about WINDOW_BYTES of them (at least one line). */
  #window(at: number): void {
    let end = this.#end;
    if (end - at > WINDOW_BYTES) {
      end = this.#bytes.lastIndexOf(10, at + WINDOW_BYTES - 1) + 1;
      if (end <= at) end = this.#bytes.indexOf(10, at) + 1;
    }
    const b = this.#bytes;
    this.#text = Buffer.from(b.buffer, b.byteOffset + at, end - at).toString('latin1');
    this.#textFrom = at;
    this.#textEnd = end;
    this.#wordAt = -2;
  }

  /** levelInText of the line `[at, stop)`, which is in the text. */
  #level(at: number, stop: number): number {
    // levelInText looks at the first 512 characters: for a longer line they are not the first 512 bytes.
    if (stop - at > 512) return levelInText(Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset + at, stop - at).toString('utf8'));
    const from = at - this.#textFrom;
    if (this.#wordAt !== -1 && this.#wordAt < from) {
      // The word pattern starts and ends at word boundaries and holds no newline, so over the
      // whole text it finds what it finds in each line alone; non-ASCII bytes, like non-ASCII
      // characters, are not word characters.
      this.#word.lastIndex = from;
      const m = this.#word.exec(this.#text);
      this.#wordAt = m ? m.index : -1;
      this.#wordLevel = m ? levelOf(m[1]) : 0;
    }
    return this.#wordAt >= from && this.#wordAt < stop - this.#textFrom ? this.#wordLevel : 0;
  }
}
