/**
 * Maintenance on PostgreSQL: rollups of closed buckets (1 m from raw, 1 h from 1 m), recomputed
 * over a trailing lookback so late samples count, then retention and the size cap, which drop
 * whole partitions. Both count from the reference time (newest.ts): the server's clock, or the
 * newest sample held when that is earlier, so a clock that jumps forward neither drops data nor
 * rolls up (and marks done) a future with no data in it.
 */
import type pg from 'pg';
import type { TierName } from '../query.ts';
import type { StoreLog } from '../types.ts';
import type { NewestSample } from './newest.ts';
import { PARTITION_MS, type Partition, type Partitions, rollupDone, TABLE_OF, tierOfTable } from './schema.ts';

const HOUR = 3_600_000;
/** Rollups are recomputed this far back on every pass, so samples arriving late still count. */
const ROLLUP_LOOKBACK_MS = 15 * 60_000;

export interface MaintenanceOptions {
  pool: pg.Pool;
  partitions: Partitions;
  retention: Record<TierName, number>;
  /** Total bytes of the sample partitions beyond which the oldest go; 0 = no cap. */
  maxBytes: number;
  now: () => number;
  /** The newest sample held; its reference() is the time maintenance counts from. */
  newest: NewestSample;
  log: StoreLog | undefined;
}

export class Maintenance {
  readonly #o: MaintenanceOptions;
  #running: Promise<void> | undefined;

  constructor(opts: MaintenanceOptions) {
    this.#o = opts;
  }

  /** Rolls up closed buckets and applies retention and the size cap; one pass at a time. */
  run(): Promise<void> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Resolves once a pass in flight has ended, failed or not. */
  async idle(): Promise<void> {
    await this.#running?.catch(() => undefined);
  }

  async #pass(): Promise<void> {
    const { newest } = this.#o;
    // Other servers sharing the database raise the newest sample too.
    await newest.refresh();
    const ref = newest.reference();
    await this.#rollup('1m', ref, Math.floor((ref - 60_000) / 60_000) * 60_000);
    await this.#rollup('1h', ref, Math.floor((ref - 60_000) / HOUR) * HOUR);
    await this.#retain(ref);
  }

  async #rollup(tier: '1m' | '1h', ref: number, until: number): Promise<void> {
    const { pool, partitions, newest } = this.#o;
    const res = tier === '1m' ? 60_000 : HOUR;
    const floor = Math.floor((ref - this.#o.retention[tier === '1m' ? 'raw' : '1m']) / res) * res;
    let done = await rollupDone(pool, tier);
    // Rollups stop short of the newest sample held, so a mark beyond it was left by a clock that
    // ran ahead (a server before this rule): samples that came after it were never rolled up. It
    // would stall rollups until the clock reached it, and reads would trust empty buckets; so
    // every retained bucket is computed again, once, and the mark moves back (below).
    let beyond = done > (newest.value ?? this.#o.now());
    if (beyond) {
      // Read again first: another server may have taken newer samples and rolled them up since this pass began.
      await newest.refresh();
      beyond = done > (newest.value ?? this.#o.now());
    }
    if (beyond) {
      this.#o.log?.warn(
        { tier, doneUntil: new Date(done).toISOString(), newest: newest.value === undefined ? null : new Date(newest.value).toISOString() },
        'rollups were marked done past the newest sample (a clock that ran ahead): computing the retained range again',
      );
      done = floor;
    }
    const from = Math.max(floor, done - ROLLUP_LOOKBACK_MS - (tier === '1h' ? HOUR : 0));
    const start = Math.floor(from / res) * res;
    if (until <= start) return;
    const table = TABLE_OF[tier];
    const width = PARTITION_MS[table] as number;
    for (let t = Math.floor(start / width) * width; t < until; t += width) await partitions.ensure(table, t);
    const source =
      tier === '1m'
        ? `SELECT series_id, (ts / 60000) * 60000 AS b, min(value) AS min, max(value) AS max, sum(value) AS sum, count(*) AS count,
             (array_agg(value ORDER BY ts DESC))[1] AS last, max(ts) AS last_ts
           FROM ts_raw WHERE ts >= $1 AND ts < $2 AND value <> 'NaN'::float8 GROUP BY 1, 2`
        : `SELECT series_id, (ts / 3600000) * 3600000 AS b, min(min), max(max), sum(sum), sum(count)::bigint,
             (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)
           FROM ts_1m WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2`;
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(
        `INSERT INTO ${table} (series_id, ts, min, max, sum, count, last, last_ts) ${source}
         ON CONFLICT (series_id, ts) DO UPDATE SET min = excluded.min, max = excluded.max, sum = excluded.sum,
           count = excluded.count, last = excluded.last, last_ts = excluded.last_ts`,
        [start, until],
      );
      // GREATEST, so a server whose clock is behind does not move another's mark back; a mark
      // found beyond the newest sample is replaced.
      await c.query(
        `INSERT INTO ts_rollup_state (tier, done_until) VALUES ($1, $2)
         ON CONFLICT (tier) DO UPDATE SET done_until = CASE WHEN $3 THEN excluded.done_until
           ELSE GREATEST(ts_rollup_state.done_until, excluded.done_until) END`,
        [tier, until, beyond],
      );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /** Drops the partitions that ended a retention before `ref` (the reference time), then applies the size cap. */
  async #retain(ref: number): Promise<void> {
    const { partitions, maxBytes } = this.#o;
    const parts = await partitions.list();
    const drop: Partition[] = [];
    for (const p of parts) {
      if (p.start + (PARTITION_MS[p.table] as number) <= ref - this.#o.retention[tierOfTable(p.table)]) drop.push(p);
    }
    if (maxBytes > 0) {
      let total = parts.reduce((n, p) => n + p.bytes, 0) - drop.reduce((n, p) => n + p.bytes, 0);
      for (const table of ['ts_raw', 'ts_1m', 'ts_1h']) {
        const mine = parts.filter((p) => p.table === table && !drop.includes(p)).sort((a, b) => a.start - b.start);
        // Never the newest partition of a table.
        for (const p of mine.slice(0, -1)) {
          if (total <= maxBytes) break;
          drop.push(p);
          total -= p.bytes;
          this.#o.log?.warn({ partition: p.name, maxBytes }, 'size cap reached: dropped the oldest partition');
        }
      }
    }
    for (const p of drop) await partitions.drop(p);
  }
}
