/**
 * One remote_write destination: samples pass its filter, wait in memory for a batch's worth (or the
 * batch deadline), go to the durable queue, and are sent from there in runs split among shards by a
 * hash of their labels (one series always in one shard, so its samples stay in order). 5xx, 429 and
 * network errors are retried with exponential backoff (Retry-After honoured); another 4xx drops the
 * request's samples, counted with the status as the reason. The cursor moves once every shard is done.
 */
import { join } from 'node:path';
import { FALCONET_VERSION } from '@falconet/protocol';
import type { Logger } from 'pino';
import { decodeWriteRequest } from '../write-request.ts';
import { destinationName, type RemoteWriteOutConfig } from './config.ts';
import { encodeWriteRequest, type OutSeries, snappyEncode } from './encode.ts';
import { DurableQueue, type QueueBatch } from './queue.ts';
import { type LabelSet, SeriesFilter } from './relabel.ts';

export interface DestinationCounters {
  sent: number;
  failedRequests: number;
  retried: number;
  dropped: Map<string, number>;
  highestSentMs: number;
}

export interface OutPoint {
  labels: LabelSet;
  value: number;
  timestampMs: number;
  stale: boolean;
}

export class RemoteWriteDestination {
  readonly name: string;
  readonly counters: DestinationCounters = { sent: 0, failedRequests: 0, retried: 0, dropped: new Map(), highestSentMs: 0 };
  readonly #cfg: RemoteWriteOutConfig;
  readonly #filter: SeriesFilter;
  readonly #queue: DurableQueue;
  readonly #log: Logger;
  #buffer = new Map<string, OutSeries>();
  #buffered = 0;
  #bufferedSince = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #stopping = false;
  /** Cuts the request in flight: at stop, once it has had STOP_GRACE_MS to finish. */
  readonly #abort = new AbortController();
  /** Ends a backoff wait at once when the destination stops. */
  readonly #stopped = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(cfg: RemoteWriteOutConfig, index: number, dataDir: string, log: Logger) {
    this.#cfg = cfg;
    this.name = destinationName(cfg);
    this.#filter = new SeriesFilter(cfg.write_relabel_configs, cfg.match, `remote_write[${index}]`);
    this.#queue = new DurableQueue(join(dataDir, 'remote-write', this.name), cfg.queue.max_backlog_bytes);
    this.#log = log.child({ destination: this.name });
  }

  get pendingSamples(): number {
    return this.#queue.pendingSamples + this.#buffered;
  }

  get droppedByCap(): number {
    return this.#queue.droppedByCap;
  }

  start(): void {
    this.#loop = this.#run();
  }

  #drop(reason: string, n: number): void {
    this.counters.dropped.set(reason, (this.counters.dropped.get(reason) ?? 0) + n);
  }

  /** Takes stored points; cheap (no I/O unless a batch is full). */
  add(points: readonly OutPoint[]): void {
    if (this.#stopping) return;
    const q = this.#cfg.queue;
    for (const p of points) {
      const labels = this.#filter.apply(p.labels);
      if (!labels) continue;
      if (this.#buffered >= q.capacity) {
        this.#drop('capacity', 1);
        continue;
      }
      const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      let s = this.#buffer.get(key);
      if (!s) {
        s = {
          labels: Object.keys(labels)
            .sort()
            .map((name) => ({ name, value: labels[name] as string })),
          samples: [],
        };
        this.#buffer.set(key, s);
      }
      s.samples.push({ value: p.value, timestampMs: p.timestampMs, stale: p.stale });
      if (this.#buffered++ === 0) this.#bufferedSince = Date.now();
    }
    if (this.#buffered >= q.max_samples_per_send * q.shards) this.flush();
    else if (this.#buffered > 0 && !this.#flushTimer) {
      this.#flushTimer = setTimeout(() => this.flush(), Math.max(0, this.#bufferedSince + q.batch_send_deadline - Date.now()));
      this.#flushTimer.unref();
    }
  }

  /** Writes what waits in memory to the durable queue. */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#buffered === 0) return;
    const series = [...this.#buffer.values()];
    let highest = 0;
    for (const s of series) for (const p of s.samples) if (p.timestampMs > highest) highest = p.timestampMs;
    try {
      this.#queue.append(encodeWriteRequest(series), this.#buffered, highest);
    } catch (err) {
      this.#log.error({ err }, 'remote_write queue: cannot write to disk; samples dropped');
      this.#drop('disk', this.#buffered);
    }
    this.#buffer = new Map();
    this.#buffered = 0;
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const q = this.#cfg.queue;
    while (!this.#stopping) {
      const batch = this.#queue.read(q.max_samples_per_send * q.shards);
      if (!batch) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      const done = await this.#sendBatch(batch);
      if (!done) return;
      this.#queue.commit(batch.end);
    }
  }

  /** Sends a batch over the shards; false when stopped before every shard was done. */
  async #sendBatch(batch: QueueBatch): Promise<boolean> {
    const q = this.#cfg.queue;
    const shards: OutSeries[][] = Array.from({ length: q.shards }, () => []);
    for (const s of decodeWriteRequest(batch.body)) {
      const key = s.labels.map((l) => `${l.name}\u0000${l.value}`).join('\u0001');
      const shard = shards[hash(key) % q.shards] as OutSeries[];
      shard.push({ labels: s.labels, samples: s.samples });
    }
    const results = await Promise.all(shards.map((series) => this.#sendShard(series)));
    return results.every(Boolean);
  }

  async #sendShard(series: OutSeries[]): Promise<boolean> {
    const max = this.#cfg.queue.max_samples_per_send;
    let chunk: OutSeries[] = [];
    let n = 0;
    for (const s of series) {
      // A long series is split so no request carries more than max_samples_per_send.
      for (let i = 0; i < s.samples.length; ) {
        const take = Math.min(max - n, s.samples.length - i);
        chunk.push({ labels: s.labels, samples: s.samples.slice(i, i + take) });
        n += take;
        i += take;
        if (n >= max) {
          if (!(await this.#sendRequest(chunk, n))) return false;
          chunk = [];
          n = 0;
        }
      }
    }
    return n === 0 || this.#sendRequest(chunk, n);
  }

  /** One request, retried until accepted, refused for good, or the destination stops. */
  async #sendRequest(series: OutSeries[], samples: number): Promise<boolean> {
    const cfg = this.#cfg;
    const body = snappyEncode(encodeWriteRequest(series));
    const headers: Record<string, string> = {
      ...cfg.headers,
      'Content-Encoding': 'snappy',
      'Content-Type': 'application/x-protobuf',
      'X-Prometheus-Remote-Write-Version': '0.1.0',
      'User-Agent': `falconet-server/${FALCONET_VERSION}`,
    };
    if (cfg.bearer_token) headers.Authorization = `Bearer ${cfg.bearer_token}`;
    if (cfg.basic_auth) {
      headers.Authorization = `Basic ${Buffer.from(`${cfg.basic_auth.username}:${cfg.basic_auth.password}`).toString('base64')}`;
    }
    let backoff = cfg.queue.min_backoff;
    for (let attempt = 0; !this.#stopping; attempt++) {
      if (attempt > 0) this.counters.retried += samples;
      let status = 0;
      let retryAfterMs: number | undefined;
      let detail = '';
      try {
        const res = await fetch(cfg.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(cfg.remote_timeout)]),
        });
        status = res.status;
        detail = status >= 300 ? (await res.text().catch(() => '')).slice(0, 300) : '';
        if (status < 300) await res.body?.cancel();
        retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      } catch (err) {
        if (this.#stopping) return false;
        detail = (err as Error).message;
      }
      if (status >= 200 && status < 300) {
        this.counters.sent += samples;
        for (const s of series)
          for (const p of s.samples) if (p.timestampMs > this.counters.highestSentMs) this.counters.highestSentMs = p.timestampMs;
        return true;
      }
      this.counters.failedRequests++;
      if (status >= 400 && status < 500 && status !== 429) {
        this.#log.warn({ status, detail, samples }, 'remote_write destination refused a request; its samples are dropped');
        this.#drop(String(status), samples);
        return true;
      }
      const wait = retryAfterMs ?? backoff;
      if (attempt === 0 || attempt % 20 === 0) this.#log.warn({ status, detail, retryInMs: wait }, 'remote_write send failed; retrying');
      backoff = Math.min(backoff * 2, cfg.queue.max_backoff);
      await this.#sleep(wait);
    }
    return false;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#stopped.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }

  /**
   * Stops sending; what waits in memory goes to disk, and what is unsent is sent after the next
   * start. A request in flight may finish first (up to STOP_GRACE_MS), so whether its samples
   * arrived is known: cut short, the receiver may have taken them and they would go again.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.flush();
    this.#stopped.abort();
    this.#wake?.();
    const grace = setTimeout(() => this.#abort.abort(), Math.min(STOP_GRACE_MS, this.#cfg.remote_timeout));
    await this.#loop;
    clearTimeout(grace);
    this.#queue.close();
  }
}

/** How long a stop waits for a request in flight before cutting it. */
const STOP_GRACE_MS = 5_000;

/** Retry-After as seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** FNV-1a over the label pairs: cheap and stable across restarts. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
