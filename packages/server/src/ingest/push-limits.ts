import type { Sample } from '@falconet/protocol';
import { PushError } from './push.ts';

/** The caps every push path applies (ingest.push.* in the server's configuration). */
export interface PushCaps {
  max_series_per_sender: number;
  max_hosts_per_sender: number;
  max_labels_per_series: number;
  max_label_name_length: number;
  max_label_value_length: number;
  samples_per_second: number;
  burst: number;
}

/** Who pushed: budgets are kept per `key`; `name` is how messages and the audit log call the sender. */
export interface PushSender {
  /** `token:<id>`, `user:<name>`, `local`, `addr:<ip>`. */
  key: string;
  name: string;
}

/** A pushed sample and the host it belongs to (stored under push:<host>). */
export interface PushedSample {
  host: string;
  sample: Sample;
}

interface SenderBudget {
  /** Series key -> when the sender last pushed it. */
  series: Map<string, number>;
  hosts: Map<string, number>;
  tokens: number;
  refilledMs: number;
}

/** A series or host not pushed for this long no longer counts against its sender's cap. */
export const PUSH_FORGET_MS = 3_600_000;

function seriesKey(s: Sample): string {
  const names = Object.keys(s.labels).sort();
  let k = s.name;
  for (const n of names) k += `\0${n}\0${s.labels[n]}`;
  return k;
}

/**
 * Series keys of a batch in order. A remote_write series' samples share one label object and come
 * one after another, so the key is computed once per run of them, not once per sample.
 */
function batchKeys(batch: readonly PushedSample[]): string[] {
  const keys = new Array<string>(batch.length);
  let labels: Sample['labels'] | undefined;
  let name = '';
  let key = '';
  for (let i = 0; i < batch.length; i++) {
    const s = (batch[i] as PushedSample).sample;
    if (s.labels !== labels || s.name !== name) {
      labels = s.labels;
      name = s.name;
      key = seriesKey(s);
    }
    keys[i] = key;
  }
  return keys;
}

/**
 * The caps of every push path (the Open-Falcon TCP listener, POST /api/v1/push, and any later
 * receiver): the shape of each series (labels per series, name and value lengths), and per sender
 * the series and hosts it may create and the samples per second it may send. A sender is whoever
 * authenticated the push, so one token's budget is shared by its TCP connections and HTTP requests.
 */
export class PushLimits {
  readonly caps: PushCaps;
  readonly #senders = new Map<string, SenderBudget>();
  readonly #now: () => number;
  readonly #forgetMs: number;

  constructor(caps: PushCaps, opts: { now?: () => number; forgetMs?: number } = {}) {
    this.caps = caps;
    this.#now = opts.now ?? Date.now;
    this.#forgetMs = opts.forgetMs ?? PUSH_FORGET_MS;
  }

  /** Refuses a sample whose shape is past the caps, with a message naming the cap. */
  checkShape(s: Sample, where: string): void {
    const c = this.caps;
    const names = Object.keys(s.labels);
    if (names.length > c.max_labels_per_series) {
      throw new PushError(
        'too_many_labels',
        `${where}: ${names.length} labels; at most ${c.max_labels_per_series} per series (ingest.push.max_labels_per_series)`,
      );
    }
    if (s.name.length > c.max_label_name_length) {
      throw new PushError(
        'label_too_long',
        `${where}: metric name of ${s.name.length} characters; at most ${c.max_label_name_length} (ingest.push.max_label_name_length)`,
      );
    }
    for (const n of names) {
      if (n.length > c.max_label_name_length) {
        throw new PushError(
          'label_too_long',
          `${where}: label name "${n.slice(0, 40)}..." of ${n.length} characters; at most ${c.max_label_name_length} (ingest.push.max_label_name_length)`,
        );
      }
      const v = s.labels[n] as string;
      if (v.length > c.max_label_value_length) {
        throw new PushError(
          'label_too_long',
          `${where}: label ${n.slice(0, 40)} has a value of ${v.length} characters; at most ${c.max_label_value_length} (ingest.push.max_label_value_length)`,
        );
      }
    }
  }

  /** checkShape over a batch, once per run of samples sharing a label set; `where(i)` names sample i. */
  checkShapes(batch: readonly PushedSample[], where: (i: number) => string): void {
    let labels: Sample['labels'] | undefined;
    let name = '';
    for (let i = 0; i < batch.length; i++) {
      const s = (batch[i] as PushedSample).sample;
      if (s.labels === labels && s.name === name) continue;
      labels = s.labels;
      name = s.name;
      this.checkShape(s, where(i));
    }
  }

  /**
   * Admits a batch from one sender, all or nothing: new series and hosts within the sender's caps,
   * and samples within its rate. Nothing is counted against the sender unless the whole batch is
   * admitted. Throws a PushError naming the cap (rate_limited ones carry when to retry).
   */
  admit(sender: PushSender, batch: readonly PushedSample[], where: string): void {
    const c = this.caps;
    const now = this.#now();
    const b = this.#budget(sender.key, now);
    const newSeries = new Set<string>();
    const newHosts = new Set<string>();
    const keys = batchKeys(batch);
    let lastHost: string | undefined;
    let lastKey: string | undefined;
    for (let i = 0; i < batch.length; i++) {
      const host = (batch[i] as PushedSample).host;
      const k = keys[i] as string;
      if (host !== lastHost && !b.hosts.has(host)) newHosts.add(host);
      if (k !== lastKey && !b.series.has(k)) newSeries.add(k);
      lastHost = host;
      lastKey = k;
    }
    if (newHosts.size && b.hosts.size + newHosts.size > c.max_hosts_per_sender) {
      forget(b.hosts, now - this.#forgetMs);
      if (b.hosts.size + newHosts.size > c.max_hosts_per_sender) {
        throw new PushError(
          'too_many_hosts',
          `${where}: ${sender.name} has pushed for ${b.hosts.size} hosts within the last hour; at most ${c.max_hosts_per_sender} (ingest.push.max_hosts_per_sender), so new hosts are refused`,
        );
      }
    }
    if (newSeries.size && b.series.size + newSeries.size > c.max_series_per_sender) {
      forget(b.series, now - this.#forgetMs);
      if (b.series.size + newSeries.size > c.max_series_per_sender) {
        throw new PushError(
          'too_many_series',
          `${where}: ${sender.name} has pushed ${b.series.size} series within the last hour; at most ${c.max_series_per_sender} (ingest.push.max_series_per_sender), so new series are refused`,
        );
      }
    }
    b.tokens = Math.min(c.burst, b.tokens + ((now - b.refilledMs) * c.samples_per_second) / 1000);
    b.refilledMs = now;
    if (batch.length > b.tokens) {
      if (batch.length > c.burst) {
        throw new PushError(
          'rate_limited',
          `${where}: ${batch.length} samples at once; at most ${c.burst} (ingest.push.burst)`,
          Number.POSITIVE_INFINITY,
        );
      }
      const retryAfterMs = Math.ceil(((batch.length - b.tokens) * 1000) / c.samples_per_second);
      throw new PushError(
        'rate_limited',
        `${where}: ${sender.name} is over ${c.samples_per_second} samples per second (ingest.push.samples_per_second); retry in ${Math.ceil(retryAfterMs / 1000)} s`,
        retryAfterMs,
      );
    }
    b.tokens -= batch.length;
    let prevHost: string | undefined;
    let prevKey: string | undefined;
    for (let i = 0; i < batch.length; i++) {
      const host = (batch[i] as PushedSample).host;
      const k = keys[i] as string;
      if (host !== prevHost) b.hosts.set(host, now);
      if (k !== prevKey) b.series.set(k, now);
      prevHost = host;
      prevKey = k;
    }
  }

  #budget(key: string, now: number): SenderBudget {
    let b = this.#senders.get(key);
    if (!b) {
      b = { series: new Map(), hosts: new Map(), tokens: this.caps.burst, refilledMs: now };
      this.#senders.set(key, b);
    }
    return b;
  }
}

function forget(seen: Map<string, number>, beforeMs: number): void {
  for (const [k, t] of seen) if (t < beforeMs) seen.delete(k);
}
