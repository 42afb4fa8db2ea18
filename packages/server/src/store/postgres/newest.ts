/**
 * The newest sample time the PostgreSQL store holds, and from it the reference time that
 * retention, the oldest sample a report may add, and the oldest data queries read are counted
 * back from: the server's clock, or the newest sample when that is earlier (the rule of the
 * embedded engine, see retentionReference in ../embedded/maintenance.ts). A clock that jumps
 * forward then deletes, hides and refuses nothing.
 *
 * The database keeps the value in a one-row table, ts_newest, raised (never lowered) in the
 * transaction that copies the samples, so it is right across restarts and for several servers
 * sharing the database; this server keeps a copy in memory, raised by its own commits and read
 * again on every maintenance pass.
 */
import type pg from 'pg';
import type { Partitions } from './schema.ts';

/** Raises ts_newest to `ts` unless it is already later (run inside the commit transaction). */
export const RAISE_NEWEST_SQL = `INSERT INTO ts_newest (one, ts) VALUES (true, $1)
  ON CONFLICT (one) DO UPDATE SET ts = GREATEST(ts_newest.ts, excluded.ts)`;

export class NewestSample {
  readonly #pool: pg.Pool;
  readonly #wall: () => number;
  #ts: number | undefined;

  constructor(pool: pg.Pool, wall: () => number) {
    this.#pool = pool;
    this.#wall = wall;
  }

  /** The newest sample time held, or undefined when the store has never held a sample. */
  get value(): number | undefined {
    return this.#ts;
  }

  /** The wall clock, or the newest sample held when that is earlier. */
  reference(): number {
    const wall = this.#wall();
    return this.#ts === undefined ? wall : Math.min(wall, this.#ts);
  }

  /** A committed sample time: raises the copy in memory. */
  note(ts: number): void {
    if (this.#ts === undefined || ts > this.#ts) this.#ts = ts;
  }

  /** Reads the row (other servers raise it too). */
  async refresh(): Promise<void> {
    const { rows } = await this.#pool.query<{ ts: number }>('SELECT ts FROM ts_newest');
    if (rows[0]) this.note(rows[0].ts);
  }

  /**
   * At open: reads the row; a database written before the row existed has none, and then the
   * newest raw partition that holds a row is scanned once (newest first, usually one day) and
   * the row written, so later opens read one row.
   */
  async load(partitions: Partitions): Promise<void> {
    await this.refresh();
    if (this.#ts !== undefined) return;
    const raw = (await partitions.list()).filter((p) => p.table === 'ts_raw').sort((a, b) => b.start - a.start);
    for (const p of raw) {
      const { rows } = await this.#pool.query<{ ts: number | null }>(`SELECT max(ts) AS ts FROM ${p.name}`);
      const ts = rows[0]?.ts;
      if (ts === null || ts === undefined) continue;
      await this.#pool.query(RAISE_NEWEST_SQL, [ts]);
      this.note(Number(ts));
      return;
    }
  }
}
