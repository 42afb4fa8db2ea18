/**
 * The samples store on PostgreSQL, for scale and for users who want their samples in SQL. This
 * class is the Store the server uses; its parts:
 *
 *   schema.ts       migrations; ts_raw, a row per sample (series_id, ts, value), range-partitioned
 *                   by day; ts_1m, ts_1h rollups (min, max, sum, count, last, last_ts) by month / year
 *   series.ts       ts_series and this server's copy of it
 *   write.ts        reports by binary COPY, many per transaction (group commit), with the per-agent
 *                   sequence that makes them exactly-once
 *   maintenance.ts  rollups of closed buckets (1 m from raw, 1 h from 1 m) over a trailing lookback
 *                   so late samples count; retention and the size cap drop whole partitions
 *   newest.ts       the newest sample held, which retention counts back from (not past the clock)
 *   read.ts         queries bucket in SQL per series and combine in the accumulators both engines share (../query.ts)
 */
import type { Sample } from '@falconet/protocol';
import pg from 'pg';
import { DatabaseHealth, databaseWhere, isDatabaseUnavailable, keepClientErrors } from '../../db/health.ts';
import { DEFAULT_RETENTION, type TierName } from '../query.ts';
import type {
  AggregateQuery,
  AggregateResult,
  AppendResult,
  SelectedSeries,
  SelectQuery,
  SeriesQuery,
  SeriesResult,
  Store,
  StoreLog,
  StoreStats,
  TopKEntry,
  TopKQuery,
} from '../types.ts';
import { Maintenance } from './maintenance.ts';
import { NewestSample } from './newest.ts';
import { SeriesReader } from './read.ts';
import { migrate, Partitions, tierOfTable } from './schema.ts';
import { SeriesCatalog } from './series.ts';
import { ReportWriter } from './write.ts';

// bigint columns (ts, count, last_seq) come back as numbers: every value fits in 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export interface PostgresStoreOptions {
  url: string;
  retention?: Partial<Record<TierName, number>>;
  maxBytes?: number;
  now?: () => number;
  log?: StoreLog | undefined;
  /** How often rollups and retention run (ms). */
  maintenanceIntervalMs?: number;
}

export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #log: StoreLog | undefined;
  readonly #series: SeriesCatalog;
  readonly #partitions: Partitions;
  readonly #writer: ReportWriter;
  readonly #maintenance: Maintenance;
  readonly #reader: SeriesReader;
  readonly #newest: NewestSample;
  /** Whether PostgreSQL answers; /metrics and the log say so while it does not. */
  readonly health: DatabaseHealth;
  /** The last stats read, served (with the counters of this process) while PostgreSQL is away. */
  #lastStats: StoreStats | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(opts: PostgresStoreOptions) {
    // A connection attempt that gets no answer fails after 5 s instead of holding reports forever.
    const pool = new pg.Pool({ connectionString: opts.url, max: 6, connectionTimeoutMillis: 5000 });
    this.health = new DatabaseHealth({
      role: 'sample store',
      where: databaseWhere(opts.url),
      probe: () => pool.query('SELECT 1'),
      log: opts.log,
    });
    pool.on('error', (err) => {
      this.#log?.warn({ err: err.message }, 'idle PostgreSQL connection failed');
      this.health.observe(err);
    });
    keepClientErrors(pool, (err) => this.health.observe(err));
    const retention = { ...DEFAULT_RETENTION, ...opts.retention };
    const now = opts.now ?? Date.now;
    this.#pool = pool;
    this.#log = opts.log;
    this.#series = new SeriesCatalog(pool);
    this.#partitions = new Partitions(pool);
    const partitions = this.#partitions;
    const newest = new NewestSample(pool, now);
    this.#newest = newest;
    this.#writer = new ReportWriter({
      pool,
      series: this.#series,
      partitions,
      rawRetentionMs: retention.raw,
      now,
      newest,
      closed: () => this.#closed,
      failed: (err) => this.health.observe(err),
    });
    this.#maintenance = new Maintenance({ pool, partitions, retention, maxBytes: opts.maxBytes ?? 0, now, newest, log: opts.log });
    this.#reader = new SeriesReader({ pool, series: this.#series, retention, reference: () => newest.reference() });
  }

  /** Connects and applies the schema migrations (what `falconet-server migrate` runs). */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const s = new PostgresStore(opts);
    try {
      await migrate(s.#pool, s.#log);
      await s.#series.load();
      await s.#partitions.load();
      await s.#newest.load(s.#partitions);
    } catch (err) {
      await s.#pool.end();
      throw err;
    }
    const every = opts.maintenanceIntervalMs ?? 30_000;
    if (every > 0) {
      s.#timer = setInterval(
        () =>
          void s.maintain().catch((err: Error) => {
            s.health.observe(err);
            // While PostgreSQL is away the health line says so once; maintenance runs again when it is back.
            if (!isDatabaseUnavailable(err)) s.#log?.error({ err: err.message }, 'store maintenance failed');
          }),
        every,
      );
      s.#timer.unref();
    }
    return s;
  }

  appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    return this.#writer.appendReport(agentId, seq, samples);
  }

  lastSeq(agentId: string): Promise<number> {
    return this.#writer.lastSeq(agentId);
  }

  resetSeq(agentId: string): Promise<number> {
    return this.#writer.resetSeq(agentId);
  }

  /** Deletes the agent's rows in every tier and its series in one transaction. */
  async dropAgent(agentId: string): Promise<number> {
    // Reports and rollups in flight land first, so none writes a row after the delete.
    await this.#writer.idle();
    await this.#maintenance.idle();
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      const { rows } = await c.query<{ id: number }>('SELECT id FROM ts_series WHERE agent_id = $1', [agentId]);
      const ids = rows.map((r) => r.id);
      for (const table of ['ts_raw', 'ts_1m', 'ts_1h']) await c.query(`DELETE FROM ${table} WHERE series_id = ANY($1::int[])`, [ids]);
      await c.query('DELETE FROM ts_series WHERE agent_id = $1', [agentId]);
      await c.query('COMMIT');
      this.#series.forget(agentId);
      return ids.length;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
    return this.#reader.querySeries(q);
  }

  queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    return this.#reader.queryAggregate(q);
  }

  selectSeries(q: SelectQuery): Promise<SelectedSeries[]> {
    return this.#reader.selectSeries(q);
  }

  topK(q: TopKQuery): Promise<TopKEntry[]> {
    return this.#reader.topK(q);
  }

  metricNames(agentId?: string): Promise<string[]> {
    return this.#reader.metricNames(agentId);
  }

  /** Rolls up closed buckets and applies retention and the size cap. */
  maintain(): Promise<void> {
    return this.#maintenance.run();
  }

  async flush(): Promise<void> {
    await this.#writer.idle();
    await this.maintain();
  }

  async stats(): Promise<StoreStats> {
    try {
      this.#lastStats = await this.#readStats();
      return this.#lastStats;
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      this.health.observe(err);
      const last = this.#lastStats;
      return {
        engine: 'postgres',
        series: this.#series.size,
        bytes: last?.bytes ?? {},
        samples: last?.samples ?? {},
        parts: last?.parts ?? 0,
        outOfBounds: this.#writer.outOfBounds,
        written: this.#writer.written,
      } as StoreStats;
    }
  }

  async #readStats(): Promise<StoreStats> {
    const parts = await this.#partitions.list();
    const bytes: Record<string, number> = { raw: 0, '1m': 0, '1h': 0 };
    for (const p of parts) {
      const tier = tierOfTable(p.table);
      bytes[tier] = (bytes[tier] ?? 0) + p.bytes;
    }
    const count = async (table: string) => Number((await this.#pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    return {
      engine: 'postgres',
      series: this.#series.size,
      bytes,
      samples: { raw: await count('ts_raw'), '1m': await count('ts_1m'), '1h': await count('ts_1h') },
      parts: parts.length,
      outOfBounds: this.#writer.outOfBounds,
      written: this.#writer.written,
    } as StoreStats;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.health.close();
    await this.#writer.idle();
    await this.#maintenance.idle();
    await this.#pool.end();
  }
}
