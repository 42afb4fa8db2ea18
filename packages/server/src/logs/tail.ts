import { randomBytes } from 'node:crypto';
import { type LiveLogsGap, MAX_TAIL_CATCHUP_LINES, TAIL_CATCHUP_WINDOW_MS } from '@falconet/protocol/api';
import type { LogFilter } from './query.ts';
import type { LogStore, StoredLogLine } from './types.ts';

/** The recent lines kept for resumed tails: at most this many, this many message bytes, and the catch-up window. */
const MAX_LINES = 20_000;
const MAX_BYTES = 16 * 1024 * 1024;

/** A `position` a client sends back that this server never gave. */
export class PositionError extends Error {}

interface Position {
  epoch: string;
  seq: number;
  /** The newest line time the client had: where a search from the store resumes. */
  timeMs: number;
}

function parsePosition(text: string): Position {
  const m = /^([a-z0-9]{1,32})\.(\d{1,15})\.(\d{1,15})$/.exec(text);
  if (!m) throw new PositionError(`"${text.slice(0, 100)}" is not a position this server gives (EPOCH.SEQ.TIME)`);
  return { epoch: m[1] as string, seq: Number(m[2]), timeMs: Number(m[3]) };
}

interface Entry {
  seq: number;
  atMs: number;
  bytes: number;
  line: StoredLogLine;
}

/**
 * The lines stored lately, numbered in the order stored, so a live tail whose socket dropped
 * resumes exactly where it stood: `position` names a place in this order (and this server process,
 * by its epoch), and `catchUp` gives what matched since. A position from another process (a
 * restart, another node) or from before the kept lines falls back to a search of the store by
 * time, and says so with a gap.
 */
export class TailBuffer {
  readonly epoch = randomBytes(6).toString('hex');
  readonly #now: () => number;
  #entries: Entry[] = [];
  #start = 0;
  #seq = 0;
  #bytes = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Numbers freshly stored lines (all of them, matching any tail or none). */
  add(lines: readonly StoredLogLine[]): void {
    const now = this.#now();
    for (const line of lines) {
      const bytes = line.record.message.length + 200;
      this.#entries.push({ seq: ++this.#seq, atMs: now, bytes, line });
      this.#bytes += bytes;
    }
    this.#evict(now);
  }

  #evict(now: number): void {
    while (this.#start < this.#entries.length) {
      const e = this.#entries[this.#start] as Entry;
      const live = this.#entries.length - this.#start;
      if (live <= MAX_LINES && this.#bytes <= MAX_BYTES && now - e.atMs <= TAIL_CATCHUP_WINDOW_MS) break;
      this.#bytes -= e.bytes;
      this.#start++;
    }
    // Compacted now and then rather than shifted line by line.
    if (this.#start > 4096 && this.#start * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
  }

  /** Where the tail stands after everything stored so far, with the newest line time the client has. */
  position(timeMs: number): string {
    return `${this.epoch}.${this.#seq}.${Math.max(0, Math.round(timeMs))}`;
  }

  /**
   * The lines matching `filter` stored after `after` (oldest first), at most MAX_TAIL_CATCHUP_LINES,
   * and the gap to show when that is not all of them; with the position to give next.
   */
  async catchUp(
    after: string,
    filter: LogFilter,
    store: Pick<LogStore, 'search'>,
  ): Promise<{ lines: StoredLogLine[]; gap?: LiveLogsGap; position: string }> {
    const p = parsePosition(after);
    const now = this.#now();
    this.#evict(now);
    const oldest = (this.#entries[this.#start] as Entry | undefined)?.seq ?? this.#seq + 1;
    if (p.epoch === this.epoch && p.seq <= this.#seq && p.seq + 1 >= oldest) {
      const matched: StoredLogLine[] = [];
      for (let i = this.#start + Math.max(0, p.seq + 1 - oldest); i < this.#entries.length; i++) {
        const line = (this.#entries[i] as Entry).line;
        if (filter.matches(line)) matched.push(line);
      }
      const lines = matched.slice(-MAX_TAIL_CATCHUP_LINES);
      const position = this.position(Math.max(p.timeMs, ...lines.map((l) => l.record.timeMs)));
      if (matched.length <= MAX_TAIL_CATCHUP_LINES) return { lines, position };
      return { lines, position, gap: { type: 'logs_gap', reason: 'limit', skipped: matched.length - lines.length, sinceMs: p.timeMs } };
    }
    // Not in the kept lines: the store by time, from the newest line the client had (it drops what it has by id).
    // Lines stored while the search runs are held by the caller and follow, so the position is the head now.
    const head = this.#seq;
    const windowStart = now - TAIL_CATCHUP_WINDOW_MS;
    const page = await store.search(
      { filter, fromMs: Math.max(p.timeMs, windowStart), toMs: now + TAIL_CATCHUP_WINDOW_MS },
      MAX_TAIL_CATCHUP_LINES + 1,
    );
    const lines = page.lines.slice(0, MAX_TAIL_CATCHUP_LINES).reverse();
    const reason = page.lines.length > MAX_TAIL_CATCHUP_LINES ? 'limit' : p.epoch !== this.epoch ? 'restarted' : 'expired';
    const newest = Math.max(p.timeMs, ...lines.map((l) => l.record.timeMs));
    return { lines, gap: { type: 'logs_gap', reason, sinceMs: p.timeMs }, position: `${this.epoch}.${head}.${newest}` };
  }
}
