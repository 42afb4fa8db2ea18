/**
 * The embedded store: no server to run, files under the data directory.
 *
 *   appendReport -> head (memory) + write-ahead log (group commit, acked when synced)
 *   head full or old -> frozen -> worker writes raw, 1 m and 1 h parts -> manifest -> WAL dropped
 *   worker merges parts of one window in the background; retention drops whole windows
 *
 * The manifest (written atomically) lists the live parts, how far the WAL is flushed, the
 * series log's valid length and each agent's last sequence at that point. Anything not in the
 * manifest is rebuilt from the WAL on open, so a crash at any moment loses nothing acknowledged.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { type FileHandle, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { decodeRawChunk, decodeRollupChunk } from '../codec/chunk.ts';
import {
  AcrossGroups,
  type BucketAccumulator,
  bestK,
  chooseTier,
  DEFAULT_RETENTION,
  FUTURE_SLACK_MS,
  type Grid,
  labelsMatch,
  makeGrid,
  SeriesAccumulators,
  type TierName,
  topKStepMs,
} from '../query.ts';
import { localKey } from '../series-key.ts';
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
} from '../types.ts';
import { mergeRaw, partFile, type TierWindows } from './build.ts';
import { Head } from './head.ts';
import { JobWorker } from './jobs.ts';
import { lowerBound, type PartIndex, type PartMeta, readPartIndex, timestampBlock } from './part.ts';
import { SeriesDictionary } from './series.ts';
import { RECORD_REPORT, readSegment, WalSegment, type WalStats } from './wal.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface EmbeddedStoreOptions {
  /** Directory of the store's files (created when missing). */
  dir: string;
  /** How long each tier keeps data, in ms. */
  retention?: Partial<Record<TierName, number>>;
  /** Total bytes of parts and log beyond which the oldest windows go; 0 = no cap. */
  maxBytes?: number;
  /** Samples the head holds before it is flushed, at least (it grows to 8 per series, up to 8 times this). */
  headMaxSamples?: number;
  /** Age at which a non-empty head is flushed anyway. */
  headMaxAgeMs?: number;
  /** Width of each tier's time windows (a part never spans two). */
  windows?: Partial<TierWindows>;
  /** Parts of one level in one window that trigger a merge. */
  compactFanIn?: number;
  /** How often retention, the size cap and head age are checked. */
  maintenanceIntervalMs?: number;
  now?: () => number;
  log?: StoreLog;
}

const silentLog: StoreLog = { info() {}, warn() {}, error() {} };

export const DEFAULT_WINDOWS: TierWindows = { raw: 2 * HOUR, '1m': DAY, '1h': 30 * DAY };
/** A window takes no more late data this long after it ends; then it is merged into one part. */
const WINDOW_GRACE_MS = 10 * 60_000;

interface Manifest {
  version: 1;
  nextJob: number;
  /** Every WAL segment numbered <= this is in parts. */
  checkpoint: number;
  seriesLogBytes: number;
  parts: PartMeta[];
  seqs: Record<string, number>;
  /** Per tier, data before this time was dropped by the size cap. */
  droppedBefore: Partial<Record<TierName, number>>;
}

interface OpenPart {
  meta: PartMeta;
  fh: FileHandle;
  index: PartIndex;
  refs: number;
  dropped: boolean;
  /** The shared timestamp columns, read on first use and kept. */
  timestamps?: Promise<Buffer>;
}

const TIERS: readonly TierName[] = ['raw', '1m', '1h'];

export class EmbeddedStore implements Store {
  readonly #dir: string;
  readonly #retention: Record<TierName, number>;
  readonly #windows: TierWindows;
  readonly #maxBytes: number;
  readonly #headMax: number;
  readonly #headAge: number;
  readonly #fanIn: number;
  readonly #now: () => number;
  readonly #log: StoreLog;
  readonly #series = new SeriesDictionary();
  #manifest: Manifest;
  readonly #parts = new Map<string, OpenPart>();
  #head!: Head;
  readonly #frozen: Head[] = [];
  #segment!: WalSegment;
  #spare: WalSegment | undefined;
  #sparePending: Promise<WalSegment> | undefined;
  #nextSegment = 1;
  readonly #accepted = new Map<string, number>();
  readonly #durable = new Map<string, number>();
  readonly #pendingOf = new Map<string, Promise<void>>();
  readonly #walStats: WalStats = { syncs: 0, bytes: 0 };
  #flushChain: Promise<void> = Promise.resolve();
  #flushing = 0;
  #compacting: Promise<void> | undefined;
  #failed: Error | undefined;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #flusher: JobWorker;
  readonly #compactor: JobWorker;
  #compactions = 0;
  #outOfBounds = 0;
  #appends = 0;
  #appendMs = 0;
  readonly #written: Record<TierName, number> = { raw: 0, '1m': 0, '1h': 0 };

  private constructor(opts: EmbeddedStoreOptions, manifest: Manifest) {
    this.#dir = opts.dir;
    this.#retention = { ...DEFAULT_RETENTION, ...opts.retention };
    this.#windows = { ...DEFAULT_WINDOWS, ...opts.windows };
    this.#maxBytes = opts.maxBytes ?? 0;
    this.#headMax = opts.headMaxSamples ?? 2_000_000;
    this.#headAge = opts.headMaxAgeMs ?? 5 * 60_000;
    this.#fanIn = opts.compactFanIn ?? 8;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? silentLog;
    this.#manifest = manifest;
    this.#flusher = new JobWorker('falconet-store-flush');
    this.#compactor = new JobWorker('falconet-store-compact');
  }

  /** Opens (or creates) the store, replaying whatever the log holds beyond the last flush. */
  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const dir = opts.dir;
    // Owner-only like the rest of the data directory (docs/server.md).
    mkdirSync(join(dir, 'parts'), { recursive: true, mode: PRIVATE_DIR_MODE });
    mkdirSync(join(dir, 'wal'), { recursive: true, mode: PRIVATE_DIR_MODE });
    const manifest = readManifest(join(dir, 'manifest.json'));
    const store = new EmbeddedStore(opts, manifest);
    try {
      await store.#recover();
    } catch (err) {
      await store.#flusher.close();
      await store.#compactor.close();
      throw err;
    }
    return store;
  }

  async #recover(): Promise<void> {
    const m = this.#manifest;
    const dir = this.#dir;
    // Parts the manifest does not list are leftovers of a flush or merge cut short.
    const listed = new Set(m.parts.map((p) => `${p.tier}-${p.id}.part`));
    for (const f of readdirSync(join(dir, 'parts'))) {
      if (!listed.has(f)) rmSync(join(dir, 'parts', f), { force: true });
    }
    for (const meta of m.parts) await this.#openPart(meta);
    const seriesLog = join(dir, 'series.log');
    try {
      truncateSync(seriesLog, m.seriesLogBytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || m.seriesLogBytes > 0) throw err;
    }
    this.#series.load(seriesLog, m.seriesLogBytes);
    for (const [agent, seq] of Object.entries(m.seqs)) {
      this.#accepted.set(agent, seq);
      this.#durable.set(agent, seq);
    }
    const segments = readdirSync(join(dir, 'wal'))
      .map((f) => /^(\d+)\.wal$/.exec(f))
      .filter((x): x is RegExpExecArray => x !== null)
      .map((x) => Number(x[1]))
      .sort((a, b) => a - b);
    for (const n of segments) if (n <= m.checkpoint) rmSync(this.#segmentFile(n), { force: true });
    const replay = segments.filter((n) => n > m.checkpoint);
    this.#nextSegment = Math.max(m.checkpoint, ...segments, 0) + 1;
    // Everything beyond the checkpoint goes into one head, so one flush covers whole segments.
    const records: ReturnType<typeof decodeReport>[] = [];
    for (const n of replay) {
      const file = this.#segmentFile(n);
      const { bodies, validBytes, size } = readSegment(file);
      if (validBytes < size) {
        this.#log.warn({ segment: n, validBytes, size }, 'write-ahead log ends in a torn record; it was never acknowledged');
        truncateSync(file, validBytes);
      }
      for (const body of bodies) records.push(decodeReport(body));
    }
    const total = records.reduce((k, r) => k + r.sid.length, 0);
    const recovered = new Head(Math.max(1, total), replay, this.#now(), this.#series.size);
    for (const rec of records) {
      for (const d of rec.defs) if (d.id >= this.#series.size) this.#series.define(d.id, rec.agentId, d.key);
      if (rec.seq === 0) {
        // An operator's reset of the agent's sequence (resetSeq).
        this.#accepted.delete(rec.agentId);
        this.#durable.delete(rec.agentId);
        continue;
      }
      if (rec.seq <= (this.#accepted.get(rec.agentId) ?? 0)) continue;
      this.#accepted.set(rec.agentId, rec.seq);
      this.#durable.set(rec.agentId, rec.seq);
      for (let i = 0; i < rec.sid.length; i++) recovered.append(rec.sid[i] as number, rec.ts[i] as number, rec.vs[i] as number);
    }
    if (replay.length) this.#log.info({ segments: replay.length, samples: recovered.n }, 'store replayed its write-ahead log');
    this.#segment = await WalSegment.create(this.#segmentFile(this.#nextSegment), this.#nextSegment++, this.#walStats);
    this.#head = new Head(this.#headLimit(), [this.#segment.number], this.#now(), this.#series.size);
    if (replay.length) this.#freeze(recovered, undefined);
    this.#prepareSpare();
    this.#timer = setInterval(() => this.#maintain(), 1000);
    this.#timer.unref();
  }

  #segmentFile(n: number): string {
    return join(this.#dir, 'wal', `${String(n).padStart(10, '0')}.wal`);
  }

  async #openPart(meta: PartMeta): Promise<OpenPart> {
    const file = partFile(this.#dir, meta);
    const fh = await open(file, 'r');
    try {
      const index = await readPartIndex(file, fh, meta.bytes);
      const p: OpenPart = { meta, fh, index, refs: 0, dropped: false };
      this.#parts.set(meta.id, p);
      return p;
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  #prepareSpare(): void {
    if (this.#spare || this.#sparePending || this.#closed) return;
    const n = this.#nextSegment++;
    this.#sparePending = WalSegment.create(this.#segmentFile(n), n, this.#walStats).then(
      (seg) => {
        this.#spare = seg;
        this.#sparePending = undefined;
        return seg;
      },
      (err: Error) => {
        this.#sparePending = undefined;
        this.#fail(err);
        throw err;
      },
    );
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    this.#log.error({ err: err.message }, 'store failed; it refuses writes until restarted');
  }

  // ---------------------------------------------------------------- ingest

  async appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new Error('store is closed');
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`report sequence ${seq} is not a positive integer`);
    if ((this.#accepted.get(agentId) ?? 0) >= seq) {
      // Stored or being stored: answer once whatever holds it is durable.
      await this.#pendingOf.get(agentId);
      return { duplicate: true };
    }
    if (this.#head.free < samples.length || !this.#spare) {
      await this.#ensureSpare();
      if (this.#failed) throw this.#failed;
      // Another report may have taken the sequence while this one waited.
      if ((this.#accepted.get(agentId) ?? 0) >= seq) {
        await this.#pendingOf.get(agentId);
        return { duplicate: true };
      }
      if (this.#head.free < samples.length) {
        if (this.#head.n > 0) this.#rotate();
        if (this.#head.free < samples.length) this.#head = new Head(samples.length, this.#head.segments, this.#now(), this.#series.size);
      }
    }
    this.#accepted.set(agentId, seq);
    const head = this.#head;
    const now = this.#now();
    const oldest = now - this.#retention.raw;
    const newest = now + FUTURE_SLACK_MS;
    const defs: { id: number; key: string }[] = [];
    const start = head.n;
    for (const s of samples) {
      const t = s.timestampMs;
      if (!(t >= oldest && t <= newest) || !Number.isInteger(t)) {
        this.#outOfBounds++;
        continue;
      }
      const key = localKey(s.name, s.labels);
      let id = this.#series.get(agentId, key);
      if (id === undefined) {
        id = this.#series.size;
        this.#series.define(id, agentId, key);
        defs.push({ id, key });
      }
      head.append(id, t, s.value);
    }
    const end = head.n;
    const frame = encodeReport(agentId, seq, defs, head, start, end);
    const startedMs = performance.now();
    const durable = this.#segment.append(frame);
    this.#pendingOf.set(
      agentId,
      durable.catch(() => undefined),
    );
    try {
      await durable;
    } catch (err) {
      this.#fail(err as Error);
      throw err;
    }
    if ((this.#durable.get(agentId) ?? 0) < seq) this.#durable.set(agentId, seq);
    this.#appends++;
    this.#appendMs += performance.now() - startedMs;
    if (this.#head === head && head.n >= head.capacity && this.#spare) this.#rotate();
    return { duplicate: false };
  }

  async lastSeq(agentId: string): Promise<number> {
    return this.#durable.get(agentId) ?? 0;
  }

  async resetSeq(agentId: string): Promise<number> {
    if (this.#failed) throw this.#failed;
    if (this.#closed) throw new Error('store is closed');
    // What is being stored for the agent lands first.
    await this.#pendingOf.get(agentId);
    const previous = this.#accepted.get(agentId) ?? 0;
    if (previous === 0) return 0;
    this.#accepted.delete(agentId);
    this.#durable.delete(agentId);
    // A report frame numbered 0, which no report has: replaying the log applies the reset in its place.
    const head = this.#head;
    const durable = this.#segment.append(encodeReport(agentId, 0, [], head, head.n, head.n));
    this.#pendingOf.set(
      agentId,
      durable.catch(() => undefined),
    );
    try {
      await durable;
    } catch (err) {
      this.#fail(err as Error);
      throw err;
    }
    return previous;
  }

  async #ensureSpare(): Promise<void> {
    this.#prepareSpare();
    if (!this.#spare) await this.#sparePending;
  }

  async #rotateWhenReady(): Promise<void> {
    await this.#ensureSpare();
    if (this.#head.n > 0) this.#rotate();
  }

  /**
   * Samples a head takes: the configured floor, grown to 8 per series (up to 8 times the floor)
   * so a flush writes runs long enough to compress, however many series there are.
   */
  #headLimit(): number {
    return Math.max(this.#headMax, Math.min(8 * this.#series.size, 8 * this.#headMax));
  }

  /** Freezes the head and starts a new head on the spare log segment. Synchronous. */
  #rotate(): void {
    const spare = this.#spare;
    if (!spare || this.#head.n === 0) return;
    this.#spare = undefined;
    const old = this.#head;
    const oldSeg = this.#segment;
    this.#segment = spare;
    this.#head = new Head(this.#headLimit(), [spare.number], this.#now(), this.#series.size);
    this.#freeze(old, oldSeg);
    this.#prepareSpare();
  }

  #freeze(head: Head, segment: WalSegment | undefined): void {
    head.seriesAtFreeze = this.#series.size;
    head.seqsAtFreeze = new Map(this.#accepted);
    this.#frozen.push(head);
    this.#flushing++;
    this.#flushChain = this.#flushChain
      .then(() => this.#flushFrozen(head, segment))
      .catch((err: Error) => this.#fail(err))
      .finally(() => this.#flushing--);
  }

  async #flushFrozen(head: Head, segment: WalSegment | undefined): Promise<void> {
    if (this.#failed) return;
    await segment?.seal();
    const seriesLogBytes = await this.#series.appendToLog(
      join(this.#dir, 'series.log'),
      head.seriesAtFreeze,
      this.#manifest.seriesLogBytes,
    );
    const metas =
      head.n > 0
        ? await this.#flusher.flush({
            type: 'flush',
            dir: this.#dir,
            idPrefix: `f${this.#manifest.nextJob++}`,
            sid: head.sid,
            ts: head.ts,
            vs: head.vs,
            n: head.n,
            nameOrd: this.#series.nameOrdinals().slice(0, head.seriesAtFreeze),
            windows: this.#windows,
            maxSeg: Math.max(...head.segments),
          })
        : [];
    const opened: OpenPart[] = [];
    for (const meta of metas) {
      opened.push(await this.#openPart(meta));
      this.#written[meta.tier] += meta.rows;
    }
    // Opening registered the parts; they count for queries only once the head is gone (below).
    for (const p of opened) this.#parts.delete(p.meta.id);
    const seqs = Object.fromEntries(head.seqsAtFreeze ?? []);
    const next: Manifest = {
      ...this.#manifest,
      checkpoint: Math.max(this.#manifest.checkpoint, ...head.segments),
      seriesLogBytes,
      parts: [...this.#manifest.parts, ...metas],
      seqs,
    };
    await this.#writeManifest(next);
    for (const p of opened) this.#parts.set(p.meta.id, p);
    this.#frozen.splice(this.#frozen.indexOf(head), 1);
    for (const n of head.segments) await rm(this.#segmentFile(n), { force: true });
    this.#scheduleCompaction();
  }

  async #writeManifest(next: Manifest): Promise<void> {
    const file = join(this.#dir, 'manifest.json');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(next), { mode: PRIVATE_FILE_MODE });
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const d = await open(this.#dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    this.#manifest = next;
  }

  // ------------------------------------------------------------ maintenance

  #maintaining = false;

  #maintain(): void {
    if (this.#closed || this.#failed || this.#maintaining) return;
    const now = this.#now();
    if (this.#head.n > 0 && now - this.#head.createdMs >= this.#headAge && this.#spare) this.#rotate();
    this.#maintaining = true;
    this.#applyRetention(now)
      .catch((err: Error) => this.#log.error({ err: err.message }, 'retention failed'))
      .finally(() => {
        this.#maintaining = false;
      });
    this.#scheduleCompaction();
  }

  /** Serialises manifest edits made outside the flush chain. */
  #edit<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#flushChain.then(fn);
    this.#flushChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #applyRetention(now: number): Promise<void> {
    const drop = new Set<string>();
    for (const p of this.#manifest.parts) {
      // Raw data is rolled up before it may go (sealing follows soon after its window closes).
      if (p.window + this.#windows[p.tier] <= now - this.#retention[p.tier] && p.rolledUp) drop.add(p.id);
    }
    const droppedBefore = { ...this.#manifest.droppedBefore };
    if (this.#maxBytes > 0) {
      let total = this.#walBytes();
      for (const p of this.#manifest.parts) if (!drop.has(p.id)) total += p.bytes;
      while (total > this.#maxBytes) {
        const victim = this.#oldestDroppableWindow(drop);
        if (!victim) break;
        for (const p of this.#manifest.parts) {
          if (p.tier === victim.tier && p.window === victim.window && !drop.has(p.id)) {
            drop.add(p.id);
            total -= p.bytes;
          }
        }
        droppedBefore[victim.tier] = Math.max(droppedBefore[victim.tier] ?? 0, victim.window + this.#windows[victim.tier]);
        this.#log.warn(
          { tier: victim.tier, window: new Date(victim.window).toISOString(), maxBytes: this.#maxBytes },
          'size cap reached: dropped the oldest window',
        );
      }
    }
    if (drop.size === 0) return;
    await this.#edit(async () => {
      const next: Manifest = { ...this.#manifest, droppedBefore, parts: this.#manifest.parts.filter((p) => !drop.has(p.id)) };
      await this.#writeManifest(next);
      for (const id of drop) this.#release(id);
    });
  }

  /** The oldest window of the finest tier that has more than its newest window. */
  #oldestDroppableWindow(excluded: Set<string>): { tier: TierName; window: number } | undefined {
    for (const tier of TIERS) {
      const parts = this.#manifest.parts.filter((p) => p.tier === tier && !excluded.has(p.id));
      // A raw window not rolled up yet would take its data out of every tier.
      const unrolled = new Set(parts.filter((p) => !p.rolledUp).map((p) => p.window));
      const windows = [...new Set(parts.map((p) => p.window))].filter((w) => !unrolled.has(w)).sort((a, b) => a - b);
      const newest = Math.max(...parts.map((p) => p.window));
      if (windows.length > 0 && (windows[0] as number) < newest) return { tier, window: windows[0] as number };
    }
    return undefined;
  }

  #walBytes(): number {
    return this.#segment.bytes + (this.#spare?.bytes ?? 0);
  }

  #release(id: string): void {
    const p = this.#parts.get(id);
    if (!p) return;
    this.#parts.delete(id);
    p.dropped = true;
    if (p.refs === 0) void this.#closePart(p);
  }

  async #closePart(p: OpenPart): Promise<void> {
    await p.fh.close().catch(() => undefined);
    await rm(partFile(this.#dir, p.meta), { force: true });
  }

  #scheduleCompaction(): void {
    if (this.#compacting || this.#closed || this.#failed) return;
    const job = this.#pickMerge(this.#now());
    if (!job) return;
    this.#compacting = this.#compact(job.inputs, job.level, job.seal)
      .catch((err: Error) => this.#log.error({ err: err.message }, 'compaction failed; inputs kept'))
      .finally(() => {
        this.#compacting = undefined;
        this.#scheduleCompaction();
      });
  }

  #pickMerge(now: number): { inputs: PartMeta[]; level: number; seal: boolean } | undefined {
    const groups = new Map<string, PartMeta[]>();
    for (const p of this.#manifest.parts) {
      const k = `${p.tier}:${p.window}`;
      const g = groups.get(k);
      if (g) g.push(p);
      else groups.set(k, [p]);
    }
    for (const parts of groups.values()) {
      const first = parts[0] as PartMeta;
      const closed = first.window + this.#windows[first.tier] + WINDOW_GRACE_MS < now;
      const seal = first.tier === 'raw' ? parts.length > 1 || parts.some((p) => !p.rolledUp) : parts.length > 1;
      if (closed && seal) return { inputs: parts, level: Math.max(...parts.map((p) => p.level)) + 1, seal: true };
      const byLevel = new Map<number, PartMeta[]>();
      for (const p of parts) {
        const l = byLevel.get(p.level);
        if (l) l.push(p);
        else byLevel.set(p.level, [p]);
      }
      for (const [level, ps] of byLevel) if (ps.length >= this.#fanIn) return { inputs: ps, level: level + 1, seal: false };
    }
    return undefined;
  }

  async #compact(inputs: PartMeta[], level: number, seal: boolean): Promise<void> {
    const id = `m${this.#manifest.nextJob++}`;
    const tier = (inputs[0] as PartMeta).tier;
    const rollup = seal && tier === 'raw' ? { windows: this.#windows } : undefined;
    const first = inputs[0] as PartMeta;
    this.#log.info(
      {
        tier,
        window: new Date(first.window).toISOString(),
        parts: inputs.length,
        level,
        seal,
        bytes: inputs.reduce((n, p) => n + p.bytes, 0),
      },
      'merging parts',
    );
    const { part, rollups } = await this.#compactor.merge({
      type: 'merge',
      dir: this.#dir,
      id,
      inputs,
      level,
      ...(rollup ? { rollup } : {}),
    });
    const opened: OpenPart[] = [];
    for (const meta of [part, ...rollups]) {
      opened.push(await this.#openPart(meta));
      this.#parts.delete(meta.id);
    }
    await this.#edit(async () => {
      const gone = new Set(inputs.map((p) => p.id));
      // Retention may have dropped the inputs meanwhile; then the merged parts go too.
      if (!this.#manifest.parts.some((p) => gone.has(p.id))) {
        for (const p of opened) await this.#closePart(p);
        return;
      }
      const next: Manifest = { ...this.#manifest, parts: [...this.#manifest.parts.filter((p) => !gone.has(p.id)), part, ...rollups] };
      await this.#writeManifest(next);
      for (const p of opened) this.#parts.set(p.meta.id, p);
      for (const p of inputs) this.#release(p.id);
      for (const r of rollups) this.#written[r.tier] += r.rows;
      this.#compactions++;
    });
  }

  /** Waits for flushes and merges in flight, then flushes the head and runs retention. */
  async flush(): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#head.n > 0) await this.#rotateWhenReady();
    await this.#flushChain;
    await this.#applyRetention(this.#now());
    while (this.#compacting) await this.#compacting;
    if (this.#failed) throw this.#failed;
  }

  /** Seals every window now, open or not (tests and benchmarks measure the settled layout). */
  async compactAll(): Promise<void> {
    await this.flush();
    for (const tier of TIERS) {
      while (true) {
        while (this.#compacting) await this.#compacting;
        const groups = new Map<number, PartMeta[]>();
        for (const p of this.#manifest.parts) if (p.tier === tier) groups.set(p.window, [...(groups.get(p.window) ?? []), p]);
        const g = [...groups.values()].find((ps) => ps.length > 1 || (tier === 'raw' && ps.some((p) => !p.rolledUp)));
        if (!g) break;
        await this.#compact(g, Math.max(...g.map((p) => p.level)) + 1, true);
      }
    }
  }

  // ----------------------------------------------------------------- queries

  #oldestKept(tier: TierName): number {
    return Math.max(this.#now() - this.#retention[tier], this.#manifest.droppedBefore[tier] ?? 0);
  }

  #seriesFor(name: string, agentIds: readonly string[] | undefined, labels: Readonly<Record<string, string>> | undefined): number[] {
    const ids = this.#series.ofName(name, agentIds);
    if (!labels || Object.keys(labels).length === 0) return ids;
    return ids.filter((id) => labelsMatch(this.#series.labelsOf(id), labels));
  }

  /** Parts of a tier overlapping [from, to], pinned until `release`. */
  #pin(tier: TierName, from: number, to: number): OpenPart[] {
    const out: OpenPart[] = [];
    for (const p of this.#parts.values()) {
      const m = p.meta;
      if (m.tier !== tier || m.window > to || m.window + this.#windows[tier] <= from) continue;
      p.refs++;
      out.push(p);
    }
    return out;
  }

  #unpin(parts: OpenPart[]): void {
    for (const p of parts) {
      p.refs--;
      if (p.dropped && p.refs === 0) void this.#closePart(p);
    }
  }

  /** Decodes a raw chunk of part `p`, whose timestamps may live in the part's shared table. */
  async #rawDecoder(p: OpenPart): Promise<(bytes: Uint8Array) => { ts: Float64Array; vs: Float64Array }> {
    const { tsOffsets } = p.index;
    const start = tsOffsets[0] as number;
    const len = (tsOffsets[tsOffsets.length - 1] as number) - start;
    p.timestamps ??= (async () => {
      const b = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await p.fh.read(b, got, len - got, start + got);
        if (bytesRead === 0) throw new Error(`part ${p.meta.id} ends inside its timestamp columns`);
        got += bytesRead;
      }
      return b;
    })();
    const section = await p.timestamps;
    return (bytes) => decodeRawChunk(bytes, p.meta.window, (ref) => timestampBlock(p.index, section, ref));
  }

  /**
   * Reads the chunks of `ids` from one part with few large reads (chunks of one metric sit
   * together), calling `fn` with each chunk's bytes.
   */
  async #readChunks(p: OpenPart, ids: readonly number[], fn: (id: number, bytes: Buffer) => void): Promise<void> {
    const { keys, offsets } = p.index;
    const hits: { id: number; start: number; end: number }[] = [];
    for (const id of ids) {
      const key = this.#series.sortKey(id);
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
      reads.push(
        (async () => {
          const buf = Buffer.allocUnsafe(end - base);
          let got = 0;
          while (got < buf.length) {
            const { bytesRead } = await p.fh.read(buf, got, buf.length - got, base + got);
            if (bytesRead === 0) throw new Error(`part ${p.meta.id} is shorter than its index`);
            got += bytesRead;
          }
          for (const h of group) fn(h.id, buf.subarray(h.start - base, h.end - base));
        })(),
      );
      i = j;
    }
    await Promise.all(reads);
  }

  /** Raw points of each series in [from, to], merged across parts and heads, in time order. */
  async #rawPoints(ids: readonly number[], from: number, to: number): Promise<Map<number, { ts: Float64Array; vs: Float64Array }>> {
    const parts = this.#pin('raw', from, to).filter((p) => p.meta.maxTs >= from && p.meta.minTs <= to);
    const heads = [...this.#frozen, this.#head];
    const runs = new Map<number, { rank: number; ts: Float64Array; vs: Float64Array }[]>();
    const push = (id: number, rank: number, ts: Float64Array, vs: Float64Array) => {
      const l = runs.get(id);
      if (l) l.push({ rank, ts, vs });
      else runs.set(id, [{ rank, ts, vs }]);
    };
    try {
      await Promise.all(
        parts.map(async (p) => {
          const decode = await this.#rawDecoder(p);
          await this.#readChunks(p, ids, (id, bytes) => {
            const d = decode(bytes);
            push(id, p.meta.maxSeg, d.ts, d.vs);
          });
        }),
      );
    } finally {
      this.#unpin(parts);
    }
    for (const h of heads) {
      const rank = Math.max(...h.segments, 0) + 0.5;
      for (const id of ids) {
        const ts: number[] = [];
        const vs: number[] = [];
        h.forEach(id, from, to, (t, v) => {
          ts.push(t);
          vs.push(v);
        });
        if (!ts.length) continue;
        ts.reverse();
        vs.reverse();
        const sorted = ts.every((t, i) => i === 0 || t > (ts[i - 1] as number));
        const T = Float64Array.from(ts);
        const V = Float64Array.from(vs);
        const [st, sv] = sorted ? [T, V] : sortRun(T, V);
        push(id, rank, st, sv);
      }
    }
    const out = new Map<number, { ts: Float64Array; vs: Float64Array }>();
    for (const [id, rs] of runs) {
      rs.sort((a, b) => a.rank - b.rank);
      const merged = mergeRaw(rs);
      let a = 0;
      while (a < merged.ts.length && (merged.ts[a] as number) < from) a++;
      let b = merged.ts.length;
      while (b > a && (merged.ts[b - 1] as number) > to) b--;
      out.set(id, { ts: merged.ts.subarray(a, b), vs: merged.vs.subarray(a, b) });
    }
    return out;
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
    const parts = this.#pin(tier, lo, hi).filter((p) => p.meta.maxTs >= lo - this.#windows[tier] && p.meta.minTs <= hi);
    // Raw data not rolled up yet (windows still open) is aggregated on the fly.
    const fresh = this.#pin('raw', lo, hi).filter((p) => !p.meta.rolledUp && p.meta.maxTs >= lo && p.meta.minTs <= hi);
    try {
      await Promise.all(
        fresh.map(async (p) => {
          const decode = await this.#rawDecoder(p);
          await this.#readChunks(p, ids, (id, bytes) => {
            const d = decode(bytes);
            const a = accs.of(id);
            for (let i = 0; i < d.ts.length; i++) {
              const t = d.ts[i] as number;
              if (t >= lo && t <= hi) a.addRaw(t, d.vs[i] as number);
            }
          });
        }),
      );
      await Promise.all(
        parts.map((p) =>
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
      this.#unpin(parts);
      this.#unpin(fresh);
    }
    for (const h of [...this.#frozen, this.#head]) {
      for (const id of ids) {
        if (!h.has(id)) continue;
        h.forEach(id, lo, hi, (t, v) => accs.of(id).addRaw(t, v));
      }
    }
    return accs;
  }

  async querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
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
        return { name: q.name, labels: this.#series.labelsOf(id), points };
      });
    }
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    const accs = await this.#accumulate(tier, ids, grid, q.fromMs, q.toMs, agg === 'p95');
    return ids.map((id) => ({ name: q.name, labels: this.#series.labelsOf(id), points: accs.get(id)?.points(agg) ?? [], stepMs }));
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

  async queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    const ids = this.#seriesFor(q.name, q.agentIds, q.labels);
    const agg: Aggregation = q.agg ?? 'avg';
    const { tier, stepMs } = chooseTier(Math.max(1, q.stepMs), q.fromMs, agg, (t) => this.#oldestKept(t));
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    const groups = new AcrossGroups(q, grid);
    await this.#scan(ids, tier, grid, q.fromMs, q.toMs, agg === 'p95', (id, acc) => {
      groups.add(this.#series.agentOf[id] as string, this.#series.labelsOf(id), acc);
    });
    return groups.results(stepMs);
  }

  async topK(q: TopKQuery): Promise<TopKEntry[]> {
    const ids = this.#seriesFor(q.name, q.agentIds, q.labels);
    const { tier, stepMs } = chooseTier(topKStepMs(q), q.fromMs, q.agg, (t) => this.#oldestKept(t));
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    const out: TopKEntry[] = [];
    await this.#scan(ids, tier, grid, q.fromMs, q.toMs, q.agg === 'p95', (id, acc) => {
      const value = acc.overall(q.agg);
      if (!Number.isNaN(value)) out.push({ agentId: this.#series.agentOf[id] as string, labels: this.#series.labelsOf(id), value });
    });
    return bestK(out, q);
  }

  async metricNames(agentId?: string): Promise<string[]> {
    return this.#series.names(agentId);
  }

  async stats(): Promise<StoreStats> {
    const bytes: Record<string, number> = { raw: 0, '1m': 0, '1h': 0, wal: this.#walBytes() };
    const rows: Record<string, number> = { raw: 0, '1m': 0, '1h': 0 };
    for (const p of this.#manifest.parts) {
      bytes[p.tier] = (bytes[p.tier] ?? 0) + p.bytes;
      rows[p.tier] = (rows[p.tier] ?? 0) + p.rows;
    }
    return {
      engine: 'embedded',
      series: this.#series.size,
      bytes,
      samples: rows,
      parts: this.#manifest.parts.length,
      headSamples: this.#head.n + this.#frozen.reduce((n, h) => n + h.n, 0),
      compactions: this.#compactions,
      outOfBounds: this.#outOfBounds,
      walSyncs: this.#walStats.syncs,
      appends: this.#appends,
      appendSeconds: this.#appendMs / 1000,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#sparePending?.catch(() => undefined);
    // Whatever is in the head stays in the log and is replayed on the next open.
    await this.#segment.seal().catch(() => undefined);
    await this.#spare?.seal().catch(() => undefined);
    await this.#flushChain.catch(() => undefined);
    while (this.#compacting) await this.#compacting;
    await this.#flusher.close();
    await this.#compactor.close();
    for (const p of this.#parts.values()) await p.fh.close().catch(() => undefined);
    this.#parts.clear();
  }
}

function sortRun(ts: Float64Array, vs: Float64Array): [Float64Array, Float64Array] {
  const idx = Array.from(ts.keys()).sort((a, b) => (ts[a] as number) - (ts[b] as number) || a - b);
  return [Float64Array.from(idx, (i) => ts[i] as number), Float64Array.from(idx, (i) => vs[i] as number)];
}

function readManifest(file: string): Manifest {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { version: 1, nextJob: 1, checkpoint: 0, seriesLogBytes: 0, parts: [], seqs: {}, droppedBefore: {} };
    }
    throw err;
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new Error(
      `store manifest ${file} is not valid JSON (${(err as Error).message}); restore it from a backup or move the directory away`,
    );
  }
  if (m.version !== 1) throw new Error(`store manifest ${file}: unknown version ${String(m.version)}`);
  m.droppedBefore ??= {};
  return m;
}

// Report record: u8 type, u8 0, u16 agent length, agent, f64 seq, u32 definitions, each
// (u32 id, u32 key length, key), u32 n, then u32 series ids[n], f64 times[n], f64 values[n].
function encodeReport(
  agentId: string,
  seq: number,
  defs: { id: number; key: string }[],
  head: Head,
  start: number,
  end: number,
): Uint8Array[] {
  const agent = Buffer.from(agentId, 'utf8');
  const keyBufs = defs.map((d) => Buffer.from(d.key, 'utf8'));
  const defBytes = keyBufs.reduce((n, k) => n + 8 + k.length, 0);
  const hdr = Buffer.allocUnsafe(4 + agent.length + 8 + 4 + defBytes + 4);
  let o = 0;
  hdr.writeUInt8(RECORD_REPORT, o);
  hdr.writeUInt8(0, o + 1);
  hdr.writeUInt16LE(agent.length, o + 2);
  o += 4;
  agent.copy(hdr, o);
  o += agent.length;
  hdr.writeDoubleLE(seq, o);
  o += 8;
  hdr.writeUInt32LE(defs.length, o);
  o += 4;
  defs.forEach((d, i) => {
    const k = keyBufs[i] as Buffer;
    hdr.writeUInt32LE(d.id, o);
    hdr.writeUInt32LE(k.length, o + 4);
    k.copy(hdr, o + 8);
    o += 8 + k.length;
  });
  hdr.writeUInt32LE(end - start, o);
  const n = end - start;
  // Views into the head's shared arrays: the appended range is never written again.
  return [
    hdr,
    new Uint8Array(head.sid.buffer, start * 4, n * 4),
    new Uint8Array(head.ts.buffer, start * 8, n * 8),
    new Uint8Array(head.vs.buffer, start * 8, n * 8),
  ];
}

function decodeReport(body: Buffer): {
  agentId: string;
  seq: number;
  defs: { id: number; key: string }[];
  sid: Uint32Array;
  ts: Float64Array;
  vs: Float64Array;
} {
  if (body.readUInt8(0) !== RECORD_REPORT) throw new Error(`unknown write-ahead log record type ${body.readUInt8(0)}`);
  const alen = body.readUInt16LE(2);
  let o = 4;
  const agentId = body.toString('utf8', o, o + alen);
  o += alen;
  const seq = body.readDoubleLE(o);
  o += 8;
  const ndefs = body.readUInt32LE(o);
  o += 4;
  const defs: { id: number; key: string }[] = [];
  for (let i = 0; i < ndefs; i++) {
    const id = body.readUInt32LE(o);
    const klen = body.readUInt32LE(o + 4);
    defs.push({ id, key: body.toString('utf8', o + 8, o + 8 + klen) });
    o += 8 + klen;
  }
  const n = body.readUInt32LE(o);
  o += 4;
  const copy = (bytes: number) => {
    const ab = new ArrayBuffer(bytes);
    new Uint8Array(ab).set(body.subarray(o, o + bytes));
    o += bytes;
    return ab;
  };
  const sid = new Uint32Array(copy(n * 4));
  const ts = new Float64Array(copy(n * 8));
  const vs = new Float64Array(copy(n * 8));
  return { agentId, seq, defs, sid, ts, vs };
}
