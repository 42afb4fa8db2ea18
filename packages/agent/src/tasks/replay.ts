import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import { writeFileAtomic } from '../identity.ts';

/** How long the newest issue time of a task id is remembered (cron jobs can live long). */
const REMEMBER_MS = 30 * 86_400_000;

interface Mark {
  issuedMs: number;
  seenMs: number;
}

/**
 * The newest signed issue time seen per task id, on disk: a task run now runs once, and an old
 * signed message (a job deleted, paused or changed since) cannot be played back to undo a newer one.
 */
export class IssuedMarks {
  readonly #file: string;
  readonly #marks = new Map<string, Mark>();
  readonly #now: () => number;

  constructor(file: string, now: () => number = Date.now) {
    this.#file = file;
    this.#now = now;
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Mark>;
      for (const [id, m] of Object.entries(saved)) this.#marks.set(id, m);
    } catch {
      // first start, or an unreadable file: only replay protection for past messages is lost
    }
  }

  latest(key: string): number | undefined {
    return this.#marks.get(key)?.issuedMs;
  }

  record(key: string, issuedMs: number): void {
    const now = this.#now();
    const cur = this.#marks.get(key);
    this.#marks.set(key, { issuedMs: Math.max(issuedMs, cur?.issuedMs ?? 0), seenMs: now });
    for (const [id, m] of this.#marks) if (now - m.seenMs > REMEMBER_MS) this.#marks.delete(id);
    mkdirSync(dirname(this.#file), { recursive: true, mode: PRIVATE_DIR_MODE });
    writeFileAtomic(this.#file, JSON.stringify(Object.fromEntries(this.#marks)));
  }
}
