/**
 * The read path: a query reads the parts of the tier it needs (pinned, so a merge or retention
 * cannot close them underneath) and the heads not flushed yet, and buckets what it finds in the
 * accumulators both engines share (../query.ts).
 */
import { readSync } from 'node:fs';
import { decodeRawChunk, decodeRollupChunk } from '../codec/chunk.ts';
import { selectIds } from '../postings.ts';
import {
  AcrossGroups,
  type BucketAccumulator,
  bestK,
  chooseTier,
  type Grid,
  labelsMatch,
  makeGrid,
  SeriesAccumulators,
  type TierName,
  topKStepMs,
} from '../query.ts';
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
import { mergeRaw, type TierWindows } from './build.ts';
import type { Head } from './head.ts';
import type { OpenPart, PartSet } from './manifest.ts';
import { lowerBound, timestampBlock } from './part.ts';
import type { SeriesDictionary } from './series.ts';

/** Reads of a part up to this size are made synchronously (see #readChunks). */
const SYNC_READ_BYTES = 256 * 1024;

export interface SeriesReaderOptions {
  parts: PartSet;
  series: SeriesDictionary;
  /** The heads not flushed yet, oldest first. */
  heads: () => readonly Head[];
  windows: TierWindows;
  retention: Record<TierName, number>;
  now: () => number;
}

interface Run {
  ts: Float64Array;
  vs: Float64Array;
}

export class SeriesReader {
  readonly #o: SeriesReaderOptions;

  constructor(opts: SeriesReaderOptions) {
    this.#o = opts;
  }

  async querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
    const series = this.#o.series;
    const ids = this.#seriesFor(q.name, [q.agentId], q.labels);
    if (ids.length === 0) return [];
    const agg = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(q.stepMs ?? 0, q.fromMs, agg, (t) => this.#oldestKept(t));
    if (!stepMs) {
      const pts = await this.#rawPoints(ids, q.fromMs, q.toMs);
      return ids.map((id) => {
        const p = pts.get(id);
        const points: [number, number][] = [];
        if (p) for (let i = 0; i < p.ts.length; i++) points.push([p.ts[i] as number, p.vs[i] as number]);
        return { name: q.name, labels: series.labelsOf(id), points };
      });
    }
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    const accs = await this.#accumulate(tier, ids, grid, q.fromMs, q.toMs, agg === 'p95');
    return ids.map((id) => ({ name: q.name, labels: series.labelsOf(id), points: accs.get(id)?.points(agg) ?? [], stepMs }));
  }

  /** Series of every host by matchers, picked through the cross-host index, with their raw points. */
  async selectSeries(q: SelectQuery): Promise<SelectedSeries[]> {
    const series = this.#o.series;
    const ids = selectIds(series, q);
    if (ids.length === 0) return [];
    const pts = await this.#rawPoints(ids, q.fromMs, q.toMs);
    const out: SelectedSeries[] = [];
    for (const id of ids) {
      const p = pts.get(id);
      if (!p || p.ts.length === 0) continue;
      out.push({ agentId: series.agentOfId(id), name: series.nameOf(id), labels: series.labelsView(id), ts: p.ts, vs: p.vs });
    }
    return out;
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    const series = this.#o.series;
    const ids = this.#seriesFor(q.name, q.agentIds, q.labels);
    const agg: Aggregation = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(Math.max(1, q.stepMs), q.fromMs, agg, (t) => this.#oldestKept(t));
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    const groups = new AcrossGroups(q, grid);
    await this.#scan(ids, tier, grid, q.fromMs, q.toMs, agg === 'p95', (id, acc) => {
      groups.add(series.agentOfId(id), series.labelsOf(id), acc);
    });
    return groups.results(stepMs);
  }

  async topK(q: TopKQuery): Promise<TopKEntry[]> {
    const series = this.#o.series;
    const ids = this.#seriesFor(q.name, q.agentIds, q.labels);
    const { tier, stepMs } = chooseTier(topKStepMs(q), q.fromMs, q.agg, (t) => this.#oldestKept(t));
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    const out: TopKEntry[] = [];
    await this.#scan(ids, tier, grid, q.fromMs, q.toMs, q.agg === 'p95', (id, acc) => {
      const value = acc.overall(q.agg);
      if (!Number.isNaN(value)) out.push({ agentId: series.agentOfId(id), labels: series.labelsOf(id), value });
    });
    return bestK(out, q);
  }

  metricNames(agentId?: string): string[] {
    return this.#o.series.names(agentId);
  }

  #oldestKept(tier: TierName): number {
    return Math.max(this.#o.now() - this.#o.retention[tier], this.#o.parts.manifest.droppedBefore[tier] ?? 0);
  }

  #seriesFor(name: string, agentIds: readonly string[] | undefined, labels: Readonly<Record<string, string>> | undefined): number[] {
    const series = this.#o.series;
    const ids = series.ofName(name, agentIds);
    if (!labels || Object.keys(labels).length === 0) return ids;
    return ids.filter((id) => labelsMatch(series.labelsOf(id), labels));
  }

  /** Series in batches so a fleet-wide query holds a bounded amount of decoded data at once. */
  async #scan(
    ids: readonly number[],
    tier: TierName,
    grid: Grid,
    from: number,
    to: number,
    keepValues: boolean,
    fn: (id: number, acc: BucketAccumulator) => void,
  ): Promise<void> {
    const batch = Math.max(64, Math.floor(4_000_000 / Math.max(1, grid.n)));
    for (let i = 0; i < ids.length; i += batch) {
      const slice = ids.slice(i, i + batch);
      const accs = await this.#accumulate(tier, slice, grid, from, to, keepValues);
      for (const [id, acc] of accs) fn(id, acc);
    }
  }

  /** Fills one accumulator per series from the tier that `tier` names (heads count as raw). */
  async #accumulate(
    tier: TierName,
    ids: readonly number[],
    grid: Grid,
    from: number,
    to: number,
    keepValues: boolean,
  ): Promise<Map<number, BucketAccumulator>> {
    const accs = new SeriesAccumulators(grid, keepValues);
    // Whole buckets: a rollup row's bucket may start before `from`.
    const lo = tier === 'raw' ? from : grid.start;
    const hi = tier === 'raw' ? to : grid.start + grid.n * grid.step - 1;
    if (tier === 'raw') {
      const pts = await this.#rawPoints(ids, lo, hi);
      for (const [id, { ts, vs }] of pts) {
        const a = accs.of(id);
        for (let i = 0; i < ts.length; i++) a.addRaw(ts[i] as number, vs[i] as number);
      }
      return accs;
    }
    const { parts, windows } = this.#o;
    const rollups = parts.pin(tier, lo, hi, (m) => m.maxTs >= lo - windows[tier] && m.minTs <= hi);
    // Raw data not rolled up yet (windows still open) is aggregated on the fly.
    const fresh = parts.pin('raw', lo, hi, (m) => !m.rolledUp && m.maxTs >= lo && m.minTs <= hi);
    // The heads of this same moment: a head flushed while the parts are read is in no pinned part.
    const heads = this.#o.heads();
    try {
      await this.#readRaw(fresh, ids, (id, d) => {
        const a = accs.of(id);
        for (let i = 0; i < d.ts.length; i++) {
          const t = d.ts[i] as number;
          if (t >= lo && t <= hi) a.addRaw(t, d.vs[i] as number);
        }
      });
      await Promise.all(
        rollups.map((p) =>
          this.#readChunks(p, ids, (id, bytes) => {
            const r = decodeRollupChunk(bytes, p.meta.window);
            const a = accs.of(id);
            for (let i = 0; i < r.ts.length; i++) {
              const t = r.ts[i] as number;
              if (t < lo || t > hi) continue;
              a.addRollup(
                t,
                r.min[i] as number,
                r.max[i] as number,
                r.sum[i] as number,
                r.count[i] as number,
                r.last[i] as number,
                r.lastTs[i] as number,
              );
            }
          }),
        ),
      );
    } finally {
      parts.unpin(rollups);
      parts.unpin(fresh);
    }
    for (const h of heads) {
      for (const id of ids) {
        if (!h.has(id)) continue;
        h.forEach(id, lo, hi, (t, v) => accs.of(id).addRaw(t, v));
      }
    }
    return accs;
  }

  /** Raw points of each series in [from, to], merged across parts and heads, in time order. */
  async #rawPoints(ids: readonly number[], from: number, to: number): Promise<Map<number, Run>> {
    const parts = this.#o.parts.pin('raw', from, to, (m) => m.maxTs >= from && m.minTs <= to);
    const heads = this.#o.heads();
    const runs = new Map<number, { rank: number; ts: Float64Array; vs: Float64Array }[]>();
    const push = (id: number, rank: number, ts: Float64Array, vs: Float64Array) => {
      const l = runs.get(id);
      if (l) l.push({ rank, ts, vs });
      else runs.set(id, [{ rank, ts, vs }]);
    };
    try {
      await this.#readRaw(parts, ids, (id, d, p) => push(id, p.meta.maxSeg, d.ts, d.vs));
    } finally {
      this.#o.parts.unpin(parts);
    }
    for (const h of heads) {
      const rank = Math.max(...h.segments, 0) + 0.5;
      for (const id of ids) {
        if (!h.has(id)) continue;
        // The head walks a series newest first: into scratch columns, then reversed into its own.
        let n = 0;
        h.forEach(id, from, to, (t, v) => {
          if (n === headScratch.ts.length) growHeadScratch();
          headScratch.ts[n] = t;
          headScratch.vs[n] = v;
          n++;
        });
        if (n === 0) continue;
        const T = new Float64Array(n);
        const V = new Float64Array(n);
        let sorted = true;
        for (let i = 0; i < n; i++) {
          T[i] = headScratch.ts[n - 1 - i] as number;
          V[i] = headScratch.vs[n - 1 - i] as number;
          if (i > 0 && (T[i] as number) <= (T[i - 1] as number)) sorted = false;
        }
        const [st, sv] = sorted ? [T, V] : sortRun(T, V);
        push(id, rank, st, sv);
      }
    }
    const out = new Map<number, Run>();
    for (const [id, rs] of runs) {
      rs.sort((a, b) => a.rank - b.rank);
      // One run (one part, or one head) is already in order without duplicates: no copy to merge into.
      const merged = rs.length === 1 ? (rs[0] as Run) : mergeRaw(rs);
      let a = 0;
      while (a < merged.ts.length && (merged.ts[a] as number) < from) a++;
      let b = merged.ts.length;
      while (b > a && (merged.ts[b - 1] as number) > to) b--;
      out.set(id, { ts: merged.ts.subarray(a, b), vs: merged.vs.subarray(a, b) });
    }
    return out;
  }

  /** Decodes the raw chunks of `ids` in each of `parts`, calling `fn` with each. */
  async #readRaw(parts: readonly OpenPart[], ids: readonly number[], fn: (id: number, run: Run, p: OpenPart) => void): Promise<void> {
    await Promise.all(
      parts.map(async (p) => {
        const decode = await rawDecoder(this.#o.parts, p);
        await this.#readChunks(p, ids, (id, bytes) => fn(id, decode(bytes), p));
      }),
    );
  }

  /**
   * Reads the chunks of `ids` from one part with few large reads (chunks of one metric sit
   * together), calling `fn` with each chunk's bytes.
   */
  async #readChunks(p: OpenPart, ids: readonly number[], fn: (id: number, bytes: Buffer) => void): Promise<void> {
    const { keys, offsets } = p.index;
    const hits: { id: number; start: number; end: number }[] = [];
    for (const id of ids) {
      const key = this.#o.series.sortKey(id);
      const i = lowerBound(keys, key);
      if (keys[i] === key) hits.push({ id, start: offsets[i] as number, end: offsets[i + 1] as number });
    }
    if (hits.length === 0) return;
    hits.sort((a, b) => a.start - b.start);
    const GAP = 32 * 1024;
    const MAX = 16 * 1024 * 1024;
    let i = 0;
    const reads: Promise<void>[] = [];
    while (i < hits.length) {
      const first = hits[i] as { start: number; end: number };
      let j = i + 1;
      let end = first.end;
      while (
        j < hits.length &&
        (hits[j] as { start: number }).start - end <= GAP &&
        (hits[j] as { end: number }).end - first.start <= MAX
      ) {
        end = Math.max(end, (hits[j] as { end: number }).end);
        j++;
      }
      const group = hits.slice(i, j);
      const base = first.start;
      if (end - base <= SYNC_READ_BYTES) {
        // A small read of a part (pinned, so its descriptor stays open) is a copy out of the page
        // cache: done in place, it spares the query a round trip through libuv's thread pool per
        // part, which on a busy machine was most of a query's wait (Prometheus mmaps its blocks).
        const buf = Buffer.allocUnsafe(end - base);
        let got = 0;
        while (got < buf.length) {
          const bytesRead = readSync(p.fd, buf, got, buf.length - got, base + got);
          if (bytesRead === 0) throw new Error(`part ${p.meta.id} is shorter than its index`);
          got += bytesRead;
        }
        for (const h of group) fn(h.id, buf.subarray(h.start - base, h.end - base));
      } else {
        reads.push(
          (async () => {
            const buf = Buffer.allocUnsafe(end - base);
            let got = 0;
            while (got < buf.length) {
              const bytesRead = await this.#o.parts.read(p, buf, got, buf.length - got, base + got);
              if (bytesRead === 0) throw new Error(`part ${p.meta.id} is shorter than its index`);
              got += bytesRead;
            }
            for (const h of group) fn(h.id, buf.subarray(h.start - base, h.end - base));
          })(),
        );
      }
      i = j;
    }
    await Promise.all(reads);
  }
}

/** Decodes a raw chunk of part `p`, whose timestamps may live in the part's shared table. */
async function rawDecoder(parts: PartSet, p: OpenPart): Promise<(bytes: Uint8Array) => Run> {
  const { tsOffsets } = p.index;
  const start = tsOffsets[0] as number;
  const len = (tsOffsets[tsOffsets.length - 1] as number) - start;
  p.timestamps ??= (async () => {
    const b = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const bytesRead = await parts.read(p, b, got, len - got, start + got);
      if (bytesRead === 0) throw new Error(`part ${p.meta.id} ends inside its timestamp columns`);
      got += bytesRead;
    }
    return b;
  })();
  const section = await p.timestamps;
  // One query's decoded columns of this part, shared by the chunks that refer to them.
  const columns = new Map<number, Float64Array>();
  return (bytes) => decodeRawChunk(bytes, p.meta.window, (ref) => timestampBlock(p.index, section, ref), columns);
}

/** Where a head's points of one series are gathered before they are put in order (reused: reads are synchronous). */
const headScratch = { ts: new Float64Array(1024), vs: new Float64Array(1024) };

function growHeadScratch(): void {
  const ts = new Float64Array(headScratch.ts.length * 2);
  const vs = new Float64Array(headScratch.vs.length * 2);
  ts.set(headScratch.ts);
  vs.set(headScratch.vs);
  headScratch.ts = ts;
  headScratch.vs = vs;
}

function sortRun(ts: Float64Array, vs: Float64Array): [Float64Array, Float64Array] {
  const idx = Array.from(ts.keys()).sort((a, b) => (ts[a] as number) - (ts[b] as number) || a - b);
  return [Float64Array.from(idx, (i) => ts[i] as number), Float64Array.from(idx, (i) => vs[i] as number)];
}
