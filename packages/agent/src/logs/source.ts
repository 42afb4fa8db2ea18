import { LogLevel, type pb } from '@falconet/protocol';
import type { LogSourceConfig } from './config.ts';
import { RateLimiter, Redactor } from './limits.ts';
import type { Chunk } from './multiline.ts';
import { type LineParser, makeParser } from './parse.ts';

/** The server refuses a message over 64 KiB; longer ones are cut here and marked. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export interface SourceCounters {
  readLines: number;
  shippedLines: number;
  /** Dropped lines by reason (rate_limit). */
  dropped: Record<string, number>;
  /** Dropped since the last batch, for LogBatch.dropped. */
  droppedUnreported: number;
  files: number;
}

/**
 * One configured source with what it needs per line: the redaction rules, the parser, the label
 * allowlist and the rate limiter. `toRecord` is the whole way from a line to the record shipped.
 */
export class SourceRuntime {
  readonly cfg: LogSourceConfig;
  readonly maxLineBytes: number;
  /**
   * Its lines go out as read: no parser (but the level word), redaction, rate limit or static
   * labels. A file's lines are then written straight from the bytes read (LineRun).
   */
  readonly shipsAsRead: boolean;
  readonly counters: SourceCounters = { readLines: 0, shippedLines: 0, dropped: {}, droppedUnreported: 0, files: 0 };
  readonly #parser: LineParser;
  readonly #redactor: Redactor;
  readonly #limiter: RateLimiter;
  readonly #labels: Set<string>;
  readonly #staticLabels: boolean;

  constructor(cfg: LogSourceConfig, maxLineBytes: number, now: number) {
    this.cfg = cfg;
    this.maxLineBytes = maxLineBytes;
    this.#parser = makeParser(cfg.parser);
    this.#redactor = new Redactor(cfg.redact);
    this.#limiter = new RateLimiter(cfg.rate_limit.lines_per_second, cfg.rate_limit.burst, now);
    this.#labels = new Set(cfg.labels);
    this.#staticLabels = Object.keys(cfg.static_labels).length > 0;
    this.shipsAsRead = cfg.parser.type === 'none' && this.#redactor.empty && cfg.rate_limit.lines_per_second <= 0 && !this.#staticLabels;
  }

  drop(reason: string): void {
    this.counters.dropped[reason] = (this.counters.dropped[reason] ?? 0) + 1;
    this.counters.droppedUnreported++;
  }

  /** The record for one line or event, or undefined when the rate limit drops it (counted). */
  /**
   * `known` is what the source itself says of the line (the journal's time, priority and fields):
   * the parser's findings are laid over it, the source's time and level kept when the parser has none.
   */
  toRecord(
    chunk: Chunk,
    stream: string,
    now: number,
    known?: { timeMs?: number | undefined; level?: LogLevel | undefined; fields: Record<string, string> },
  ): pb.LogRecord | undefined {
    this.counters.readLines++;
    if (!this.#limiter.take(now)) {
      this.drop('rate_limit');
      return undefined;
    }
    // Redaction first: nothing a rule removes reaches the parser's fields or the wire.
    const line = this.#redactor.empty ? chunk.text : this.#redactor.apply(chunk.text);
    const parsed = this.#parser(line, now);
    const parserLevel = this.cfg.parser.type === 'none' ? LogLevel.LOG_LEVEL_UNSPECIFIED : parsed.level;
    const level = known?.level !== undefined ? parserLevel || known.level : parsed.level;
    const timeMs = this.cfg.parser.type === 'none' ? (known?.timeMs ?? parsed.timeMs) : (parsed.timeMs ?? known?.timeMs);
    let labels: Record<string, string>;
    let fields: Record<string, string>;
    if (!known && this.#labels.size === 0 && !this.#staticLabels && !Object.hasOwn(parsed.fields, '__proto__')) {
      // Nothing to sort into labels: the parser's fields are the record's (a new object for every line).
      labels = {};
      fields = parsed.fields;
    } else {
      labels = { ...this.cfg.static_labels };
      fields = {};
      const all = known ? { ...known.fields, ...parsed.fields } : parsed.fields;
      for (const [k, v] of Object.entries(all)) {
        if (this.#labels.has(k)) labels[k] = v;
        else fields[k] = v;
      }
    }
    let message = parsed.message;
    if (chunk.truncated) fields.truncated = 'true';
    if (message.length > MAX_MESSAGE_BYTES / 4 && Buffer.byteLength(message) > MAX_MESSAGE_BYTES) {
      message = Buffer.from(message)
        .subarray(0, MAX_MESSAGE_BYTES)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
      fields.truncated = 'true';
    }
    return {
      timeMs: timeMs ?? now,
      observedMs: now,
      source: this.cfg.name,
      stream,
      level,
      message,
      labels,
      fields,
      offset: chunk.offset,
    };
  }
}
