/**
 * The embedded store: no server to run, files under the data directory. This class is the
 * Store the server uses; the work is done by its parts, each handed the state it needs:
 *
 *   write.ts        appendReport -> head (memory) + write-ahead log (group commit, acked when synced);
 *                   head full or old -> frozen -> worker writes raw parts -> manifest -> WAL dropped
 *   maintenance.ts  merges parts of one window in the background (a closed raw window sealed with its
 *                   1 m and 1 h rollups); retention and the size cap drop whole windows
 *   read.ts         queries over the parts and the heads
 *   manifest.ts     the manifest and the open parts it lists, shared by the three
 *
 * Anything not in the manifest is rebuilt from the WAL on open, so a crash at any moment loses
 * nothing acknowledged.
 */
import { mkdirSync, statfsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import { DEFAULT_RETENTION, type TierName } from '../query.ts';
import {
  type AggregateQuery,
  type AggregateResult,
  type AppendResult,
  type SelectedSeries,
  type SelectQuery,
  type SeriesQuery,
  type SeriesResult,
  type Store,
  type StoreLog,
  type StoreStats,
  StoreUnwritableError,
  type TopKEntry,
  type TopKQuery,
} from '../types.ts';
import type { TierWindows } from './build.ts';
import { JobWorker } from './jobs.ts';
import { Maintenance, retentionReference } from './maintenance.ts';
import { PartSet, readManifest } from './manifest.ts';
import { SeriesReader } from './read.ts';
import { SeriesDictionary } from './series.ts';
import { isDiskFull, StoreStatus } from './status.ts';
import { HeadWriter } from './write.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export interface EmbeddedStoreOptions {
  /** Directory of the store's files (created when missing). */
  dir: string;
  /** How long each tier keeps data, in ms. */
  retention?: Partial<Record<TierName, number>>;
  /** Total bytes of parts and log beyond which the oldest windows go; 0 = no cap. */
  maxBytes?: number;
  /** Samples the head holds before it is flushed, at least (it grows to 8 per series, up to 4 times this). */
  headMaxSamples?: number;
  /** Live series past which samples of new series are refused (store.max_series); 0 = no bound. */
  maxSeries?: number;
  /** Age at which a non-empty head is flushed anyway. */
  headMaxAgeMs?: number;
  /** Width of each tier's time windows (a part never spans two). */
  windows?: Partial<TierWindows>;
  /** Parts of one level in one window that trigger a merge. */
  compactFanIn?: number;
  /** How often retention, the size cap and head age are checked. */
  maintenanceIntervalMs?: number;
  /** Free bytes the data directory needs before a store refusing writes on a full disk takes them again. */
  reserveBytes?: number;
  /** How often free space is looked at while the disk is full. */
  spaceCheckMs?: number;
  now?: () => number;
  log?: StoreLog;
}

/** 16 MiB: room for a head's flush and a manifest before the store takes reports again. */
export const DEFAULT_RESERVE_BYTES = 16 * 1024 * 1024;

const silentLog: StoreLog = { info() {}, warn() {}, error() {} };

export const DEFAULT_WINDOWS: TierWindows = { raw: 2 * HOUR, '1m': DAY, '1h': 30 * DAY };

/** One opening of the store's files; EmbeddedStore (below) opens it again after a full disk. */
class EmbeddedEngine implements Store {
  readonly #now: () => number;
  readonly #headAge: number;
  readonly #series: SeriesDictionary;
  readonly #parts: PartSet;
  readonly #status: StoreStatus;
  readonly #flusher: JobWorker;
  readonly #compactor: JobWorker;
  readonly #writer: HeadWriter;
  readonly #maintenance: Maintenance;
  readonly #reader: SeriesReader;
  #timer: NodeJS.Timeout | undefined;
  readonly #log: StoreLog;
  /** The newest sample time in the parts of one manifest (see #retentionNow). */
  #newestPart: { manifest: unknown; maxTs: number } = { manifest: undefined, maxTs: Number.NEGATIVE_INFINITY };
  /** The background rewrite after a dropAgent, while one runs. */
  #purging: Promise<void> | undefined;

  private constructor(opts: EmbeddedStoreOptions, parts: PartSet, windows: TierWindows, onFail: (err: Error) => void) {
    const retention = { ...DEFAULT_RETENTION, ...opts.retention };
    const now = opts.now ?? Date.now;
    const log = opts.log ?? silentLog;
    this.#now = now;
    this.#log = log;
    this.#headAge = opts.headMaxAgeMs ?? 5 * 60_000;
    this.#series = new SeriesDictionary({ maxSeries: opts.maxSeries ?? 0, log });
    this.#parts = parts;
    this.#status = new StoreStatus(log, onFail);
    this.#flusher = new JobWorker('falconet-store-flush');
    this.#compactor = new JobWorker('falconet-store-compact');
    this.#maintenance = new Maintenance({
      parts,
      compactor: this.#compactor,
      status: this.#status,
      windows,
      retention,
      maxBytes: opts.maxBytes ?? 0,
      fanIn: opts.compactFanIn ?? 8,
      dead: this.#series.dead,
      sortKey: (id) => this.#series.sortKey(id),
      walBytes: () => this.#writer.walBytes(),
      now,
      log,
    });
    this.#writer = new HeadWriter({
      parts,
      series: this.#series,
      flusher: this.#flusher,
      status: this.#status,
      windows,
      rawRetentionMs: retention.raw,
      retentionNow: () => this.#retentionNow(),
      headMaxSamples: opts.headMaxSamples ?? 2_000_000,
      now,
      log,
      onFlushed: () => this.#maintenance.scheduleCompaction(),
    });
    // Reads hide what retention would drop: from the same reference, so a clock jump hides nothing.
    this.#reader = new SeriesReader({
      parts,
      series: this.#series,
      heads: () => this.#writer.heads(),
      windows,
      retention,
      now: () => this.#retentionNow(),
    });
  }

  /** Opens (or creates) the store, replaying whatever the log holds beyond the last flush. */
  static async open(opts: EmbeddedStoreOptions, onFail: (err: Error) => void = () => undefined): Promise<EmbeddedEngine> {
    const dir = opts.dir;
    // Owner-only like the rest of the data directory (docs/server.md).
    mkdirSync(join(dir, 'parts'), { recursive: true, mode: PRIVATE_DIR_MODE });
    mkdirSync(join(dir, 'wal'), { recursive: true, mode: PRIVATE_DIR_MODE });
    const windows = { ...DEFAULT_WINDOWS, ...opts.windows };
    const parts = new PartSet(dir, windows, readManifest(join(dir, 'manifest.json')));
    const store = new EmbeddedEngine(opts, parts, windows, onFail);
    try {
      await parts.openListed();
      await store.#writer.recover();
    } catch (err) {
      await store.#flusher.close();
      await store.#compactor.close();
      throw err;
    }
    store.#timer = setInterval(() => store.#maintain(), 1000);
    store.#timer.unref();
    return store;
  }

  /** Each second: an old head is frozen, retention and the size cap applied, a merge started if due. */
  #maintain(): void {
    if (this.#status.stopped || this.#maintenance.retaining) return;
    const now = this.#now();
    this.#writer.freezeHeadIfOlder(now, this.#headAge);
    this.#maintenance.run(this.#retentionNow());
  }

  /** Where retention counts back from: the newest sample held, never past the wall clock. */
  #retentionNow(): number {
    // Every report asks: the parts' newest time is worked out once per manifest, not per report.
    const m = this.#parts.manifest;
    if (this.#newestPart.manifest !== m)
      this.#newestPart = { manifest: m, maxTs: retentionReference(m.parts, [], Number.POSITIVE_INFINITY) };
    const parts = Number.isFinite(this.#newestPart.maxTs) ? [{ maxTs: this.#newestPart.maxTs }] : [];
    return retentionReference(parts, this.#writer.heads(), this.#now());
  }

  appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    return this.#writer.appendReport(agentId, seq, samples);
  }

  async lastSeq(agentId: string): Promise<number> {
    return this.#writer.lastSeq(agentId);
  }

  resetSeq(agentId: string): Promise<number> {
    return this.#writer.resetSeq(agentId);
  }

  /**
   * A tombstone in the manifest first (durable: reads filter by it from then on, across restarts),
   * then, in the background, the parts holding the agent's rows rewritten without them.
   */
  async dropAgent(agentId: string): Promise<number> {
    this.#status.assertWritable();
    const parts = this.#parts;
    const dropped = await parts.edit(async () => {
      const bound = this.#series.size;
      const m = parts.manifest;
      await parts.commit({ ...m, forgotten: { ...m.forgotten, [agentId]: bound } });
      return this.#series.forget(agentId, bound);
    });
    if (dropped > 0) {
      this.#purging = (this.#purging ?? Promise.resolve())
        .then(() => this.#maintenance.purge())
        .catch((err: Error) => this.#log.error({ err: err.message }, 'rewriting parts without a dropped agent failed; merges will'));
    }
    return dropped;
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

  async metricNames(agentId?: string): Promise<string[]> {
    return this.#reader.metricNames(agentId);
  }

  /** Waits for flushes and merges in flight, then flushes the head and runs retention. */
  async flush(): Promise<void> {
    const status = this.#status;
    if (status.failed) throw status.failed;
    await this.#writer.freezeHead();
    await this.#parts.settled();
    await this.#purging;
    await this.#maintenance.applyRetention(this.#retentionNow());
    await this.#maintenance.idle();
    if (status.failed) throw status.failed;
  }

  /** Seals every window now, open or not (tests and benchmarks measure the settled layout). */
  async compactAll(): Promise<void> {
    await this.flush();
    await this.#maintenance.compactAll();
  }

  async stats(): Promise<StoreStats> {
    const w = this.#writer;
    const m = this.#parts.manifest;
    const bytes: Record<string, number> = { raw: 0, '1m': 0, '1h': 0, wal: w.walBytes() };
    const rows: Record<string, number> = { raw: 0, '1m': 0, '1h': 0 };
    for (const p of m.parts) {
      bytes[p.tier] = (bytes[p.tier] ?? 0) + p.bytes;
      rows[p.tier] = (rows[p.tier] ?? 0) + p.rows;
    }
    return {
      engine: 'embedded',
      series: this.#series.live,
      bytes,
      samples: rows,
      parts: m.parts.length,
      headSamples: w.headSamples,
      compactions: this.#maintenance.compactions,
      outOfBounds: w.outOfBounds,
      walSyncs: w.walStats.syncs,
      appends: w.appends,
      appendSeconds: w.appendMs / 1000,
      maxSeries: this.#series.maxSeries,
      refusedSamples: this.#series.refusedSamples,
      workers: [this.#flusher, this.#compactor].map((j) => ({ name: j.name, ...j.memory })),
    };
  }

  async close(): Promise<void> {
    if (this.#status.closed) return;
    this.#status.closed = true;
    clearInterval(this.#timer);
    await this.#writer.close();
    await this.#parts.settled().catch(() => undefined);
    await this.#purging;
    await this.#maintenance.idle();
    await this.#flusher.close();
    await this.#compactor.close();
    await this.#parts.closeAll();
  }
}

/**
 * The embedded store as the server uses it. A full disk (ENOSPC, EDQUOT) does not fail it for
 * good: it refuses writes with StoreUnwritableError (nothing refused was acknowledged, so agents
 * keep it in their spools), looks at free space every few seconds, and once `reserveBytes` are
 * free opens its files again. Reopening is the crash recovery the store already has: the log is
 * replayed up to its last intact record (a record torn by the full disk is cut off) and whatever
 * the failed engine held in memory only is dropped, so what was acknowledged stays and nothing
 * refused is stored twice. Reads go on from memory meanwhile.
 */
export class EmbeddedStore implements Store {
  readonly #opts: EmbeddedStoreOptions;
  readonly #log: StoreLog;
  #engine!: EmbeddedEngine;
  /** While the disk is full: why, said to agents and on the dashboard. */
  #full: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reopening: Promise<void> | undefined;
  #closed = false;

  private constructor(opts: EmbeddedStoreOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? silentLog;
  }

  /** Opens (or creates) the store, replaying whatever the log holds beyond the last flush. */
  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const store = new EmbeddedStore(opts);
    store.#engine = await EmbeddedEngine.open(opts, (err) => store.#failed(err));
    return store;
  }

  unwritable(): string | undefined {
    return this.#full;
  }

  #failed(err: Error): void {
    if (!isDiskFull(err) || this.#full !== undefined || this.#closed) return;
    let free = 0;
    try {
      const fs = statfsSync(this.#opts.dir);
      free = fs.bavail * fs.bsize;
    } catch {
      // Unknown: said as 0 bytes free until the next check.
    }
    this.#full = fullMessage(free, this.#opts.dir);
    this.#log.warn(
      { dir: this.#opts.dir, freeBytes: free, reserveBytes: this.#reserve, err: err.message },
      `store refuses writes: its data directory is full; agents keep their reports until ${this.#reserve} bytes are free`,
    );
    this.#timer = setInterval(() => void this.#checkSpace(), this.#opts.spaceCheckMs ?? 2000);
    this.#timer.unref();
  }

  get #reserve(): number {
    return this.#opts.reserveBytes ?? DEFAULT_RESERVE_BYTES;
  }

  /** Free bytes on the data directory's filesystem (for the store's user), updating the message. */
  async #describe(): Promise<number> {
    const free = await freeBytes(this.#opts.dir);
    if (this.#full !== undefined) this.#full = fullMessage(free, this.#opts.dir);
    return free;
  }

  async #checkSpace(): Promise<void> {
    if (this.#reopening || this.#closed || this.#full === undefined) return;
    const free = await this.#describe().catch(() => 0);
    if (free < this.#reserve) return;
    this.#reopening = this.#reopen(free).finally(() => {
      this.#reopening = undefined;
    });
  }

  async #reopen(free: number): Promise<void> {
    const old = this.#engine;
    await old.close().catch(() => undefined);
    try {
      this.#engine = await EmbeddedEngine.open(this.#opts, (err) => this.#failed(err));
    } catch (err) {
      // Still no room, or worse: the old files stay as they are and the next check tries again.
      this.#log.warn({ dir: this.#opts.dir, err: (err as Error).message }, 'store could not reopen after a full disk; trying again');
      return;
    }
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#full = undefined;
    this.#log.info({ dir: this.#opts.dir, freeBytes: free }, 'store takes writes again: its data directory has room');
  }

  /** The engine to read from: a reopening one once it is open. */
  async #current(): Promise<EmbeddedEngine> {
    await this.#reopening;
    return this.#engine;
  }

  /** Runs a write on the engine, turning a full disk into StoreUnwritableError. */
  async #write<T>(fn: (e: EmbeddedEngine) => Promise<T>): Promise<T> {
    if (this.#full !== undefined) throw new StoreUnwritableError(this.#full);
    try {
      return await fn(this.#engine);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      this.#failed(err as Error);
      throw new StoreUnwritableError(this.#full ?? fullMessage(0, this.#opts.dir));
    }
  }

  appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    return this.#write((e) => e.appendReport(agentId, seq, samples));
  }

  async lastSeq(agentId: string): Promise<number> {
    return (await this.#current()).lastSeq(agentId);
  }

  resetSeq(agentId: string): Promise<number> {
    return this.#write((e) => e.resetSeq(agentId));
  }

  dropAgent(agentId: string): Promise<number> {
    return this.#write((e) => e.dropAgent(agentId));
  }

  async querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
    return (await this.#current()).querySeries(q);
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    return (await this.#current()).queryAggregate(q);
  }

  async selectSeries(q: SelectQuery): Promise<SelectedSeries[]> {
    return (await this.#current()).selectSeries(q);
  }

  async topK(q: TopKQuery): Promise<TopKEntry[]> {
    return (await this.#current()).topK(q);
  }

  async metricNames(agentId?: string): Promise<string[]> {
    return (await this.#current()).metricNames(agentId);
  }

  flush(): Promise<void> {
    return this.#write((e) => e.flush());
  }

  compactAll(): Promise<void> {
    return this.#write((e) => e.compactAll());
  }

  async stats(): Promise<StoreStats> {
    const st = await (await this.#current()).stats();
    return this.#full === undefined ? st : { ...st, unwritable: this.#full };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#reopening;
    await this.#engine.close();
  }
}

function fullMessage(free: number, dir: string): string {
  return `server data directory is full: ${free} bytes free on ${dir}`;
}

async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}
