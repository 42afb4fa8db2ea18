/**
 * The samples store on VictoriaMetrics (single node), for fleets past one server: samples go in by
 * Prometheus remote_write, come back raw by /api/v1/export, and are bucketed in the accumulators
 * every engine shares (../query.ts), so answers match the other engines bucket for bucket. Its parts:
 *
 *   client.ts     the HTTP endpoints used, with errors that name the URL
 *   labels.ts     agent id and sample labels to VictoriaMetrics labels and back, and selectors
 *   sequences.ts  each agent's last report sequence, kept as a marker sample written with the report
 *
 * Writes are one at a time, each a batch of the reports waiting (group commit): sequences are
 * checked against what is stored, the new samples and each agent's new sequence marker go in one
 * request (a batch past 50,000 samples in several, the markers last), then /internal/force_flush
 * makes them searchable; only then are the reports acknowledged. A failed request fails every
 * report of its batch, and no sequence moves. VictoriaMetrics writes its in-memory data to disk
 * seconds later: a crash of VictoriaMetrics itself can lose the last seconds acknowledged.
 */
import type { Sample } from '@falconet/protocol';
import type { OutSeries } from '../../remote-write/out/encode.ts';
import { AcrossGroups, BucketAccumulator, bestK, labelsMatch, makeGrid, topKStepMs } from '../query.ts';
import { localKey } from '../series-key.ts';
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
import { VictoriaClient, VictoriaError } from './client.ts';
import {
  AGENT_LABEL,
  type FalconetSeries,
  fromVictoria,
  type Matcher,
  selector,
  seriesLabels,
  seriesMatchers,
  toVictoriaName,
} from './labels.ts';
import { loadSequences, markerLabels, type SeqState } from './sequences.ts';

export interface VictoriaStoreOptions {
  /** VictoriaMetrics' base URL, e.g. http://127.0.0.1:8428. */
  url: string;
  /** How long one request may take. */
  timeoutMs?: number;
  /** The wall clock the sequence markers are stamped with. */
  now?: () => number;
  log?: StoreLog | undefined;
}

type Job =
  | { kind: 'report'; agentId: string; seq: number; samples: readonly Sample[]; resolve(r: AppendResult): void; reject(e: Error): void }
  | { kind: 'reset'; agentId: string; resolve(previous: number): void; reject(e: Error): void }
  | { kind: 'drop'; agentId: string; resolve(series: number): void; reject(e: Error): void };

/** Samples one batch of reports carries at most; more reports wait for the next (a larger report goes alone). */
const MAX_BATCH_SAMPLES = 50_000;
/**
 * Samples one remote_write request carries at most, so it stays well under VictoriaMetrics'
 * -maxInsertRequestSize (32 MiB); a larger report goes in several, its sequence marker in the last.
 */
const MAX_REQUEST_SAMPLES = 50_000;
/** How long a series count for stats() is reused: counting reads the whole series index. */
const SERIES_COUNT_TTL_MS = 30_000;

interface ReadSeries extends FalconetSeries {
  ts: number[];
  vs: number[];
}

export class VictoriaStore implements Store {
  readonly #client: VictoriaClient;
  readonly #now: () => number;
  readonly #log: StoreLog | undefined;
  /** Each agent's stored last sequence and its newest marker's time. */
  readonly #seqs: Map<string, SeqState>;
  readonly #queue: Job[] = [];
  #writing: Promise<void> | undefined;
  #closed = false;
  #appends = 0;
  #appendSeconds = 0;
  #seriesCount: { value: number; atMs: number } | undefined;

  private constructor(client: VictoriaClient, seqs: Map<string, SeqState>, opts: VictoriaStoreOptions) {
    this.#client = client;
    this.#seqs = seqs;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
  }

  /** Checks that VictoriaMetrics answers (and lets the store flush) and reads every agent's last sequence. */
  static async open(opts: VictoriaStoreOptions): Promise<VictoriaStore> {
    const client = new VictoriaClient(opts.url, opts.timeoutMs ?? 30_000);
    try {
      await client.health();
    } catch (err) {
      const e = err as VictoriaError;
      // VictoriaMetrics answers an unknown path (…/api/v1/write/health) with 400 "unsupported path".
      if (e.status >= 400 && e.status < 500) {
        throw new VictoriaError(`${e.message}; the URL must be VictoriaMetrics' base URL, without /api/v1/write`, e.status);
      }
      throw err;
    }
    try {
      await client.forceFlush();
    } catch (err) {
      const e = err as VictoriaError;
      if (e.status === 401 || e.status === 403) {
        throw new VictoriaError(
          `${e.message}; the store needs /internal/force_flush: run VictoriaMetrics without -forceFlushAuthKey`,
          e.status,
        );
      }
      throw err;
    }
    const seqs = await loadSequences(client, (opts.now ?? Date.now)());
    opts.log?.info({ url: client.url, agents: seqs.size }, 'samples store on VictoriaMetrics is open');
    return new VictoriaStore(client, seqs, opts);
  }

  appendReport(agentId: string, seq: number, samples: readonly Sample[]): Promise<AppendResult> {
    if (!Number.isSafeInteger(seq) || seq < 1) return Promise.reject(new Error(`report sequence ${seq} is not a positive integer`));
    for (const s of samples) {
      if (!Number.isFinite(s.timestampMs) || s.timestampMs < 0 || s.timestampMs > Number.MAX_SAFE_INTEGER) {
        return Promise.reject(new Error(`sample ${s.name} has timestamp ${s.timestampMs}; VictoriaMetrics takes milliseconds since 1970`));
      }
    }
    const started = performance.now();
    return this.#enqueue<AppendResult>((resolve, reject) => ({ kind: 'report', agentId, seq, samples, resolve, reject })).then((r) => {
      this.#appends++;
      this.#appendSeconds += (performance.now() - started) / 1000;
      return r;
    });
  }

  /**
   * Read from VictoriaMetrics, not only from memory: another server of a cluster may have stored
   * the agent's reports since this one last did, and a report it took must be a duplicate here.
   */
  async lastSeq(agentId: string): Promise<number> {
    const fresh = (await loadSequences(this.#client, this.#now(), agentId)).get(agentId);
    const known = this.#seqs.get(agentId);
    // The newer marker wins: one of this server's writes may be in flight or just done.
    if (fresh && (!known || fresh.markedMs > known.markedMs)) this.#seqs.set(agentId, fresh);
    return this.#seqs.get(agentId)?.seq ?? 0;
  }

  resetSeq(agentId: string): Promise<number> {
    return this.#enqueue<number>((resolve, reject) => ({ kind: 'reset', agentId, resolve, reject }));
  }

  dropAgent(agentId: string): Promise<number> {
    return this.#enqueue<number>((resolve, reject) => ({ kind: 'drop', agentId, resolve, reject }));
  }

  #enqueue<T>(make: (resolve: (v: T) => void, reject: (e: Error) => void) => Job): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('the samples store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push(make(resolve, reject));
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#writing) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
      if (this.#queue.length) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const head = this.#queue[0] as Job;
      if (head.kind === 'drop') {
        this.#queue.shift();
        await this.#drop(head);
        continue;
      }
      // Reports and resets up to the next drop, which must see them stored first.
      let n = 0;
      let samples = 0;
      while (n < this.#queue.length) {
        const j = this.#queue[n] as Job;
        if (j.kind === 'drop' || (n > 0 && j.kind === 'report' && samples + j.samples.length > MAX_BATCH_SAMPLES)) break;
        if (j.kind === 'report') samples += j.samples.length;
        n++;
      }
      const batch = this.#queue.splice(0, n) as Exclude<Job, { kind: 'drop' }>[];
      // Whatever goes wrong, each report of the batch gets an answer (a settled promise ignores a second one).
      await this.#write(batch).catch((err: Error) => {
        for (const j of batch) j.reject(err);
      });
    }
  }

  /** One batch: sequences decided in order, samples and markers written (one request unless large), flushed, then answers. */
  async #write(batch: Exclude<Job, { kind: 'drop' }>[]): Promise<void> {
    const next = new Map<string, number>();
    const answers: (() => void)[] = [];
    const series = new Map<string, OutSeries>();
    for (const j of batch) {
      const last = next.get(j.agentId) ?? this.#seqs.get(j.agentId)?.seq ?? 0;
      if (j.kind === 'reset') {
        // An agent never seen has nothing to forget: no marker is written for it.
        if (next.has(j.agentId) || this.#seqs.has(j.agentId)) next.set(j.agentId, 0);
        answers.push(() => j.resolve(last));
        continue;
      }
      if (j.seq <= last) {
        answers.push(() => j.resolve({ duplicate: true }));
        continue;
      }
      next.set(j.agentId, j.seq);
      for (const s of j.samples) {
        const key = `${j.agentId}\0${localKey(s.name, s.labels)}`;
        let out = series.get(key);
        if (!out) {
          out = { labels: seriesLabels(j.agentId, s.name, s.labels), samples: [] };
          series.set(key, out);
        }
        // NaN goes as Prometheus' staleness marker: VictoriaMetrics drops any other NaN, keeps that one.
        out.samples.push({ value: s.value, timestampMs: Math.round(s.timestampMs), stale: Number.isNaN(s.value) });
      }
      answers.push(() => j.resolve({ duplicate: false }));
    }
    const marks = new Map<string, SeqState>();
    const now = this.#now();
    for (const [agentId, seq] of next) {
      marks.set(agentId, { seq, markedMs: Math.max(now, (this.#seqs.get(agentId)?.markedMs ?? 0) + 1) });
    }
    if (marks.size) {
      const markers = [...marks].map(([agentId, m]) => ({
        labels: markerLabels(agentId),
        samples: [{ value: m.seq, timestampMs: m.markedMs }],
      }));
      try {
        for (const request of requests([...series.values()], markers)) await this.#client.write(request);
        await this.#client.forceFlush();
      } catch (err) {
        const e = err as Error;
        this.#log?.error(
          { err: e.message, reports: batch.length },
          'samples store: VictoriaMetrics did not take a write; reports not acknowledged',
        );
        const refused = new Error(`reports not stored: ${e.message}`, { cause: err });
        for (const j of batch) j.reject(refused);
        return;
      }
      for (const [agentId, m] of marks) this.#seqs.set(agentId, m);
    }
    for (const a of answers) a();
  }

  async #drop(job: Extract<Job, { kind: 'drop' }>): Promise<void> {
    try {
      const match = selector([{ name: AGENT_LABEL, op: '=', value: job.agentId }]);
      const found = (await this.#client.series(match)).filter((m) => fromVictoria(m)?.agentId === job.agentId);
      if (found.length) await this.#client.deleteSeries(match);
      this.#seriesCount = undefined;
      job.resolve(found.length);
    } catch (err) {
      job.reject(err as Error);
    }
  }

  /** Raw samples in [fromMs, toMs] of the series the matchers pick, kept where `keep` says. */
  async #read(matchers: readonly Matcher[], fromMs: number, toMs: number, keep: (s: FalconetSeries) => boolean): Promise<ReadSeries[]> {
    const out: ReadSeries[] = [];
    for (const e of await this.#client.export(selector(matchers), fromMs, toMs)) {
      const s = fromVictoria(e.metric);
      if (!s || !keep(s)) continue;
      const ts: number[] = [];
      const vs: number[] = [];
      for (let i = 0; i < e.ts.length; i++) {
        const t = e.ts[i] as number;
        if (t < fromMs || t > toMs) continue;
        ts.push(t);
        vs.push(e.vs[i] as number);
      }
      if (ts.length) out.push({ ...s, ts, vs });
    }
    return out.sort((a, b) =>
      a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : cmp(localKey(a.name, a.labels), localKey(b.name, b.labels)),
    );
  }

  async querySeries(q: SeriesQuery): Promise<SeriesResult[]> {
    const found = await this.#read(seriesMatchers(q.name, [q.agentId], q.labels), q.fromMs, q.toMs, (s) => {
      return s.agentId === q.agentId && s.name === q.name && labelsMatch(s.labels, q.labels);
    });
    const stepMs = q.stepMs ?? 0;
    if (stepMs <= 0) return found.map((s) => ({ name: s.name, labels: s.labels, points: s.ts.map((t, i) => [t, s.vs[i] as number]) }));
    const agg = q.agg ?? 'avg';
    const grid = makeGrid(q.fromMs, q.toMs, stepMs);
    return found.map((s) => ({ name: s.name, labels: s.labels, points: bucket(s, grid, agg === 'p95').points(agg), stepMs: grid.step }));
  }

  async queryAggregate(q: AggregateQuery): Promise<AggregateResult[]> {
    if (q.agentIds?.length === 0) return [];
    const agents = q.agentIds ? new Set(q.agentIds) : undefined;
    const found = await this.#read(seriesMatchers(q.name, q.agentIds, q.labels), q.fromMs, q.toMs, (s) => {
      return s.name === q.name && (!agents || agents.has(s.agentId)) && labelsMatch(s.labels, q.labels);
    });
    const agg = q.agg ?? 'avg';
    const grid = makeGrid(q.fromMs, q.toMs, Math.max(1, q.stepMs));
    const groups = new AcrossGroups(q, grid);
    for (const s of found) {
      const acc = bucket(s, grid, agg === 'p95');
      if (acc.count.some((c) => c > 0)) groups.add(s.agentId, s.labels, acc);
    }
    return groups.results(grid.step);
  }

  async topK(q: TopKQuery): Promise<TopKEntry[]> {
    if (q.agentIds?.length === 0) return [];
    const agents = q.agentIds ? new Set(q.agentIds) : undefined;
    const found = await this.#read(seriesMatchers(q.name, q.agentIds, q.labels), q.fromMs, q.toMs, (s) => {
      return s.name === q.name && (!agents || agents.has(s.agentId)) && labelsMatch(s.labels, q.labels);
    });
    const grid = makeGrid(q.fromMs, q.toMs, topKStepMs(q));
    const out: TopKEntry[] = [];
    for (const s of found) {
      const value = bucket(s, grid, q.agg === 'p95').overall(q.agg);
      if (!Number.isNaN(value)) out.push({ agentId: s.agentId, labels: s.labels, value });
    }
    return bestK(out, q);
  }

  /** From the series list: label values filtered by a selector still list deleted series (VictoriaMetrics 1.79). */
  async metricNames(agentId?: string): Promise<string[]> {
    const matchers: Matcher[] = agentId === undefined ? [] : [{ name: AGENT_LABEL, op: '=', value: agentId }];
    const names = new Set<string>();
    for (const m of await this.#client.series(selector(matchers))) {
      const s = fromVictoria(m);
      if (s && (agentId === undefined || s.agentId === agentId)) names.add(s.name);
    }
    return [...names].sort();
  }

  /**
   * Series of every host by matchers. Equality matchers, and those on the metric name, go into the
   * selector; the others, and those on a label an agent fills in (`defaults`), are checked here.
   */
  async selectSeries(q: SelectQuery): Promise<SelectedSeries[]> {
    const filled = new Set<string>();
    for (const d of q.defaults?.values() ?? []) for (const k in d) filled.add(k);
    const pushed: Matcher[] = [];
    for (const m of q.matchers) {
      if (m.name === '__name__') pushed.push({ name: '__name__', op: m.op, value: m.value });
      else if (!filled.has(m.name) && (m.op === '=' || m.op === '!='))
        pushed.push({ name: toVictoriaName(m.name), op: m.op, value: m.value });
    }
    const found = await this.#read(pushed, q.fromMs, q.toMs, (s) => {
      const defaults = q.defaults?.get(s.agentId);
      return q.matchers.every((m) => m.test(m.name === '__name__' ? s.name : (s.labels[m.name] ?? defaults?.[m.name])));
    });
    return found.map((s) => ({
      agentId: s.agentId,
      name: s.name,
      labels: s.labels,
      ts: Float64Array.from(s.ts),
      vs: Float64Array.from(s.vs),
    }));
  }

  async stats(): Promise<StoreStats> {
    const now = Date.now();
    if (!this.#seriesCount || now - this.#seriesCount.atMs > SERIES_COUNT_TTL_MS) {
      const all = await this.#client.series(selector([]));
      this.#seriesCount = { value: all.filter((m) => fromVictoria(m)).length, atMs: now };
    }
    // VictoriaMetrics keeps sizes and sample counts for its whole database, not for Falconet's series:
    // its own /metrics (vm_data_size_bytes, vm_rows) says them.
    return {
      engine: 'victoriametrics',
      series: this.#seriesCount.value,
      bytes: {},
      samples: {},
      appends: this.#appends,
      appendSeconds: this.#appendSeconds,
    };
  }

  /** Every write waiting is done (each is flushed in VictoriaMetrics when it is acknowledged). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }
}

/** The batch's series cut into requests of at most MAX_REQUEST_SAMPLES samples; the markers go in the last. */
function requests(series: OutSeries[], markers: OutSeries[]): OutSeries[][] {
  const out: OutSeries[][] = [];
  let current: OutSeries[] = [];
  let n = 0;
  for (const s of series) {
    for (let i = 0; i < s.samples.length; ) {
      const take = Math.min(MAX_REQUEST_SAMPLES - n, s.samples.length - i);
      current.push(take === s.samples.length ? s : { labels: s.labels, samples: s.samples.slice(i, i + take) });
      n += take;
      i += take;
      if (n >= MAX_REQUEST_SAMPLES) {
        out.push(current);
        current = [];
        n = 0;
      }
    }
  }
  current.push(...markers);
  out.push(current);
  return out;
}

function bucket(s: ReadSeries, grid: ReturnType<typeof makeGrid>, keepValues: boolean): BucketAccumulator {
  const acc = new BucketAccumulator(grid, keepValues);
  for (let i = 0; i < s.ts.length; i++) acc.addRaw(s.ts[i] as number, s.vs[i] as number);
  return acc;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
