import type { EtcdJob } from '@falconet/protocol';
import { withTimeout } from '@falconet/protocol/etcd';
import { type Etcd3, EtcdLeaseInvalidError, type Lease } from 'etcd3';
import type { Logger } from 'pino';
import { z } from 'zod';

const etcdJobSchema = z.object({
  cmd: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  schedule: z.string().min(1),
  timezone: z.string().default(''),
  status: z.enum(['running', 'paused']),
  executor: z.string(),
  timeout_ms: z.number().int().min(0).default(0),
  issued_ms: z.number().int(),
  signature: z.string(),
});

/** A job as the server writes it under the agent's etcd prefix; throws on anything else. */
export function parseEtcdJob(raw: string): EtcdJob {
  return etcdJobSchema.parse(JSON.parse(raw)) as EtcdJob;
}

export interface HealthLeaseOptions {
  key: string;
  value: () => string;
  ttlMs: number;
  renewMs: number;
  log: Logger;
}

/**
 * A key kept alive by a lease: granted, written, and renewed every `renewMs`. If etcd says the
 * lease is gone (it expired during an outage, or etcd restarted without its data), a new lease is
 * granted and every key written again. Other keys that live and die with this one (the cron
 * scheduler ids) ride on the same lease; they are written on a queue of their own, so a slow or
 * failing write never delays a renewal.
 */
export class HealthLease {
  readonly #client: Etcd3;
  readonly #opts: HealthLeaseOptions;
  readonly #extra = new Map<string, string>();
  readonly #dirty = new Set<string>();
  #lease: Lease | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;
  /** Consecutive failed renewals: while etcd is away it is tried again sooner, backing off to renewMs. */
  #failures = 0;
  #renewing: Promise<void> = Promise.resolve();
  #writes: Promise<void> = Promise.resolve();
  readonly stats = { grants: 0, renewals: 0, failures: 0 };

  constructor(client: Etcd3, opts: HealthLeaseOptions) {
    this.#client = client;
    this.#opts = opts;
  }

  start(): void {
    this.#tick();
  }

  /** Writes `key` under the lease now and after every re-grant. */
  put(key: string, value: string): void {
    this.#extra.set(key, value);
    this.#dirty.add(key);
    this.#flush();
  }

  /** Stops rewriting `key` and deletes it. */
  delete(key: string): void {
    this.#extra.delete(key);
    this.#dirty.delete(key);
    this.#writes = this.#writes.then(async () => {
      try {
        await this.#client.delete().key(key);
      } catch (err) {
        this.#opts.log.warn({ key, err: (err as Error).message }, 'could not delete etcd key');
      }
    });
  }

  /** Revokes the lease, so the health key goes at once rather than after the TTL. */
  async stop(revoke: boolean): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all([this.#renewing, this.#writes]).catch(() => undefined);
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease && revoke) await withTimeout(lease.revoke(), 2_000, 'revoke lease').catch(() => undefined);
    else lease?.release();
  }

  /** Writes the keys not yet written under the current lease; what fails stays for the next try. */
  #flush(): void {
    const lease = this.#lease;
    if (!lease || this.#stopped || this.#dirty.size === 0) return;
    this.#writes = this.#writes.then(async () => {
      for (const k of [...this.#dirty]) {
        const v = this.#extra.get(k);
        if (v === undefined || this.#lease !== lease) continue;
        try {
          await lease.put(k).value(v);
          this.#dirty.delete(k);
        } catch (err) {
          // A lease etcd no longer knows: renew now rather than at the next tick.
          if (err instanceof EtcdLeaseInvalidError) this.#renewNow();
          return;
        }
      }
    });
  }

  #renewNow(): void {
    clearTimeout(this.#timer);
    this.#tick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#renewing = this.#renewing
      .then(() => this.#renew())
      .catch(() => undefined)
      .finally(() => {
        if (this.#stopped) return;
        clearTimeout(this.#timer);
        const renewMs = this.#opts.renewMs;
        const delay = this.#failures === 0 ? renewMs : Math.min(renewMs, 100 * 2 ** Math.min(this.#failures, 6));
        this.#timer = setTimeout(() => this.#tick(), delay);
        this.#timer.unref();
      });
  }

  async #renew(): Promise<void> {
    const { log, renewMs } = this.#opts;
    try {
      if (!this.#lease) await this.#grant();
      else {
        await withTimeout(this.#lease.keepaliveOnce(), Math.max(renewMs, 1_000), 'lease keepalive');
        this.stats.renewals++;
        this.#flush();
      }
      if (this.#failing) log.info({ key: this.#opts.key }, 'etcd lease renewed again');
      this.#failing = false;
      this.#failures = 0;
    } catch (err) {
      this.stats.failures++;
      this.#failures++;
      log.debug({ key: this.#opts.key, err: (err as Error).message, failures: this.#failures }, 'etcd lease renewal failed');
      if (err instanceof EtcdLeaseInvalidError) {
        log.warn({ key: this.#opts.key }, 'etcd lease lost; granting a new one and writing the keys again');
        this.#lease?.release();
        this.#lease = undefined;
        try {
          await this.#grant();
          this.#failures = 0;
        } catch (e) {
          this.#fail(e);
        }
        return;
      }
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    if (!this.#failing) this.#opts.log.warn({ key: this.#opts.key, err: (err as Error).message }, 'etcd lease renewal failing; retrying');
    this.#failing = true;
  }

  async #grant(): Promise<void> {
    const { key, value, ttlMs, log } = this.#opts;
    const lease = this.#client.lease(Math.round(ttlMs / 1000), { autoKeepAlive: false });
    lease.on('lost', () => undefined);
    let id: string;
    try {
      id = await withTimeout(lease.grant(), 3_000, 'lease grant');
      await withTimeout(Promise.resolve(lease.put(key).value(value())), 3_000, 'health key write');
    } catch (err) {
      lease.release();
      throw err;
    }
    this.#lease = lease;
    this.stats.grants++;
    for (const k of this.#extra.keys()) this.#dirty.add(k);
    this.#flush();
    log.info({ key, ttlMs, leaseId: id }, 'etcd health key written under a new lease');
  }
}
