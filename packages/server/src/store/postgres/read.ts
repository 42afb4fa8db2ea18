/**
 * Queries on PostgreSQL: rows are bucketed in SQL per series where they can be, and combined in
 * the same accumulators as the embedded engine (../query.ts). Rollup rows answer up to where
 * the rollups are complete, raw rows beyond.
 */
import type { Labels } from '@falconet/protocol';
import type pg from 'pg';
import { selectIds } from '../postings.ts';
import { AcrossGroups, bestK, chooseTier, makeGrid, SeriesAccumulators, type TierName, topKStepMs } from '../query.ts';
import type {
  AggregateQuery,
  AggregateResult,
  Aggregation,
  SelectedSeries,
  SelectQuery,
  SeriesQuery,
  SeriesResult,
  TopKEntry,
  TopKQuery,
} from '../types.ts';
import { rollupDone, TABLE_OF } from './schema.ts';
import type { SeriesCatalog } from './series.ts';

export interface SeriesReaderOptions {
  pool: pg.Pool;
  series: SeriesCatalog;
  retention: Record<TierName, number>;
  /** The time retention counts back from (newest.ts): what is older than a tier's retention before it is not read. */
  reference: () => number;
}

/** One bucket of one series: min, max, sum, count, last and the time of last. */
interface BucketRow {
  series_id: number;
  min: number;
  max: number;
  sum: number;
  count: number;
  last: number;
  last_ts: number;
}

export class SeriesReader {
  readonly #o: SeriesReaderOptions;

  constructor(opts: SeriesReaderOptions) {
    this.#o = opts;
  }

  async querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
    const ids = await this.#idsFor(q.name, [q.agentId], q.labels);
    if (!ids.length) return [];
    const series = this.#o.series;
    const agg = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(q.stepMs ?? 0, q.fromMs, agg, (t) => this.#oldestKept(t));
    if (!stepMs) {
      const { rows } = await this.#o.pool.query<{ series_id: number; ts: number; value: number }>(
        'SELECT series_id, ts, value FROM ts_raw WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3 ORDER BY series_id, ts',
        [ids, q.fromMs, q.toMs],
      );
      const by = new Map<number, [number, number][]>();
      for (const r of rows) {
        const l = by.get(r.series_id);
        if (l) l.push([r.ts, r.value]);
        else by.set(r.series_id, [[r.ts, r.value]]);
      }
      return ids.map((id) => ({ name: q.name, labels: series.labelsOf(id), points: by.get(id) ?? [] }));
    }
    const { accs } = await this.#accumulate(tier, ids, q.fromMs, q.toMs, stepMs, agg === 'p95');
    return ids.map((id) => ({ name: q.name, labels: series.labelsOf(id), points: accs.get(id)?.points(agg) ?? [], stepMs }));
  }

  /** Series of every host by matchers, picked through the cross-host index, with their raw points in one statement. */
  async selectSeries(q: SelectQuery): Promise<SelectedSeries[]> {
    const series = this.#o.series;
    await series.refresh();
    const ids = selectIds(series, q);
    if (!ids.length) return [];
    const { rows } = await this.#o.pool.query<{ series_id: number; ts: number; value: number }>(
      'SELECT series_id, ts, value FROM ts_raw WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3 ORDER BY series_id, ts',
      [ids, q.fromMs, q.toMs],
    );
    const out: SelectedSeries[] = [];
    let i = 0;
    while (i < rows.length) {
      const id = (rows[i] as { series_id: number }).series_id;
      let j = i;
      while (j < rows.length && (rows[j] as { series_id: number }).series_id === id) j++;
      const ts = new Float64Array(j - i);
      const vs = new Float64Array(j - i);
      for (let k = i; k < j; k++) {
        const r = rows[k] as { ts: number; value: number };
        ts[k - i] = Number(r.ts);
        vs[k - i] = Number(r.value);
      }
      out.push({ agentId: series.agentOfId(id), name: series.nameOf(id), labels: series.labelsView(id), ts, vs });
      i = j;
    }
    return out;
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    const ids = await this.#idsFor(q.name, q.agentIds, q.labels);
    const series = this.#o.series;
    const agg: Aggregation = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(Math.max(1, q.stepMs), q.fromMs, agg, (t) => this.#oldestKept(t));
    const { grid, accs } = await this.#accumulate(tier, ids, q.fromMs, q.toMs, stepMs, agg === 'p95');
    const groups = new AcrossGroups(q, grid);
    for (const [id, acc] of accs) groups.add(series.info(id).agentId, series.labelsOf(id), acc);
    return groups.results(stepMs);
  }

  async topK(q: TopKQuery): Promise<TopKEntry[]> {
    const ids = await this.#idsFor(q.name, q.agentIds, q.labels);
    const series = this.#o.series;
    const { tier, stepMs } = chooseTier(topKStepMs(q), q.fromMs, q.agg, (t) => this.#oldestKept(t));
    const { accs } = await this.#accumulate(tier, ids, q.fromMs, q.toMs, stepMs, q.agg === 'p95');
    const out: TopKEntry[] = [];
    for (const [id, acc] of accs) {
      const value = acc.overall(q.agg);
      if (!Number.isNaN(value)) out.push({ agentId: series.info(id).agentId, labels: series.labelsOf(id), value });
    }
    return bestK(out, q);
  }

  async metricNames(agentId?: string): Promise<string[]> {
    const pool = this.#o.pool;
    const { rows } = agentId
      ? await pool.query<{ name: string }>('SELECT DISTINCT name FROM ts_series WHERE agent_id = $1 ORDER BY name', [agentId])
      : await pool.query<{ name: string }>('SELECT DISTINCT name FROM ts_series ORDER BY name');
    return rows.map((r) => r.name);
  }

  /** The series a query names, after picking up those other servers added. */
  async #idsFor(name: string, agentIds: readonly string[] | undefined, labels: Labels | undefined): Promise<number[]> {
    await this.#o.series.refresh();
    return this.#o.series.idsFor(name, agentIds, labels);
  }

  #oldestKept(tier: TierName): number {
    return this.#o.reference() - this.#o.retention[tier];
  }

  /** Per-series bucket accumulators from a tier: rollup rows where rolled up, raw beyond. */
  async #accumulate(tier: TierName, ids: number[], from: number, to: number, stepMs: number, keepValues: boolean) {
    const pool = this.#o.pool;
    const grid = makeGrid(from, to, stepMs);
    const accs = new SeriesAccumulators(grid, keepValues);
    const lo = tier === 'raw' ? from : grid.start;
    const hi = tier === 'raw' ? to : grid.start + grid.n * grid.step - 1;
    let rawFrom = lo;
    if (tier !== 'raw') {
      const done = await rollupDone(pool, tier);
      const { rows } = await pool.query<BucketRow & { ts: number }>(
        `SELECT series_id, ts, min, max, sum, count, last, last_ts FROM ${TABLE_OF[tier]}
         WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3 AND ts < $4`,
        [ids, lo, hi, done],
      );
      for (const r of rows) accs.of(r.series_id).addRollup(r.ts, r.min, r.max, r.sum, r.count, r.last, r.last_ts);
      rawFrom = Math.max(lo, done);
    }
    if (rawFrom <= hi) {
      if (keepValues || tier === 'raw') {
        const { rows } = await pool.query<{ series_id: number; ts: number; value: number }>(
          'SELECT series_id, ts, value FROM ts_raw WHERE series_id = ANY($1) AND ts >= $2 AND ts <= $3',
          [ids, rawFrom, hi],
        );
        for (const r of rows) accs.of(r.series_id).addRaw(r.ts, r.value);
      } else {
        // Bucket in the database; only one row per series and bucket comes back.
        const { rows } = await pool.query<BucketRow & { b: number }>(
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
}
