/**
 * The write path: reports go into the head (memory) and the write-ahead log (group commit, acked
 * when synced); a full or old head is frozen and a worker writes it into raw parts, which the
 * manifest then lists, and its log segments are deleted. On open, the log beyond the manifest's
 * checkpoint is replayed, so a crash at any moment loses nothing acknowledged.
 */
import { readdirSync, rmSync, truncateSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { FUTURE_SLACK_MS } from '../query.ts';
import { localKey } from '../series-key.ts';
import type { AppendResult, StoreLog } from '../types.ts';
import type { TierWindows } from './build.ts';
import { Head } from './head.ts';
import type { JobWorker } from './jobs.ts';
import type { Manifest, PartSet } from './manifest.ts';
import type { SeriesDictionary } from './series.ts';
import type { StoreStatus } from './status.ts';
import { decodeReport, encodeReport, type ReportRecord, readSegment, WalSegment, type WalStats } from './wal.ts';

/**
 * Series keys by labels object: the agent channel's decoders hand every sample of one series the
 * same labels object, report after report and across alike agents, so the key is built once and
 * then found as the same string (its hash kept) instead of being spelt out again for each sample.
 * Labels handed to the store are not changed afterwards.
 */
const keys = new WeakMap<Sample['labels'], { name: string; key: string }>();

function keyOfSample(name: string, labels: Sample['labels']): string {
  const hit = keys.get(labels);
  if (hit?.name === name) return hit.key;
  const key = localKey(name, labels);
  keys.set(labels, { name, key });
  return key;
}

export interface HeadWriterOptions {
  parts: PartSet;
  series: SeriesDictionary;
  /** The worker that turns frozen heads into parts. */
  flusher: JobWorker;
  status: StoreStatus;
  windows: TierWindows;
  /** Samples older than this (raw retention) are refused. */
  rawRetentionMs: number;
  /** Where raw retention counts back from (the newest sample held, see retentionReference); the wall clock without it. */
  retentionNow?: () => number;
  /** Samples a head holds before it is flushed, at least (see headLimit). */
  headMaxSamples: number;
  now: () => number;
  log: StoreLog;
  /** Called once a flushed head's parts are in the manifest. */
  onFlushed: () => void;
}

export class HeadWriter {
  readonly #o: HeadWriterOptions;
  readonly #dir: string;
  #head!: Head;
  readonly #frozen: Head[] = [];
  #segment!: WalSegment;
  #spare: WalSegment | undefined;
  #sparePending: Promise<WalSegment> | undefined;
  #nextSegment = 1;
  /** Per agent, the last sequence taken (perhaps not durable yet) and the last durable one. */
  readonly #accepted = new Map<string, number>();
  readonly #durable = new Map<string, number>();
  /** Per agent, the log write of its last report or reset, settled either way. */
  readonly #pendingOf = new Map<string, Promise<void>>();
  readonly walStats: WalStats = { syncs: 0, bytes: 0 };
  outOfBounds = 0;
  appends = 0;
  appendMs = 0;

  constructor(opts: HeadWriterOptions) {
    this.#o = opts;
    this.#dir = opts.parts.dir;
  }

  /** Loads the series log and the sequences, replays the log beyond the checkpoint, and opens a fresh segment. */
  async recover(): Promise<void> {
    const m = this.#o.parts.manifest;
    const series = this.#o.series;
    const seriesLog = join(this.#dir, 'series.log');
    try {
      truncateSync(seriesLog, m.seriesLogBytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || m.seriesLogBytes > 0) throw err;
    }
    series.setForgotten(m.forgotten);
    series.load(seriesLog, m.seriesLogBytes);
    for (const [agent, seq] of Object.entries(m.seqs)) {
      this.#accepted.set(agent, seq);
      this.#durable.set(agent, seq);
    }
    const segments = readdirSync(join(this.#dir, 'wal'))
      .map((f) => /^(\d+)\.wal$/.exec(f))
      .filter((x): x is RegExpExecArray => x !== null)
      .map((x) => Number(x[1]))
      .sort((a, b) => a - b);
    for (const n of segments) if (n <= m.checkpoint) rmSync(this.#segmentFile(n), { force: true });
    const replay = segments.filter((n) => n > m.checkpoint);
    this.#nextSegment = Math.max(m.checkpoint, ...segments, 0) + 1;
    // Everything beyond the checkpoint goes into one head, so one flush covers whole segments.
    const records: ReportRecord[] = [];
    for (const n of replay) {
      const file = this.#segmentFile(n);
      const { bodies, validBytes, size } = readSegment(file);
      if (validBytes < size) {
        this.#o.log.warn({ segment: n, validBytes, size }, 'write-ahead log ends in a torn record; it was never acknowledged');
        truncateSync(file, validBytes);
      }
      for (const body of bodies) records.push(decodeReport(body));
    }
    const total = records.reduce((k, r) => k + r.sid.length, 0);
    const recovered = new Head(Math.max(1, total), replay, this.#o.now(), series.size);
    for (const rec of records) {
      for (const d of rec.defs) if (d.id >= series.size) series.define(d.id, rec.agentId, d.key);
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
    if (replay.length) this.#o.log.info({ segments: replay.length, samples: recovered.n }, 'store replayed its write-ahead log');
    this.#segment = await WalSegment.create(this.#segmentFile(this.#nextSegment), this.#nextSegment++, this.walStats);
    this.#head = new Head(this.#headLimit(), [this.#segment.number], this.#o.now(), series.size);
    if (replay.length) this.#freeze(recovered, undefined);
    this.#prepareSpare();
  }

  #segmentFile(n: number): string {
    return join(this.#dir, 'wal', `${String(n).padStart(10, '0')}.wal`);
  }

  #prepareSpare(): void {
    if (this.#spare || this.#sparePending || this.#o.status.closed) return;
    const n = this.#nextSegment++;
    this.#sparePending = WalSegment.create(this.#segmentFile(n), n, this.walStats).then(
      (seg) => {
        this.#spare = seg;
        this.#sparePending = undefined;
        return seg;
      },
      (err: Error) => {
        this.#sparePending = undefined;
        this.#o.status.fail(err);
        throw err;
      },
    );
  }

  async appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    const status = this.#o.status;
    status.assertWritable();
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`report sequence ${seq} is not a positive integer`);
    if ((this.#accepted.get(agentId) ?? 0) >= seq) {
      // Stored or being stored: answer once whatever holds it is durable.
      await this.#pendingOf.get(agentId);
      return { duplicate: true };
    }
    if (this.#head.free < samples.length || !this.#spare) {
      await this.#ensureSpare();
      if (status.failed) throw status.failed;
      // Another report may have taken the sequence while this one waited.
      if ((this.#accepted.get(agentId) ?? 0) >= seq) {
        await this.#pendingOf.get(agentId);
        return { duplicate: true };
      }
      if (this.#head.free < samples.length) {
        if (this.#head.n > 0) this.#rotate();
        if (this.#head.free < samples.length) {
          this.#head = new Head(samples.length, this.#head.segments, this.#o.now(), this.#o.series.size);
        }
      }
    }
    this.#accepted.set(agentId, seq);
    const head = this.#head;
    const series = this.#o.series;
    const now = this.#o.now();
    const oldest = (this.#o.retentionNow?.() ?? now) - this.#o.rawRetentionMs;
    const newest = now + FUTURE_SLACK_MS;
    const defs: { id: number; key: string }[] = [];
    const start = head.n;
    // Samples of one series often share one label object and come in a run (remote_write): look the
    // series up once per run.
    let runLabels: Sample['labels'] | undefined;
    let runName = '';
    let id = -1;
    let refused = 0;
    for (const s of samples) {
      const t = s.timestampMs;
      if (!(t >= oldest && t <= newest) || !Number.isInteger(t)) {
        this.outOfBounds++;
        continue;
      }
      if (s.labels !== runLabels || s.name !== runName) {
        runLabels = s.labels;
        runName = s.name;
        const key = keyOfSample(s.name, s.labels);
        const known = series.get(agentId, key);
        if (known === undefined) {
          // Past store.max_series a new series is refused; the ones the store has are still written.
          id = series.admit() ? series.size : -1;
          if (id >= 0) {
            series.define(id, agentId, key);
            defs.push({ id, key });
          }
        } else id = known;
      }
      if (id < 0) {
        refused++;
        continue;
      }
      head.append(id, t, s.value);
    }
    const frame = encodeReport(agentId, seq, defs, head, start, head.n);
    const startedMs = performance.now();
    await this.#writeFrame(agentId, frame);
    if ((this.#durable.get(agentId) ?? 0) < seq) this.#durable.set(agentId, seq);
    this.appends++;
    this.appendMs += performance.now() - startedMs;
    if (this.#head === head && head.n >= head.capacity && this.#spare) this.#rotate();
    if (refused === 0) return { duplicate: false };
    series.refusedSamples += refused;
    return { duplicate: false, refusedSamples: refused, refusal: seriesRefusal(refused, series.maxSeries) };
  }

  /** Writes one frame of the agent's to the log; later reports of the agent wait on it as a duplicate would. */
  async #writeFrame(agentId: string, frame: Uint8Array[]): Promise<void> {
    const durable = this.#segment.append(frame);
    this.#pendingOf.set(
      agentId,
      durable.catch(() => undefined),
    );
    try {
      await durable;
    } catch (err) {
      this.#o.status.fail(err as Error);
      throw err;
    }
  }

  lastSeq(agentId: string): number {
    return this.#durable.get(agentId) ?? 0;
  }

  async resetSeq(agentId: string): Promise<number> {
    this.#o.status.assertWritable();
    // What is being stored for the agent lands first.
    await this.#pendingOf.get(agentId);
    const previous = this.#accepted.get(agentId) ?? 0;
    if (previous === 0) return 0;
    this.#accepted.delete(agentId);
    this.#durable.delete(agentId);
    // A report frame numbered 0, which no report has: replaying the log applies the reset in its place.
    const head = this.#head;
    await this.#writeFrame(agentId, encodeReport(agentId, 0, [], head, head.n, head.n));
    return previous;
  }

  async #ensureSpare(): Promise<void> {
    this.#prepareSpare();
    if (!this.#spare) await this.#sparePending;
  }

  /** Freezes the head, when it holds samples, as soon as a spare segment is ready. */
  async freezeHead(): Promise<void> {
    if (this.#head.n === 0) return;
    await this.#ensureSpare();
    if (this.#head.n > 0) this.#rotate();
  }

  /** Freezes the head when it holds samples and is older than `maxAgeMs`, if a spare segment is ready. */
  freezeHeadIfOlder(now: number, maxAgeMs: number): void {
    if (this.#head.n > 0 && now - this.#head.createdMs >= maxAgeMs && this.#spare) this.#rotate();
  }

  /**
   * Samples a head takes: the configured floor, grown to 8 per series (up to 4 times the floor)
   * so a flush writes runs long enough to compress; the cap keeps two heads (one flushing) within
   * the memory budget of docs/adr/0004-server-memory.md.
   */
  #headLimit(): number {
    const floor = this.#o.headMaxSamples;
    return Math.max(floor, Math.min(8 * this.#o.series.size, 4 * floor));
  }

  /** Freezes the head and starts a new head on the spare log segment. Synchronous. */
  #rotate(): void {
    const spare = this.#spare;
    if (!spare || this.#head.n === 0) return;
    this.#spare = undefined;
    const old = this.#head;
    const oldSeg = this.#segment;
    this.#segment = spare;
    this.#head = new Head(this.#headLimit(), [spare.number], this.#o.now(), this.#o.series.size);
    this.#freeze(old, oldSeg);
    this.#prepareSpare();
  }

  #freeze(head: Head, segment: WalSegment | undefined): void {
    head.seriesAtFreeze = this.#o.series.size;
    head.seqsAtFreeze = new Map(this.#accepted);
    this.#frozen.push(head);
    void this.#o.parts.edit(() => this.#flushFrozen(head, segment)).catch((err: Error) => this.#o.status.fail(err));
  }

  async #flushFrozen(head: Head, segment: WalSegment | undefined): Promise<void> {
    const { parts, series } = this.#o;
    if (this.#o.status.failed) return;
    await segment?.seal();
    const seriesLogBytes = await series.appendToLog(join(this.#dir, 'series.log'), head.seriesAtFreeze, parts.manifest.seriesLogBytes);
    const metas =
      head.n > 0
        ? await this.#o.flusher.flush({
            type: 'flush',
            dir: this.#dir,
            idPrefix: parts.nextJobId('f'),
            sid: head.sid,
            ts: head.ts,
            vs: head.vs,
            n: head.n,
            nameOrd: series.nameOrdinals().slice(0, head.seriesAtFreeze),
            windows: this.#o.windows,
            maxSeg: Math.max(...head.segments),
            ...(series.dead.size > 0 ? { dead: [...series.dead] } : {}),
          })
        : [];
    const opened = await parts.open(metas);
    const m = parts.manifest;
    const next: Manifest = {
      ...m,
      checkpoint: Math.max(m.checkpoint, ...head.segments),
      seriesLogBytes,
      parts: [...m.parts, ...metas],
      seqs: Object.fromEntries(head.seqsAtFreeze ?? []),
    };
    await parts.commit(next);
    // Parts in, head out, in one step: queries see each sample once.
    parts.show(opened);
    this.#frozen.splice(this.#frozen.indexOf(head), 1);
    for (const n of head.segments) await rm(this.#segmentFile(n), { force: true });
    this.#o.onFlushed();
  }

  /** The heads a query reads beside the parts: frozen ones not flushed yet, then the current one. */
  heads(): Head[] {
    return [...this.#frozen, this.#head];
  }

  get headSamples(): number {
    return this.#head.n + this.#frozen.reduce((n, h) => n + h.n, 0);
  }

  walBytes(): number {
    return this.#segment.bytes + (this.#spare?.bytes ?? 0);
  }

  /** Seals the log segments; whatever is in the head stays in the log and is replayed on the next open. */
  async close(): Promise<void> {
    await this.#sparePending?.catch(() => undefined);
    await this.#segment.seal().catch(() => undefined);
    await this.#spare?.seal().catch(() => undefined);
  }
}

/** The reason an agent reads in its acknowledgement when samples of new series were refused. */
function seriesRefusal(refused: number, maxSeries: number): string {
  return `${refused} samples of new series refused: the server holds its bound of ${maxSeries} series (store.max_series); samples of series it already has were stored`;
}
