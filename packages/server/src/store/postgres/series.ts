/**
 * The series table (ts_series) and this server's copy of it: (agent, key) <-> id. Series other
 * servers sharing the database add are picked up before each query.
 */
import type { Labels, Sample } from '@falconet/protocol';
import type pg from 'pg';
import { type IndexedSeries, SeriesPostings } from '../postings.ts';
import { labelsMatch } from '../query.ts';
import { localKey, parseLocalKey } from '../series-key.ts';

// PostgreSQL text cannot hold NUL: the series key uses record separators instead.
export const sqlKey = (name: string, labels: Labels) => localKey(name, labels).replaceAll('\0', '\x1e').replaceAll('\x01', '\x1f');
const parseSqlKey = (key: string) => parseLocalKey(key.replaceAll('\x1e', '\0').replaceAll('\x1f', '\x01'));

export interface SeriesInfo {
  agentId: string;
  key: string;
  name: string;
  labels: Readonly<Record<string, string>>;
}

export class SeriesCatalog implements IndexedSeries {
  readonly #pool: pg.Pool;
  readonly #ids = new Map<string, number>();
  readonly #info = new Map<number, SeriesInfo>();
  readonly #byAgent = new Map<string, Set<number>>();
  /** The cross-host index (forgotten series stay listed; lookups skip them). */
  readonly postings = new SeriesPostings();
  /**
   * The highest id read from the table by load or refresh: definitions commit in id order (see
   * define), so every series not read yet is above it. This server's own definitions do not move
   * it: another server's, committed before them with lower ids, may not have been read yet.
   */
  #readUpTo = 0;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  get size(): number {
    return this.#info.size;
  }

  async load(): Promise<void> {
    const { rows } = await this.#pool.query<{ id: number; agent_id: string; key: string }>('SELECT id, agent_id, key FROM ts_series');
    for (const r of rows) this.#read(r);
  }

  #add(id: number, agentId: string, key: string): void {
    if (this.#info.has(id)) return;
    const { name, labels } = parseSqlKey(key);
    const info = { agentId, key, name, labels: Object.freeze(labels) };
    this.#ids.set(`${agentId}\0${key}`, id);
    this.#info.set(id, info);
    let mine = this.#byAgent.get(agentId);
    if (!mine) {
      mine = new Set();
      this.#byAgent.set(agentId, mine);
    }
    mine.add(id);
    this.postings.add(id, name, info.labels);
  }

  #read(r: { id: number; agent_id: string; key: string }): void {
    if (r.id > this.#readUpTo) this.#readUpTo = r.id;
    this.#add(r.id, r.agent_id, r.key);
  }

  idOf(agentId: string, key: string): number | undefined {
    return this.#ids.get(`${agentId}\0${key}`);
  }

  info(id: number): SeriesInfo {
    return this.#info.get(id) as SeriesInfo;
  }

  labelsOf(id: number): Record<string, string> {
    return { ...this.info(id).labels };
  }

  // --- IndexedSeries, for selection across hosts (../postings.ts) ---

  allIds(): number[] {
    return [...this.#info.keys()].sort((a, b) => a - b);
  }

  idsOfAgent(agentId: string): number[] {
    return [...(this.#byAgent.get(agentId) ?? [])].sort((a, b) => a - b);
  }

  isLive(id: number): boolean {
    return this.#info.has(id);
  }

  agentOfId(id: number): string {
    return this.info(id).agentId;
  }

  nameOf(id: number): string {
    return this.info(id).name;
  }

  labelsView(id: number): Readonly<Record<string, string>> {
    return this.info(id).labels;
  }

  /**
   * Creates (or finds) the series of one report in one statement, under a transaction lock every
   * server sharing the database takes: definitions commit one after another, in the order of
   * their ids, so a server reading "ids above the highest I have" never skips one that another
   * server's slower transaction committed later with a lower id.
   */
  async define(agentId: string, series: Map<string, Sample>): Promise<void> {
    const keys = [...series.keys()];
    const client = await this.#pool.connect();
    let rows: { id: number; key: string }[];
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('falconet.ts_series'))");
      ({ rows } = await client.query<{ id: number; key: string }>(
        `INSERT INTO ts_series (agent_id, key, name, labels)
         SELECT $1, k, n, l::jsonb FROM unnest($2::text[], $3::text[], $4::text[]) AS u(k, n, l)
         ON CONFLICT (agent_id, key) DO UPDATE SET key = excluded.key RETURNING id, key`,
        [agentId, keys, keys.map((k) => (series.get(k) as Sample).name), keys.map((k) => JSON.stringify((series.get(k) as Sample).labels))],
      ));
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    for (const r of rows) this.#add(r.id, agentId, r.key);
  }

  /** Forgets this server's copy of the agent's series (their rows are deleted). */
  forget(agentId: string): void {
    for (const [id, info] of this.#info) {
      if (info.agentId !== agentId) continue;
      this.#info.delete(id);
      this.#ids.delete(`${agentId}\0${info.key}`);
    }
    this.#byAgent.delete(agentId);
  }

  /** Picks up series other servers sharing the database have added. */
  async refresh(): Promise<void> {
    const { rows } = await this.#pool.query<{ id: number; agent_id: string; key: string }>(
      'SELECT id, agent_id, key FROM ts_series WHERE id > $1',
      [this.#readUpTo],
    );
    for (const r of rows) this.#read(r);
  }

  /** Ids of a metric's series, of some agents or all, carrying the labels asked for. */
  idsFor(name: string, agentIds: readonly string[] | undefined, labels: Labels | undefined): number[] {
    const want = agentIds ? new Set(agentIds) : undefined;
    const out: number[] = [];
    for (const id of this.postings.get('__name__', name)) {
      const info = this.#info.get(id);
      if (!info || (want && !want.has(info.agentId)) || !labelsMatch(info.labels, labels)) continue;
      out.push(id);
    }
    return out;
  }
}
