/**
 * The samples store on PostgreSQL, for scale and for users who want their samples in SQL.
 *
 * - ts_raw: a row per sample (series_id, ts, value), range-partitioned by day; retention drops
 *   whole partitions. Reports go in by binary COPY, many reports per transaction (group commit),
 *   together with the per-agent sequence that makes them exactly-once.
 * - ts_1m, ts_1h: rollups (min, max, sum, count, last, last_ts) by month / by year, filled in the
 *   background from closed buckets (1 m from raw, 1 h from 1 m), recomputed over a trailing
 *   lookback so late samples are counted.
 * - Queries bucket in SQL per series and combine in the same accumulators as the embedded engine.
 */

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Labels, Sample } from '@falconet/protocol';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { localKey as embeddedKey, parseLocalKey as parseEmbeddedKey } from './series-key.ts';

// PostgreSQL text cannot hold NUL: the series key uses record separators instead.
const localKey = (name: string, labels: Labels) => embeddedKey(name, labels).replaceAll('\0', '\x1e').replaceAll('\x01', '\x1f');
const parseLocalKey = (key: string) => parseEmbeddedKey(key.replaceAll('\x1e', '\0').replaceAll('\x1f', '\x01'));

import {
  AcrossGroups,
  bestK,
  chooseTier,
  DEFAULT_RETENTION,
  FUTURE_SLACK_MS,
  labelsMatch,
  makeGrid,
  SeriesAccumulators,
  type TierName,
  topKStepMs,
} from './query.ts';
import type {
  AggregateQuery,
  AggregateResult,
  Aggregation,
  AppendResult,
  SeriesQuery,
  SeriesResult,
  Store,
  StoreLog,
  StoreStats,
  TopKEntry,
  TopKQuery,
} from './types.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** Rollups are recomputed this far back on every pass, so samples arriving late still count. */
const ROLLUP_LOOKBACK_MS = 15 * 60_000;

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

const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS ts_series (
     id serial PRIMARY KEY,
     agent_id text NOT NULL,
     key text NOT NULL,
     name text NOT NULL,
     labels jsonb NOT NULL,
     UNIQUE (agent_id, key)
   );
   CREATE INDEX IF NOT EXISTS ts_series_name ON ts_series (name, agent_id);
   CREATE TABLE IF NOT EXISTS ts_agent_seq (agent_id text PRIMARY KEY, last_seq bigint NOT NULL);
   CREATE TABLE IF NOT EXISTS ts_raw (series_id integer NOT NULL, ts bigint NOT NULL, value double precision NOT NULL)
     PARTITION BY RANGE (ts);
   CREATE INDEX IF NOT EXISTS ts_raw_series_ts ON ts_raw (series_id, ts);
   CREATE TABLE IF NOT EXISTS ts_1m (series_id integer NOT NULL, ts bigint NOT NULL, min double precision NOT NULL,
     max double precision NOT NULL, sum double precision NOT NULL, count bigint NOT NULL, last double precision NOT NULL,
     last_ts bigint NOT NULL, PRIMARY KEY (series_id, ts)) PARTITION BY RANGE (ts);
   CREATE TABLE IF NOT EXISTS ts_1h (LIKE ts_1m) PARTITION BY RANGE (ts);
   ALTER TABLE ts_1h ADD PRIMARY KEY (series_id, ts);
   CREATE TABLE IF NOT EXISTS ts_rollup_state (tier text PRIMARY KEY, done_until bigint NOT NULL);`,
];

/** Partition width per table: raw by day, 1 m by 30 days, 1 h by 365 days. */
const PARTITION_MS: Record<string, number> = { ts_raw: DAY, ts_1m: 30 * DAY, ts_1h: 365 * DAY };
const TABLE_OF: Record<TierName, string> = { raw: 'ts_raw', '1m': 'ts_1m', '1h': 'ts_1h' };

interface PendingReport {
  agentId: string;
  seq: number;
  rows: { sid: number; t: number; v: number }[];
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

export class PostgresStore implements Store {
  readonly #pool: pg.Pool;
  readonly #retention: Record<TierName, number>;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #log: StoreLog | undefined;
  readonly #seriesIds = new Map<string, number>();
  readonly #seriesInfo = new Map<number, { agentId: string; key: string }>();
  readonly #partitions = new Set<string>();
  readonly #durable = new Map<string, number>();
  #pending: PendingReport[] = [];
  #committing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #maintaining: Promise<void> | undefined;
  #closed = false;
  #outOfBounds = 0;
  #written = 0;

  private constructor(opts: PostgresStoreOptions) {
    this.#pool = new pg.Pool({ connectionString: opts.url, max: 6 });
    this.#pool.on('error', (err) => this.#log?.warn({ err: err.message }, 'idle PostgreSQL connection failed'));
    this.#retention = { ...DEFAULT_RETENTION, ...opts.retention };
    this.#maxBytes = opts.maxBytes ?? 0;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
  }

  /** Connects and applies the schema migrations (what `falconet-server migrate` runs). */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const s = new PostgresStore(opts);
    try {
      await s.#migrate();
      const { rows } = await s.#pool.query<{ id: number; agent_id: string; key: string }>('SELECT id, agent_id, key FROM ts_series');
      for (const r of rows) {
        s.#seriesIds.set(`${r.agent_id}\0${r.key}`, r.id);
        s.#seriesInfo.set(r.id, { agentId: r.agent_id, key: r.key });
      }
      const parts = await s.#pool.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
         WHERE p.relname IN ('ts_raw', 'ts_1m', 'ts_1h')`,
      );
      for (const r of parts.rows) s.#partitions.add(r.name);
    } catch (err) {
      await s.#pool.end();
      throw err;
    }
    const every = opts.maintenanceIntervalMs ?? 30_000;
    if (every > 0) {
      s.#timer = setInterval(
        () => void s.maintain().catch((err: Error) => s.#log?.error({ err: err.message }, 'store maintenance failed')),
        every,
      );
      s.#timer.unref();
    }
    return s;
  }

  async #migrate(): Promise<void> {
    const c = await this.#pool.connect();
    try {
      // One migrator at a time when several servers start together.
      await c.query('SELECT pg_advisory_lock(7070601)');
      await c.query('CREATE TABLE IF NOT EXISTS ts_schema_version (version integer NOT NULL)');
      const { rows } = await c.query<{ version: number }>('SELECT max(version) AS version FROM ts_schema_version');
      const have = rows[0]?.version ?? 0;
      for (let v = have; v < MIGRATIONS.length; v++) {
        await c.query('BEGIN');
        await c.query(MIGRATIONS[v] as string);
        await c.query('INSERT INTO ts_schema_version (version) VALUES ($1)', [v + 1]);
        await c.query('COMMIT');
        this.#log?.info({ version: v + 1 }, 'samples schema migrated');
      }
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw new Error(`PostgreSQL samples schema migration failed: ${(err as Error).message}`);
    } finally {
      await c.query('SELECT pg_advisory_unlock(7070601)').catch(() => undefined);
      c.release();
    }
  }

  async #ensurePartition(table: string, t: number): Promise<void> {
    const width = PARTITION_MS[table] as number;
    const start = Math.floor(t / width) * width;
    const name = `${table}_${new Date(start).toISOString().slice(0, 10).replaceAll('-', '')}`;
    if (this.#partitions.has(name)) return;
    await this.#pool
      .query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${table} FOR VALUES FROM (${start}) TO (${start + width})`)
      .catch((err: Error) => {
        // Another server made it first.
        if (!/already exists/.test(err.message)) throw err;
      });
    this.#partitions.add(name);
  }

  /** Creates (or finds) the series of one report in one statement. */
  async #defineSeries(agentId: string, series: Map<string, Sample>): Promise<void> {
    const keys = [...series.keys()];
    const { rows } = await this.#pool.query<{ id: number; key: string }>(
      `INSERT INTO ts_series (agent_id, key, name, labels)
       SELECT $1, k, n, l::jsonb FROM unnest($2::text[], $3::text[], $4::text[]) AS u(k, n, l)
       ON CONFLICT (agent_id, key) DO UPDATE SET key = excluded.key RETURNING id, key`,
      [agentId, keys, keys.map((k) => (series.get(k) as Sample).name), keys.map((k) => JSON.stringify((series.get(k) as Sample).labels))],
    );
    for (const r of rows) {
      this.#seriesIds.set(`${agentId}\0${r.key}`, r.id);
      this.#seriesInfo.set(r.id, { agentId, key: r.key });
    }
  }

  /** Reports of one agent enter the commit queue in the order they were handed in. */
  readonly #agentChains = new Map<string, Promise<unknown>>();

  appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    const prev = this.#agentChains.get(agentId) ?? Promise.resolve();
    const run = prev.then(
      () => this.#append(agentId, seq, samples),
      () => this.#append(agentId, seq, samples),
    );
    const queued = run.then(
      () => undefined,
      () => undefined,
    );
    this.#agentChains.set(agentId, queued);
    void queued.then(() => {
      if (this.#agentChains.get(agentId) === queued) this.#agentChains.delete(agentId);
    });
    return run.then((r) => r.done);
  }

  async #append(agentId: string, seq: number, samples: readonly Sample[]): Promise<{ done: Promise<AppendResult> }> {
    if (this.#closed) throw new Error('store is closed');
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`report sequence ${seq} is not a positive integer`);
    const now = this.#now();
    const oldest = now - this.#retention.raw;
    const newest = now + FUTURE_SLACK_MS;
    const rows: PendingReport['rows'] = [];
    const kept: { s: Sample; key: string }[] = [];
    const unknown = new Map<string, Sample>();
    for (const s of samples) {
      const t = s.timestampMs;
      if (!(t >= oldest && t <= newest) || !Number.isInteger(t)) {
        this.#outOfBounds++;
        continue;
      }
      const key = localKey(s.name, s.labels);
      kept.push({ s, key });
      if (!this.#seriesIds.has(`${agentId}\0${key}`)) unknown.set(key, s);
    }
    if (unknown.size) await this.#defineSeries(agentId, unknown);
    for (const { s, key } of kept) rows.push({ sid: this.#seriesIds.get(`${agentId}\0${key}`) as number, t: s.timestampMs, v: s.value });
    const days = new Set(rows.map((r) => Math.floor(r.t / DAY)));
    for (const d of days) await this.#ensurePartition('ts_raw', d * DAY);
    const done = new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ agentId, seq, rows, resolve, reject });
      if (!this.#committing) this.#committing = this.#commitLoop();
    });
    return { done };
  }

  /** One transaction per batch of waiting reports: sequences checked and advanced, samples copied. */
  async #commitLoop(): Promise<void> {
    while (this.#pending.length) {
      const batch = this.#pending;
      this.#pending = [];
      const c = await this.#pool.connect().catch((err: Error) => {
        for (const r of batch) r.reject(err);
        return undefined;
      });
      if (!c) continue;
      try {
        await c.query('BEGIN');
        const agents = [...new Set(batch.map((r) => r.agentId))];
        const { rows } = await c.query<{ agent_id: string; last_seq: number }>(
          'SELECT agent_id, last_seq FROM ts_agent_seq WHERE agent_id = ANY($1) FOR UPDATE',
          [agents],
        );
        const last = new Map(rows.map((r) => [r.agent_id, r.last_seq]));
        const fresh: PendingReport[] = [];
        const dup = new Set<PendingReport>();
        for (const r of batch) {
          if (r.seq <= (last.get(r.agentId) ?? 0)) dup.add(r);
          else {
            last.set(r.agentId, r.seq);
            fresh.push(r);
          }
        }
        if (fresh.length) {
          const upd = [...new Set(fresh.map((r) => r.agentId))];
          await c.query(
            `INSERT INTO ts_agent_seq (agent_id, last_seq) SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (agent_id) DO UPDATE SET last_seq = excluded.last_seq`,
            [upd, upd.map((a) => last.get(a))],
          );
          const total = fresh.reduce((n, r) => n + r.rows.length, 0);
          if (total > 0)
            await pipeline(
              Readable.from([binaryCopy(fresh)]),
              c.query(copyFrom('COPY ts_raw (series_id, ts, value) FROM STDIN (FORMAT binary)')),
            );
          this.#written += total;
        }
        await c.query('COMMIT');
        for (const r of batch) {
          if (!dup.has(r) && (this.#durable.get(r.agentId) ?? 0) < r.seq) this.#durable.set(r.agentId, r.seq);
          r.resolve({ duplicate: dup.has(r) });
        }
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        const e = new Error(`PostgreSQL: storing ${batch.length} reports failed: ${(err as Error).message}`);
        for (const r of batch) r.reject(e);
      } finally {
        c.release();
      }
    }
    this.#committing = undefined;
  }

  async lastSeq(agentId: string): Promise<number> {
    const { rows } = await this.#pool.query<{ last_seq: number }>('SELECT last_seq FROM ts_agent_seq WHERE agent_id = $1', [agentId]);
    return rows[0]?.last_seq ?? 0;
  }

  async resetSeq(agentId: string): Promise<number> {
    // Reports of the agent already handed in land first.
    await this.#agentChains.get(agentId);
    const { rows } = await this.#pool.query<{ last_seq: number }>('DELETE FROM ts_agent_seq WHERE agent_id = $1 RETURNING last_seq', [
      agentId,
    ]);
    this.#durable.delete(agentId);
    return rows[0]?.last_seq ?? 0;
  }

  // ------------------------------------------------------------ maintenance

  /** Rolls up closed buckets and applies retention and the size cap. */
  maintain(): Promise<void> {
    this.#maintaining ??= this.#maintain().finally(() => {
      this.#maintaining = undefined;
    });
    return this.#maintaining;
  }

  async #maintain(): Promise<void> {
    const now = this.#now();
    await this.#rollup('1m', Math.floor((now - 60_000) / 60_000) * 60_000);
    await this.#rollup('1h', Math.floor((now - 60_000) / HOUR) * HOUR);
    await this.#retain(now);
  }

  async #rollup(tier: '1m' | '1h', until: number): Promise<void> {
    const { rows } = await this.#pool.query<{ done_until: number }>('SELECT done_until FROM ts_rollup_state WHERE tier = $1', [tier]);
    const res = tier === '1m' ? 60_000 : HOUR;
    const floor = this.#now() - this.#retention[tier === '1m' ? 'raw' : '1m'];
    const from = Math.max(Math.floor(floor / res) * res, (rows[0]?.done_until ?? 0) - ROLLUP_LOOKBACK_MS - (tier === '1h' ? HOUR : 0));
    const start = Math.floor(from / res) * res;
    if (until <= start) return;
    for (
      let t = Math.floor(start / (PARTITION_MS[TABLE_OF[tier]] as number)) * (PARTITION_MS[TABLE_OF[tier]] as number);
      t < until;
      t += PARTITION_MS[TABLE_OF[tier]] as number
    ) {
      await this.#ensurePartition(TABLE_OF[tier], t);
    }
    const source =
      tier === '1m'
        ? `SELECT series_id, (ts / 60000) * 60000 AS b, min(value) AS min, max(value) AS max, sum(value) AS sum, count(*) AS count,
             (array_agg(value ORDER BY ts DESC))[1] AS last, max(ts) AS last_ts
           FROM ts_raw WHERE ts >= $1 AND ts < $2 AND value <> 'NaN'::float8 GROUP BY 1, 2`
        : `SELECT series_id, (ts / 3600000) * 3600000 AS b, min(min), max(max), sum(sum), sum(count)::bigint,
             (array_agg(last ORDER BY last_ts DESC))[1], max(last_ts)
           FROM ts_1m WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2`;
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(
        `INSERT INTO ${TABLE_OF[tier]} (series_id, ts, min, max, sum, count, last, last_ts) ${source}
         ON CONFLICT (series_id, ts) DO UPDATE SET min = excluded.min, max = excluded.max, sum = excluded.sum,
           count = excluded.count, last = excluded.last, last_ts = excluded.last_ts`,
        [start, until],
      );
      await c.query(
        `INSERT INTO ts_rollup_state (tier, done_until) VALUES ($1, $2)
         ON CONFLICT (tier) DO UPDATE SET done_until = GREATEST(ts_rollup_state.done_until, excluded.done_until)`,
        [tier, until],
      );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async #partitionList(): Promise<{ table: string; name: string; start: number; bytes: number }[]> {
    const { rows } = await this.#pool.query<{ parent: string; name: string; bytes: number }>(
      `SELECT p.relname AS parent, c.relname AS name, pg_total_relation_size(c.oid) AS bytes
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       WHERE p.relname IN ('ts_raw', 'ts_1m', 'ts_1h')`,
    );
    return rows.map((r) => {
      const d = r.name.slice(r.parent.length + 1);
      return { table: r.parent, name: r.name, start: Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8)), bytes: Number(r.bytes) };
    });
  }

  async #retain(now: number): Promise<void> {
    const parts = await this.#partitionList();
    const drop: typeof parts = [];
    for (const p of parts) {
      const tier = (Object.entries(TABLE_OF).find(([, t]) => t === p.table) as [TierName, string])[0];
      if (p.start + (PARTITION_MS[p.table] as number) <= now - this.#retention[tier]) drop.push(p);
    }
    if (this.#maxBytes > 0) {
      let total = parts.reduce((n, p) => n + p.bytes, 0) - drop.reduce((n, p) => n + p.bytes, 0);
      for (const table of ['ts_raw', 'ts_1m', 'ts_1h']) {
        const mine = parts.filter((p) => p.table === table && !drop.includes(p)).sort((a, b) => a.start - b.start);
        // Never the newest partition of a table.
        for (const p of mine.slice(0, -1)) {
          if (total <= this.#maxBytes) break;
          drop.push(p);
          total -= p.bytes;
          this.#log?.warn({ partition: p.name, maxBytes: this.#maxBytes }, 'size cap reached: dropped the oldest partition');
        }
      }
    }
    for (const p of drop) {
      await this.#pool.query(`DROP TABLE IF EXISTS ${p.name}`);
      this.#partitions.delete(p.name);
    }
  }

  async flush(): Promise<void> {
    while (this.#committing) await this.#committing;
    await this.maintain();
  }

  // ----------------------------------------------------------------- queries

  #idsFor(name: string, agentIds: readonly string[] | undefined, labels: Labels | undefined): number[] {
    const want = agentIds ? new Set(agentIds) : undefined;
    const out: number[] = [];
    for (const [id, info] of this.#seriesInfo) {
      if (want && !want.has(info.agentId)) continue;
      const p = parseLocalKey(info.key);
      if (p.name !== name || !labelsMatch(p.labels, labels)) continue;
      out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  async #refreshSeries(): Promise<void> {
    // Other servers sharing the database may have added series.
    const max = Math.max(0, ...this.#seriesInfo.keys());
    const { rows } = await this.#pool.query<{ id: number; agent_id: string; key: string }>(
      'SELECT id, agent_id, key FROM ts_series WHERE id > $1',
      [max],
    );
    for (const r of rows) {
      this.#seriesIds.set(`${r.agent_id}\0${r.key}`, r.id);
      this.#seriesInfo.set(r.id, { agentId: r.agent_id, key: r.key });
    }
  }

  async #rollupDone(tier: '1m' | '1h'): Promise<number> {
    const { rows } = await this.#pool.query<{ done_until: number }>('SELECT done_until FROM ts_rollup_state WHERE tier = $1', [tier]);
    return rows[0]?.done_until ?? 0;
  }

  #oldestKept(tier: TierName): number {
    return this.#now() - this.#retention[tier];
  }

  /** Per-series bucket accumulators from a tier: rollup rows where rolled up, raw beyond. */
  async #accumulate(tier: TierName, ids: number[], from: number, to: number, stepMs: number, keepValues: boolean) {
    const grid = makeGrid(from, to, stepMs);
    const accs = new SeriesAccumulators(grid, keepValues);
    const lo = tier === 'raw' ? from : grid.start;
    const hi = tier === 'raw' ? to : grid.start + grid.n * grid.step - 1;
    let rawFrom = lo;
    if (tier !== 'raw') {
      const done = await this.#rollupDone(tier);
      const { rows } = await this.#pool.query<{
        series_id: number;
        ts: number;
        min: number;
        max: number;
        sum: number;
        count: number;
        last: number;
        last_ts: number;
      }>(
        `SELECT series_id, ts, min, max, sum, count, last, last_ts FROM ${TABLE_OF[tier]}
         WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3 AND ts < $4`,
        [ids, lo, hi, done],
      );
      for (const r of rows) accs.of(r.series_id).addRollup(r.ts, r.min, r.max, r.sum, r.count, r.last, r.last_ts);
      rawFrom = Math.max(lo, done);
    }
    if (rawFrom <= hi) {
      if (keepValues || tier === 'raw') {
        const { rows } = await this.#pool.query<{ series_id: number; ts: number; value: number }>(
          'SELECT series_id, ts, value FROM ts_raw WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3',
          [ids, rawFrom, hi],
        );
        for (const r of rows) accs.of(r.series_id).addRaw(r.ts, r.value);
      } else {
        // Bucket in the database; only one row per series and bucket comes back.
        const { rows } = await this.#pool.query<{
          series_id: number;
          b: number;
          min: number;
          max: number;
          sum: number;
          count: number;
          last: number;
          last_ts: number;
        }>(
          `SELECT series_id, (ts - $4) / $5 AS b, min(value) AS min, max(value) AS max, sum(value) AS sum, count(*) AS count,
             (array_agg(value ORDER BY ts DESC))[1] AS last, max(ts) AS last_ts
           FROM ts_raw WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3 AND value <> 'NaN'::float8 GROUP BY 1, 2`,
          [ids, rawFrom, hi, grid.start, grid.step],
        );
        for (const r of rows) accs.of(r.series_id).addRollup(grid.start + r.b * grid.step, r.min, r.max, r.sum, r.count, r.last, r.last_ts);
      }
    }
    return { grid, accs };
  }

  async querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
    await this.#refreshSeries();
    const ids = this.#idsFor(q.name, [q.agentId], q.labels);
    if (!ids.length) return [];
    const agg = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(q.stepMs ?? 0, q.fromMs, agg, (t) => this.#oldestKept(t));
    const labelsOf = (id: number) => parseLocalKey((this.#seriesInfo.get(id) as { key: string }).key).labels;
    if (!stepMs) {
      const { rows } = await this.#pool.query<{ series_id: number; ts: number; value: number }>(
        'SELECT series_id, ts, value FROM ts_raw WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3 ORDER BY series_id, ts',
        [ids, q.fromMs, q.toMs],
      );
      const by = new Map<number, [number, number][]>();
      for (const r of rows) {
        const l = by.get(r.series_id);
        if (l) l.push([r.ts, r.value]);
        else by.set(r.series_id, [[r.ts, r.value]]);
      }
      return ids.map((id) => ({ name: q.name, labels: labelsOf(id), points: by.get(id) ?? [] }));
    }
    const { accs } = await this.#accumulate(tier, ids, q.fromMs, q.toMs, stepMs, agg === 'p95');
    return ids.map((id) => ({ name: q.name, labels: labelsOf(id), points: accs.get(id)?.points(agg) ?? [], stepMs }));
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    await this.#refreshSeries();
    const ids = this.#idsFor(q.name, q.agentIds, q.labels);
    const agg: Aggregation = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(Math.max(1, q.stepMs), q.fromMs, agg, (t) => this.#oldestKept(t));
    const { grid, accs } = await this.#accumulate(tier, ids, q.fromMs, q.toMs, stepMs, agg === 'p95');
    const groups = new AcrossGroups(q, grid);
    for (const [id, acc] of accs) {
      const info = this.#seriesInfo.get(id) as { agentId: string; key: string };
      groups.add(info.agentId, parseLocalKey(info.key).labels, acc);
    }
    return groups.results(stepMs);
  }

  async topK(q: TopKQuery): Promise<TopKEntry[]> {
    await this.#refreshSeries();
    const ids = this.#idsFor(q.name, q.agentIds, q.labels);
    const { tier, stepMs } = chooseTier(topKStepMs(q), q.fromMs, q.agg, (t) => this.#oldestKept(t));
    const { accs } = await this.#accumulate(tier, ids, q.fromMs, q.toMs, stepMs, q.agg === 'p95');
    const out: TopKEntry[] = [];
    for (const [id, acc] of accs) {
      const value = acc.overall(q.agg);
      const info = this.#seriesInfo.get(id) as { agentId: string; key: string };
      if (!Number.isNaN(value)) out.push({ agentId: info.agentId, labels: parseLocalKey(info.key).labels, value });
    }
    return bestK(out, q);
  }

  async metricNames(agentId?: string): Promise<string[]> {
    const { rows } = agentId
      ? await this.#pool.query<{ name: string }>('SELECT DISTINCT name FROM ts_series WHERE agent_id = $1 ORDER BY name', [agentId])
      : await this.#pool.query<{ name: string }>('SELECT DISTINCT name FROM ts_series ORDER BY name');
    return rows.map((r) => r.name);
  }

  async stats(): Promise<StoreStats> {
    const parts = await this.#partitionList();
    const bytes: Record<string, number> = { raw: 0, '1m': 0, '1h': 0 };
    for (const p of parts) {
      const tier = (Object.entries(TABLE_OF).find(([, t]) => t === p.table) as [TierName, string])[0];
      bytes[tier] = (bytes[tier] ?? 0) + p.bytes;
    }
    const count = async (table: string) => Number((await this.#pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    return {
      engine: 'postgres',
      series: this.#seriesInfo.size,
      bytes,
      samples: { raw: await count('ts_raw'), '1m': await count('ts_1m'), '1h': await count('ts_1h') },
      parts: parts.length,
      outOfBounds: this.#outOfBounds,
      written: this.#written,
    } as StoreStats;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    while (this.#committing) await this.#committing;
    await this.#maintaining?.catch(() => undefined);
    await this.#pool.end();
  }
}

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** The batch's samples in PostgreSQL's binary COPY format: exact doubles, no text round trip. */
function binaryCopy(reports: PendingReport[]): Buffer {
  const n = reports.reduce((k, r) => k + r.rows.length, 0);
  const buf = Buffer.allocUnsafe(COPY_SIGNATURE.length + 8 + n * 34 + 2);
  let o = COPY_SIGNATURE.copy(buf, 0);
  buf.writeInt32BE(0, o);
  buf.writeInt32BE(0, o + 4);
  o += 8;
  for (const r of reports) {
    for (const { sid, t, v } of r.rows) {
      buf.writeInt16BE(3, o);
      buf.writeInt32BE(4, o + 2);
      buf.writeInt32BE(sid, o + 6);
      buf.writeInt32BE(8, o + 10);
      buf.writeInt32BE(Math.floor(t / 2 ** 32), o + 14);
      buf.writeUInt32BE(t >>> 0, o + 18);
      buf.writeInt32BE(8, o + 22);
      buf.writeDoubleBE(v, o + 26);
      o += 34;
    }
  }
  buf.writeInt16BE(-1, o);
  return buf;
}
