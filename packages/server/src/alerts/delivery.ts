/**
 * Delivery: one queue per channel, sent in order, each notification retried with exponential
 * backoff (half jitter, so waits grow and herds spread) while the failure is one a retry can fix.
 * Every attempt, retry and give-up is counted per channel, logged, and recorded for REST.
 */
import type { DeliveryStatus } from '@falconet/protocol/api';
import { ExponentialBackoff, halfJitterGenerator, handleWhen, type IBackoff, type IBackoffFactory, retry } from 'cockatiel';
import type { Logger } from 'pino';
import type { ChannelSender } from './channels/index.ts';
import { createSender, DeliveryError, OUTCOME, outcomeOf } from './channels/index.ts';
import type { AlertsConfig } from './config.ts';
import type { Notification } from './notification.ts';
import { type ChannelSpec, ms } from './spec.ts';
import { compileTemplate, type Template } from './template.ts';

export interface RetrySettings {
  maxAttempts: number;
  initialMs: number;
  maxMs: number;
}

/** A channel ready to send: its spec, its sender, its templates and delivery settings. */
export interface ChannelRuntime {
  id: string;
  name: string;
  source: string;
  spec: ChannelSpec;
  sender: ChannelSender;
  title: Template | undefined;
  text: Template | undefined;
  maxAlerts: number;
  timeoutMs: number;
  retry: RetrySettings;
}

/** A channel's sender and settings: its own where it sets them, the server's `alerts.delivery` otherwise. */
export function channelRuntime(
  rec: { id: string; source: string; spec: ChannelSpec },
  defaults: AlertsConfig['delivery'],
  now: () => number,
): ChannelRuntime {
  const spec = rec.spec;
  const timeoutMs = ms(spec.timeout, defaults.timeout);
  return {
    id: rec.id,
    name: spec.name,
    source: rec.source,
    spec,
    sender: createSender(spec, { timeoutMs, now }),
    title: spec.title ? compileTemplate(spec.title) : undefined,
    text: spec.text ? compileTemplate(spec.text) : undefined,
    maxAlerts: spec.max_alerts ?? 20,
    timeoutMs,
    retry: {
      maxAttempts: spec.retry?.max_attempts ?? defaults.max_attempts,
      initialMs: ms(spec.retry?.initial_backoff, defaults.initial_backoff),
      maxMs: ms(spec.retry?.max_backoff, defaults.max_backoff),
    },
  };
}

export interface DeliveryRecord {
  id: string;
  channel: string;
  groupKey: string;
  kind: 'firing' | 'resolved' | 'repeat' | 'test';
  status: DeliveryStatus;
  title: string;
  alerts: number;
  attempts: number;
  error: string;
  createdMs: number;
  finishedMs: number;
}

export interface ChannelHealth {
  channel: string;
  delivered: number;
  failed: number;
  dropped: number;
  attempts: number;
  retries: number;
  consecutiveFailures: number;
  lastSuccessMs: number;
  lastFailureMs: number;
  lastError: string;
  queued: number;
}

/** Exponential backoff that waits at least as long as a Retry-After (or rate-limit) answer asked. */
class RetryAfterBackoff implements IBackoffFactory<{ result: { error: unknown } | { value: unknown } }> {
  readonly #inner: IBackoffFactory<unknown>;
  readonly #maxMs: number;
  constructor(inner: IBackoffFactory<unknown>, maxMs: number) {
    this.#inner = inner;
    this.#maxMs = maxMs;
  }
  next(ctx: { result: { error: unknown } | { value: unknown } }): IBackoff<{ result: { error: unknown } | { value: unknown } }> {
    const inner = this.#inner.next(ctx);
    const err = 'error' in ctx.result ? ctx.result.error : undefined;
    const asked = err instanceof DeliveryError ? err.retryAfterMs : undefined;
    const duration = asked === undefined ? inner.duration : Math.min(this.#maxMs, Math.max(asked, inner.duration));
    const rest = new RetryAfterBackoff(inner, this.#maxMs);
    return { duration, next: (c) => rest.next(c) };
  }
}

const MAX_QUEUED = 1000;

interface ChannelQueue {
  items: { rec: DeliveryRecord; n: Notification; channel: ChannelRuntime }[];
  running: boolean;
}

export class DeliveryQueue {
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onRecord: (rec: DeliveryRecord) => void;
  readonly #queues = new Map<string, ChannelQueue>();
  readonly #health = new Map<string, ChannelHealth>();
  readonly #closing = new AbortController();
  readonly #idle = new Set<() => void>();

  constructor(opts: { log: Logger; now?: () => number; onRecord?: (rec: DeliveryRecord) => void }) {
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#onRecord = opts.onRecord ?? (() => undefined);
  }

  health(channel: string): ChannelHealth {
    let h = this.#health.get(channel);
    if (!h) {
      h = {
        channel,
        delivered: 0,
        failed: 0,
        dropped: 0,
        attempts: 0,
        retries: 0,
        consecutiveFailures: 0,
        lastSuccessMs: 0,
        lastFailureMs: 0,
        lastError: '',
        queued: 0,
      };
      this.#health.set(channel, h);
    }
    return h;
  }

  get allHealth(): ChannelHealth[] {
    return [...this.#health.values()];
  }

  get pending(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.items.length + (q.running ? 1 : 0);
    return n;
  }

  enqueue(channel: ChannelRuntime, n: Notification, kind: DeliveryRecord['kind']): DeliveryRecord {
    const rec: DeliveryRecord = {
      id: n.id,
      channel: channel.name,
      groupKey: n.groupKey,
      kind,
      status: 'queued',
      title: n.title.slice(0, 300),
      alerts: n.alerts.length,
      attempts: 0,
      error: '',
      createdMs: this.#now(),
      finishedMs: 0,
    };
    let q = this.#queues.get(channel.name);
    if (!q) {
      q = { items: [], running: false };
      this.#queues.set(channel.name, q);
    }
    const h = this.health(channel.name);
    if (q.items.length >= MAX_QUEUED) {
      // A channel down for long: the oldest waiting message goes, the newest state matters more.
      const old = q.items.shift();
      if (old) {
        old.rec.status = 'dropped';
        old.rec.error = OUTCOME.dropped;
        old.rec.finishedMs = this.#now();
        h.dropped++;
        this.#onRecord(old.rec);
      }
    }
    q.items.push({ rec, n, channel });
    h.queued = q.items.length;
    this.#onRecord(rec);
    if (!q.running) void this.#drain(channel.name, q);
    return rec;
  }

  /** Resolves when nothing is queued or being sent. */
  async idle(): Promise<void> {
    if (this.pending === 0) return;
    await new Promise<void>((resolve) => this.#idle.add(resolve));
  }

  close(): void {
    this.#closing.abort();
  }

  async #drain(name: string, q: ChannelQueue): Promise<void> {
    q.running = true;
    try {
      for (let item = q.items.shift(); item; item = q.items.shift()) {
        this.health(name).queued = q.items.length;
        if (this.#closing.signal.aborted) break;
        await this.#deliver(item.channel, item.n, item.rec);
      }
    } finally {
      q.running = false;
      if (this.pending === 0) for (const resolve of this.#idle) resolve();
      this.#idle.clear();
    }
  }

  async #deliver(ch: ChannelRuntime, n: Notification, rec: DeliveryRecord): Promise<void> {
    const h = this.health(ch.name);
    const log = this.#log.child({ channel: ch.name, type: ch.spec.type, delivery: rec.id });
    const policy = retry(
      handleWhen((e) => e instanceof DeliveryError && e.retryable),
      {
        maxAttempts: ch.retry.maxAttempts - 1,
        backoff: new RetryAfterBackoff(
          new ExponentialBackoff({ generator: halfJitterGenerator, initialDelay: ch.retry.initialMs, maxDelay: ch.retry.maxMs }),
          ch.retry.maxMs,
        ),
      },
    );
    policy.onRetry((e) => {
      h.retries++;
      const err = 'error' in e ? (e.error as Error).message : 'unexpected answer';
      log.warn({ attempt: rec.attempts, retryInMs: e.delay, err }, `alert notification to ${ch.name} failed; retrying in ${e.delay} ms`);
    });
    rec.status = 'sending';
    try {
      await policy.execute(async () => {
        rec.attempts++;
        h.attempts++;
        const signal = AbortSignal.any([AbortSignal.timeout(ch.timeoutMs), this.#closing.signal]);
        try {
          await ch.sender.send(n, signal);
        } catch (err) {
          h.lastError = outcomeOf(err);
          h.lastFailureMs = this.#now();
          h.consecutiveFailures++;
          throw err instanceof DeliveryError ? err : new DeliveryError(OUTCOME.unexpected, (err as Error).message, true);
        }
      }, this.#closing.signal);
      rec.status = 'delivered';
      h.delivered++;
      h.consecutiveFailures = 0;
      h.lastSuccessMs = this.#now();
      log.info({ attempts: rec.attempts, alerts: rec.alerts, kind: rec.kind }, `alert notification delivered to ${ch.name}`);
    } catch (err) {
      rec.status = 'failed';
      // The record is shown over REST: the fixed phrase only; the detail goes to the log.
      rec.error = outcomeOf(err);
      h.failed++;
      log.error(
        { attempts: rec.attempts, err: (err as Error).message.slice(0, 1000), outcome: rec.error, alerts: rec.alerts },
        `alert notification to ${ch.name} failed after ${rec.attempts} attempt(s)`,
      );
    }
    rec.finishedMs = this.#now();
    this.#onRecord(rec);
  }
}
