/**
 * Reports into PostgreSQL: queued, then written in batches, one transaction each: the agents'
 * sequences locked, checked and advanced, the samples of the new reports sent by binary COPY.
 * Every report of a batch is acknowledged when its transaction commits (group commit).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Sample } from '@falconet/protocol';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { FUTURE_SLACK_MS } from '../query.ts';
import type { AppendResult } from '../types.ts';
import { type NewestSample, RAISE_NEWEST_SQL } from './newest.ts';
import type { Partitions } from './schema.ts';
import { type SeriesCatalog, sqlKey } from './series.ts';

const DAY = 86_400_000;

interface PendingReport {
  agentId: string;
  seq: number;
  rows: { sid: number; t: number; v: number }[];
  resolve: (r: AppendResult) => void;
  reject: (e: Error) => void;
}

export interface ReportWriterOptions {
  pool: pg.Pool;
  series: SeriesCatalog;
  partitions: Partitions;
  /** Samples older than this (raw retention, counted back from newest.reference()) are refused. */
  rawRetentionMs: number;
  now: () => number;
  /** The newest sample held: raised in each commit transaction and after it. */
  newest: NewestSample;
  /** Whether the store is closed (then reports are refused). */
  closed: () => boolean;
  /** Told of every failed write (db/health.ts tells "PostgreSQL is away" from a bad batch). */
  failed?: (err: unknown) => void;
}

export class ReportWriter {
  readonly #o: ReportWriterOptions;
  #pending: PendingReport[] = [];
  #committing: Promise<void> | undefined;
  /** Reports of one agent enter the commit queue in the order they were handed in. */
  readonly #agentChains = new Map<string, Promise<unknown>>();
  outOfBounds = 0;
  written = 0;

  constructor(opts: ReportWriterOptions) {
    this.#o = opts;
  }

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
    if (this.#o.closed()) throw new Error('store is closed');
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`report sequence ${seq} is not a positive integer`);
    const { series, partitions } = this.#o;
    const now = this.#o.now();
    const oldest = this.#o.newest.reference() - this.#o.rawRetentionMs;
    const newest = now + FUTURE_SLACK_MS;
    const rows: PendingReport['rows'] = [];
    const kept: { s: Sample; key: string }[] = [];
    const unknown = new Map<string, Sample>();
    for (const s of samples) {
      const t = s.timestampMs;
      if (!(t >= oldest && t <= newest) || !Number.isInteger(t)) {
        this.outOfBounds++;
        continue;
      }
      const key = sqlKey(s.name, s.labels);
      kept.push({ s, key });
      if (series.idOf(agentId, key) === undefined) unknown.set(key, s);
    }
    if (unknown.size) {
      // A duplicate defines nothing: series of an agent whose data was dropped stay gone.
      if ((await this.lastSeq(agentId)) >= seq) return { done: Promise.resolve({ duplicate: true }) };
      await series.define(agentId, unknown);
    }
    for (const { s, key } of kept) rows.push({ sid: series.idOf(agentId, key) as number, t: s.timestampMs, v: s.value });
    const days = new Set(rows.map((r) => Math.floor(r.t / DAY)));
    for (const d of days) await partitions.ensure('ts_raw', d * DAY);
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
      const c = await this.#o.pool.connect().catch((err: Error) => {
        this.#o.failed?.(err);
        for (const r of batch) r.reject(err);
        return undefined;
      });
      if (!c) continue;
      let newest: number | undefined;
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
          this.written += total;
          newest = newestOf(fresh);
          // A batch of late samples leaves the row alone (and its lock free for other servers).
          const known = this.#o.newest.value;
          if (newest !== undefined && (known === undefined || newest > known)) await c.query(RAISE_NEWEST_SQL, [newest]);
        }
        await c.query('COMMIT');
        if (newest !== undefined) this.#o.newest.note(newest);
        for (const r of batch) r.resolve({ duplicate: dup.has(r) });
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        this.#o.failed?.(err);
        const e = new Error(`PostgreSQL: storing ${batch.length} reports failed: ${(err as Error).message}`, { cause: err });
        for (const r of batch) r.reject(e);
      } finally {
        c.release();
      }
    }
    this.#committing = undefined;
  }

  async lastSeq(agentId: string): Promise<number> {
    const { rows } = await this.#o.pool.query<{ last_seq: number }>('SELECT last_seq FROM ts_agent_seq WHERE agent_id = $1', [agentId]);
    return rows[0]?.last_seq ?? 0;
  }

  async resetSeq(agentId: string): Promise<number> {
    // Reports of the agent already handed in land first.
    await this.#agentChains.get(agentId);
    const { rows } = await this.#o.pool.query<{ last_seq: number }>('DELETE FROM ts_agent_seq WHERE agent_id = $1 RETURNING last_seq', [
      agentId,
    ]);
    return rows[0]?.last_seq ?? 0;
  }

  /** Resolves once no batch is being committed. */
  async idle(): Promise<void> {
    while (this.#committing) await this.#committing;
  }
}

/** The latest sample time of the reports, or undefined when they carry none. */
function newestOf(reports: PendingReport[]): number | undefined {
  let newest: number | undefined;
  for (const r of reports) for (const { t } of r.rows) if (newest === undefined || t > newest) newest = t;
  return newest;
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
