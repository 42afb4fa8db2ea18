/**
 * The samples schema on PostgreSQL: its migrations, and the time partitions of the sample tables
 * (raw by day, 1 m rollups by 30 days, 1 h rollups by 365 days), made as data arrives and
 * dropped whole by retention.
 */
import type pg from 'pg';
import type { TierName } from '../query.ts';
import type { StoreLog } from '../types.ts';

const DAY = 86_400_000;

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
  // 2: the newest sample time held, one row, which retention counts back from (newest.ts).
  `CREATE TABLE IF NOT EXISTS ts_newest (one boolean PRIMARY KEY DEFAULT true CHECK (one), ts bigint NOT NULL);`,
];

/** Partition width per table: raw by day, 1 m by 30 days, 1 h by 365 days. */
export const PARTITION_MS: Record<string, number> = { ts_raw: DAY, ts_1m: 30 * DAY, ts_1h: 365 * DAY };
export const TABLE_OF: Record<TierName, string> = { raw: 'ts_raw', '1m': 'ts_1m', '1h': 'ts_1h' };

export function tierOfTable(table: string): TierName {
  return (Object.entries(TABLE_OF).find(([, t]) => t === table) as [TierName, string])[0];
}

/** Applies the migrations not applied yet (what `falconet-server migrate` runs). */
export async function migrate(pool: pg.Pool, log: StoreLog | undefined): Promise<void> {
  const c = await pool.connect();
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
      log?.info({ version: v + 1 }, 'samples schema migrated');
    }
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw new Error(`PostgreSQL samples schema migration failed: ${(err as Error).message}`);
  } finally {
    await c.query('SELECT pg_advisory_unlock(7070601)').catch(() => undefined);
    c.release();
  }
}

/** How far a rollup tier has been computed: buckets before this time are complete. */
export async function rollupDone(pool: pg.Pool, tier: '1m' | '1h'): Promise<number> {
  const { rows } = await pool.query<{ done_until: number }>('SELECT done_until FROM ts_rollup_state WHERE tier = $1', [tier]);
  return rows[0]?.done_until ?? 0;
}

export interface Partition {
  table: string;
  name: string;
  start: number;
  bytes: number;
}

const PARTITIONS_SQL = `FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
  WHERE p.relname IN ('ts_raw', 'ts_1m', 'ts_1h')`;

/** The partitions of the sample tables, as far as this server knows them (another may add some). */
export class Partitions {
  readonly #pool: pg.Pool;
  readonly #known = new Set<string>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async load(): Promise<void> {
    const { rows } = await this.#pool.query<{ name: string }>(`SELECT c.relname AS name ${PARTITIONS_SQL}`);
    for (const r of rows) this.#known.add(r.name);
  }

  /** Makes the partition of `table` that holds time `t`, unless it exists. */
  async ensure(table: string, t: number): Promise<void> {
    const width = PARTITION_MS[table] as number;
    const start = Math.floor(t / width) * width;
    const name = `${table}_${new Date(start).toISOString().slice(0, 10).replaceAll('-', '')}`;
    if (this.#known.has(name)) return;
    await this.#pool
      .query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${table} FOR VALUES FROM (${start}) TO (${start + width})`)
      .catch((err: Error) => {
        // Another server made it first.
        if (!/already exists/.test(err.message)) throw err;
      });
    this.#known.add(name);
  }

  /** Every partition in the database with its start and size. */
  async list(): Promise<Partition[]> {
    const { rows } = await this.#pool.query<{ parent: string; name: string; bytes: number }>(
      `SELECT p.relname AS parent, c.relname AS name, pg_total_relation_size(c.oid) AS bytes ${PARTITIONS_SQL}`,
    );
    return rows.map((r) => {
      const d = r.name.slice(r.parent.length + 1);
      return { table: r.parent, name: r.name, start: Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8)), bytes: Number(r.bytes) };
    });
  }

  async drop(p: Partition): Promise<void> {
    await this.#pool.query(`DROP TABLE IF EXISTS ${p.name}`);
    this.#known.delete(p.name);
  }
}
