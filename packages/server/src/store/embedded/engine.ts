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
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
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
import type { TierWindows } from './build.ts';
import { JobWorker } from './jobs.ts';
import { Maintenance } from './maintenance.ts';
import { PartSet, readManifest } from './manifest.ts';
import { SeriesReader } from './read.ts';
import { SeriesDictionary } from './series.ts';
import { StoreStatus } from './status.ts';
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
  now?: () => number;
  log?: StoreLog;
}

const silentLog: StoreLog = { info() {}, warn() {}, error() {} };

export const DEFAULT_WINDOWS: TierWindows = { raw: 2 * HOUR, '1m': DAY, '1h': 30 * DAY };

export class EmbeddedStore implements Store {
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
  /** The background rewrite after a dropAgent, while one runs. */
  #purging: Promise<void> | undefined;

  private constructor(opts: EmbeddedStoreOptions, parts: PartSet, windows: TierWindows) {
    const retention = { ...DEFAULT_RETENTION, ...opts.retention };
    const now = opts.now ?? Date.now;
    const log = opts.log ?? silentLog;
    this.#now = now;
    this.#log = log;
    this.#headAge = opts.headMaxAgeMs ?? 5 * 60_000;
    this.#series = new SeriesDictionary({ maxSeries: opts.maxSeries ?? 0, log });
    this.#parts = parts;
    this.#status = new StoreStatus(log);
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
      headMaxSamples: opts.headMaxSamples ?? 2_000_000,
      now,
      log,
      onFlushed: () => this.#maintenance.scheduleCompaction(),
    });
    this.#reader = new SeriesReader({ parts, series: this.#series, heads: () => this.#writer.heads(), windows, retention, now });
  }

  /** Opens (or creates) the store, replaying whatever the log holds beyond the last flush. */
  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const dir = opts.dir;
    // Owner-only like the rest of the data directory (docs/server.md).
    mkdirSync(join(dir, 'parts'), { recursive: true, mode: PRIVATE_DIR_MODE });
    mkdirSync(join(dir, 'wal'), { recursive: true, mode: PRIVATE_DIR_MODE });
    const windows = { ...DEFAULT_WINDOWS, ...opts.windows };
    const parts = new PartSet(dir, windows, readManifest(join(dir, 'manifest.json')));
    const store = new EmbeddedStore(opts, parts, windows);
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
    this.#maintenance.run(now);
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
    await this.#maintenance.applyRetention(this.#now());
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
