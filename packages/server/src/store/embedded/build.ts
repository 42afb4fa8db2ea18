/**
 * The two jobs the background worker runs: turning a frozen head into raw parts (one per time
 * window), and merging parts of one window. Sealing a raw window (merging all of it once it has
 * closed) also writes its 1 m and 1 h rollups, from exactly the raw parts not rolled up before,
 * so late data is rolled up once and nothing twice. Both jobs are synchronous and
 * self-contained so they run on a worker thread.
 */
import { join } from 'node:path';
import {
  allocRollup,
  chunkRows,
  decodeRawChunk,
  decodeRollupChunk,
  encodeRawChunk,
  encodeRollupChunk,
  type RollupRows,
} from '../codec/chunk.ts';
import { ROLLUP_RESOLUTIONS, type TierName } from '../query.ts';
import {
  type PartIndex,
  type PartMeta,
  PartWriter,
  readPartIndexSync,
  readTimestampsSync,
  SequentialReader,
  timestampBlock,
} from './part.ts';

export type TierWindows = Record<TierName, number>;

export interface FlushJob {
  type: 'flush';
  dir: string;
  /** Prefix of the new parts' ids; unique per job. */
  idPrefix: string;
  sid: Uint32Array;
  ts: Float64Array;
  vs: Float64Array;
  n: number;
  nameOrd: Uint32Array;
  windows: TierWindows;
  maxSeg: number;
  /** Deleted series: their samples are left out. */
  dead?: readonly number[];
}

export interface MergeJob {
  type: 'merge';
  dir: string;
  id: string;
  inputs: PartMeta[];
  level: number;
  /** Raw only: also write 1 m and 1 h rollups of the inputs not rolled up yet (sealing a window). */
  rollup?: { windows: TierWindows };
  /** Deleted series: their rows are left out. */
  dead?: readonly number[];
}

export interface MergeResult {
  part: PartMeta;
  rollups: PartMeta[];
}

export function partFile(dir: string, meta: Pick<PartMeta, 'tier' | 'id'>): string {
  return join(dir, 'parts', `${meta.tier}-${meta.id}.part`);
}

const windowOf = (t: number, size: number) => Math.floor(t / size) * size;

export function flushHead(job: FlushJob): PartMeta[] {
  const { sid, ts, vs, n, nameOrd } = job;
  const seriesCount = nameOrd.length;
  // Counting sort by series, stable in arrival order.
  const counts = new Uint32Array(seriesCount + 1);
  for (let i = 0; i < n; i++) counts[(sid[i] as number) + 1] = (counts[(sid[i] as number) + 1] as number) + 1;
  const dead = new Set(job.dead);
  const present: number[] = [];
  for (let s = 0; s < seriesCount; s++) if ((counts[s + 1] as number) > 0 && !dead.has(s)) present.push(s);
  const start = new Uint32Array(seriesCount + 1);
  for (let s = 0; s < seriesCount; s++) start[s + 1] = (start[s] as number) + (counts[s + 1] as number);
  const fill = start.slice();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const s = sid[i] as number;
    order[fill[s] as number] = i;
    fill[s] = (fill[s] as number) + 1;
  }
  const keyOf = (s: number) => (nameOrd[s] as number) * 2 ** 32 + s;
  const keys = Float64Array.from(present, keyOf).sort();

  const writers = new Map<string, { writer: PartWriter; tier: TierName; window: number; id: string }>();
  const writerFor = (tier: TierName, window: number) => {
    const k = `${tier}:${window}`;
    let w = writers.get(k);
    if (!w) {
      const id = `${job.idPrefix}-${writers.size}`;
      w = { writer: new PartWriter(partFile(job.dir, { tier, id }), tier), tier, window, id };
      writers.set(k, w);
    }
    return w.writer;
  };

  let tsBuf = new Float64Array(1024);
  let vsBuf = new Float64Array(1024);
  try {
    for (const key of keys) {
      const s = key % 2 ** 32;
      const a = start[s] as number;
      const cnt = (start[s + 1] as number) - a;
      if (tsBuf.length < cnt) {
        tsBuf = new Float64Array(cnt * 2);
        vsBuf = new Float64Array(cnt * 2);
      }
      let sorted = true;
      for (let j = 0; j < cnt; j++) {
        const i = order[a + j] as number;
        tsBuf[j] = ts[i] as number;
        vsBuf[j] = vs[i] as number;
        if (j > 0 && (tsBuf[j] as number) <= (tsBuf[j - 1] as number)) sorted = false;
      }
      const m = sorted ? cnt : sortDedupe(tsBuf, vsBuf, cnt);
      // Raw chunks, split at window boundaries.
      let from = 0;
      while (from < m) {
        const win = windowOf(tsBuf[from] as number, job.windows.raw);
        let to = from + 1;
        while (to < m && (tsBuf[to] as number) < win + job.windows.raw) to++;
        const rawWriter = writerFor('raw', win);
        rawWriter.add(
          key,
          encodeRawChunk(tsBuf, vsBuf, from, to, win, rawWriter.timestamps),
          to - from,
          tsBuf[from] as number,
          tsBuf[to - 1] as number,
        );
        from = to;
      }
    }
    const out: PartMeta[] = [];
    for (const { writer, tier, window, id } of writers.values()) {
      const bytes = writer.finish();
      out.push({
        id,
        tier,
        window,
        level: 0,
        minTs: writer.minTs,
        maxTs: writer.maxTs,
        rows: writer.rows,
        series: writer.count,
        bytes,
        maxSeg: job.maxSeg,
        rolledUp: false,
      });
    }
    return out;
  } catch (err) {
    for (const { writer } of writers.values()) writer.abort();
    throw err;
  }
}

/** Sorts one series' samples by time; of equal times the later arrival wins. Returns the new length. */
function sortDedupe(ts: Float64Array, vs: Float64Array, n: number): number {
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((x, y) => (ts[x] as number) - (ts[y] as number) || x - y);
  const t2 = new Float64Array(n);
  const v2 = new Float64Array(n);
  let m = 0;
  for (const i of idx) {
    if (m > 0 && t2[m - 1] === ts[i]) {
      v2[m - 1] = vs[i] as number;
      continue;
    }
    t2[m] = ts[i] as number;
    v2[m] = vs[i] as number;
    m++;
  }
  ts.set(t2.subarray(0, m));
  vs.set(v2.subarray(0, m));
  return m;
}

/** Rollup rows of time-ordered samples; NaN samples count nowhere, a bucket of only NaN has no row. */
export function rollup(ts: ArrayLike<number>, vs: ArrayLike<number>, n: number, res: number): RollupRows {
  const acc = {
    ts: [] as number[],
    min: [] as number[],
    max: [] as number[],
    sum: [] as number[],
    count: [] as number[],
    last: [] as number[],
    lastTs: [] as number[],
  };
  let bucket = Number.NaN;
  let k = -1;
  for (let i = 0; i < n; i++) {
    const v = vs[i] as number;
    if (Number.isNaN(v)) continue;
    const t = ts[i] as number;
    const b = Math.floor(t / res) * res;
    if (b !== bucket) {
      bucket = b;
      k++;
      acc.ts.push(b);
      acc.min.push(v);
      acc.max.push(v);
      acc.sum.push(v);
      acc.count.push(1);
      acc.last.push(v);
      acc.lastTs.push(t);
      continue;
    }
    if (v < (acc.min[k] as number)) acc.min[k] = v;
    if (v > (acc.max[k] as number)) acc.max[k] = v;
    acc.sum[k] = (acc.sum[k] as number) + v;
    acc.count[k] = (acc.count[k] as number) + 1;
    acc.last[k] = v;
    acc.lastTs[k] = t;
  }
  const r = allocRollup(acc.ts.length);
  r.ts.set(acc.ts);
  r.min.set(acc.min);
  r.max.set(acc.max);
  r.sum.set(acc.sum);
  r.count.set(acc.count);
  r.last.set(acc.last);
  r.lastTs.set(acc.lastTs);
  return r;
}

/** Merges parts of one tier and window into one; inputs in any order. */
export function mergeParts(job: MergeJob): MergeResult {
  const inputs = [...job.inputs].sort((a, b) => a.maxSeg - b.maxSeg);
  const first = inputs[0];
  if (!first) throw new Error('merge of no parts');
  const tier = first.tier;
  const readers = inputs.map((p) => new SequentialReader(partFile(job.dir, p)));
  const writer = new PartWriter(partFile(job.dir, { tier, id: job.id }), tier);
  const rollupWriters: { tier: '1m' | '1h'; window: number; writer: PartWriter; id: string }[] = [];
  if (job.rollup) {
    for (const t of ['1m', '1h'] as const) {
      const id = `${job.id}-${t}`;
      rollupWriters.push({
        tier: t,
        window: windowOf(first.window, job.rollup.windows[t]),
        id,
        writer: new PartWriter(partFile(job.dir, { tier: t, id }), t),
      });
    }
  }
  try {
    const indexes = inputs.map((p, i) => readPartIndexSync(partFile(job.dir, p), (readers[i] as SequentialReader).fd, p.bytes));
    const sections = indexes.map((ix, i) =>
      tier === 'raw' ? readTimestampsSync((readers[i] as SequentialReader).fd, ix) : Buffer.alloc(0),
    );
    const blockOf = (i: number) => (ref: number) => timestampBlock(indexes[i] as PartIndex, sections[i] as Buffer, ref);
    const cursors = new Uint32Array(inputs.length);
    const with_: number[] = [];
    const dead = new Set(job.dead);
    while (true) {
      // The smallest key any input has next.
      let key = Number.POSITIVE_INFINITY;
      for (let i = 0; i < indexes.length; i++) {
        const ix = indexes[i] as { keys: Float64Array };
        const c = cursors[i] as number;
        if (c < ix.keys.length && (ix.keys[c] as number) < key) key = ix.keys[c] as number;
      }
      if (key === Number.POSITIVE_INFINITY) break;
      with_.length = 0;
      for (let i = 0; i < indexes.length; i++) {
        const ix = indexes[i] as { keys: Float64Array };
        if (ix.keys[cursors[i] as number] === key) with_.push(i);
      }
      if (dead.has(key % 2 ** 32)) {
        for (const i of with_) cursors[i] = (cursors[i] as number) + 1;
        continue;
      }
      const chunkOf = (i: number) => {
        const ix = indexes[i] as { offsets: Float64Array };
        const c = cursors[i] as number;
        const off = ix.offsets[c] as number;
        return (readers[i] as SequentialReader).read(off, (ix.offsets[c + 1] as number) - off);
      };
      if (tier !== 'raw') {
        if (with_.length === 1)
          writer.add(key, chunkOf(with_[0] as number), chunkRows(chunkOf(with_[0] as number)), first.minTs, first.minTs);
        else {
          const rows = mergeRollups(with_.map((i) => decodeRollupChunk(chunkOf(i), first.window)));
          const m = rows.ts.length;
          if (m > 0) writer.add(key, encodeRollupChunk(rows, 0, m, first.window), m, rows.ts[0] as number, rows.ts[m - 1] as number);
        }
      } else {
        const unrolled = job.rollup ? with_.filter((i) => !(inputs[i] as PartMeta).rolledUp) : [];
        {
          const decoded = new Map<number, { ts: Float64Array; vs: Float64Array }>();
          // Raw chunks are always re-encoded: their timestamp references are into the input's table.
          for (const i of with_) decoded.set(i, decodeRawChunk(chunkOf(i), first.window, blockOf(i)));
          const merged =
            with_.length === 1
              ? (decoded.get(with_[0] as number) as { ts: Float64Array; vs: Float64Array })
              : mergeRaw(with_.map((i) => decoded.get(i) as { ts: Float64Array; vs: Float64Array }));
          const m = merged.ts.length;
          if (m > 0)
            writer.add(
              key,
              encodeRawChunk(merged.ts, merged.vs, 0, m, first.window, writer.timestamps),
              m,
              merged.ts[0] as number,
              merged.ts[m - 1] as number,
            );
          if (unrolled.length > 0) {
            const fresh =
              unrolled.length === with_.length
                ? merged
                : mergeRaw(unrolled.map((i) => decoded.get(i) as { ts: Float64Array; vs: Float64Array }));
            for (const rw of rollupWriters) {
              const rows = rollup(fresh.ts, fresh.vs, fresh.ts.length, ROLLUP_RESOLUTIONS[rw.tier]);
              const rn = rows.ts.length;
              if (rn > 0)
                rw.writer.add(key, encodeRollupChunk(rows, 0, rn, rw.window), rn, rows.ts[0] as number, rows.ts[rn - 1] as number);
            }
          }
        }
      }
      for (const i of with_) cursors[i] = (cursors[i] as number) + 1;
    }
    const bytes = writer.finish();
    const part: PartMeta = {
      id: job.id,
      tier,
      window: first.window,
      level: job.level,
      minTs: Math.min(...inputs.map((p) => p.minTs)),
      maxTs: Math.max(...inputs.map((p) => p.maxTs)),
      rows: writer.rows,
      series: writer.count,
      bytes,
      maxSeg: Math.max(...inputs.map((p) => p.maxSeg)),
      rolledUp: tier !== 'raw' || job.rollup !== undefined || inputs.every((p) => p.rolledUp),
    };
    const rollups: PartMeta[] = [];
    for (const rw of rollupWriters) {
      if (rw.writer.count === 0) {
        rw.writer.abort();
        continue;
      }
      const b = rw.writer.finish();
      rollups.push({
        id: rw.id,
        tier: rw.tier,
        window: rw.window,
        level: 0,
        minTs: rw.writer.minTs,
        maxTs: rw.writer.maxTs,
        rows: rw.writer.rows,
        series: rw.writer.count,
        bytes: b,
        maxSeg: part.maxSeg,
        rolledUp: true,
      });
    }
    return { part, rollups };
  } catch (err) {
    writer.abort();
    for (const rw of rollupWriters) rw.writer.abort();
    throw err;
  } finally {
    for (const r of readers) r.close();
  }
}

/** Merges decoded raw runs; inputs ordered oldest part first, so on equal times the later input wins. */
export function mergeRaw(runs: { ts: Float64Array; vs: Float64Array }[]): { ts: Float64Array; vs: Float64Array } {
  const ordered = runs.map((r, i) => ({ r, i })).filter((x) => x.r.ts.length > 0);
  ordered.sort((a, b) => (a.r.ts[0] as number) - (b.r.ts[0] as number) || a.i - b.i);
  let disjoint = true;
  for (let k = 1; k < ordered.length; k++) {
    const prev = (ordered[k - 1] as { r: { ts: Float64Array } }).r.ts;
    if ((prev[prev.length - 1] as number) >= ((ordered[k] as { r: { ts: Float64Array } }).r.ts[0] as number)) disjoint = false;
  }
  const total = ordered.reduce((n, x) => n + x.r.ts.length, 0);
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  if (disjoint) {
    let at = 0;
    for (const { r } of ordered) {
      ts.set(r.ts, at);
      vs.set(r.vs, at);
      at += r.ts.length;
    }
    return { ts, vs };
  }
  const all: { t: number; v: number; rank: number }[] = [];
  for (const { r, i } of ordered) for (let j = 0; j < r.ts.length; j++) all.push({ t: r.ts[j] as number, v: r.vs[j] as number, rank: i });
  all.sort((a, b) => a.t - b.t || a.rank - b.rank);
  let m = 0;
  for (const p of all) {
    if (m > 0 && ts[m - 1] === p.t) {
      vs[m - 1] = p.v;
      continue;
    }
    ts[m] = p.t;
    vs[m] = p.v;
    m++;
  }
  return { ts: ts.subarray(0, m), vs: vs.subarray(0, m) };
}

/** Combines rollup rows of the same buckets from several parts. */
export function mergeRollups(parts: RollupRows[]): RollupRows {
  const rows: { i: number; p: RollupRows }[] = [];
  for (const p of parts) for (let i = 0; i < p.ts.length; i++) rows.push({ i, p });
  rows.sort((a, b) => (a.p.ts[a.i] as number) - (b.p.ts[b.i] as number));
  const out = allocRollup(rows.length);
  let m = -1;
  for (const { i, p } of rows) {
    const t = p.ts[i] as number;
    if (m >= 0 && out.ts[m] === t) {
      out.min[m] = Math.min(out.min[m] as number, p.min[i] as number);
      out.max[m] = Math.max(out.max[m] as number, p.max[i] as number);
      out.sum[m] = (out.sum[m] as number) + (p.sum[i] as number);
      out.count[m] = (out.count[m] as number) + (p.count[i] as number);
      if ((p.lastTs[i] as number) >= (out.lastTs[m] as number)) {
        out.last[m] = p.last[i] as number;
        out.lastTs[m] = p.lastTs[i] as number;
      }
      continue;
    }
    m++;
    out.ts[m] = t;
    out.min[m] = p.min[i] as number;
    out.max[m] = p.max[i] as number;
    out.sum[m] = p.sum[i] as number;
    out.count[m] = p.count[i] as number;
    out.last[m] = p.last[i] as number;
    out.lastTs[m] = p.lastTs[i] as number;
  }
  const n = m + 1;
  return {
    ts: out.ts.subarray(0, n),
    min: out.min.subarray(0, n),
    max: out.max.subarray(0, n),
    sum: out.sum.subarray(0, n),
    count: out.count.subarray(0, n),
    last: out.last.subarray(0, n),
    lastTs: out.lastTs.subarray(0, n),
  };
}
