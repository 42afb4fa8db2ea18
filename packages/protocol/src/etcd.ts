/**
 * etcd plumbing the agent and the server share in etcd task mode: a client that notices an etcd
 * restart within seconds, and a mirror of a key prefix that survives one.
 */
import { ExponentialBackoff, noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';

/**
 * An etcd client tuned to notice an etcd restart within a second: no circuit breaker in front
 * of the hosts (our own loops retry on a short cadence), short deadlines on unary calls, and
 * connections and watch streams redialled within a second.
 */
export function etcdClient(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 2_000,
    faultHandling: {
      host: () => noop,
      global: noop,
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1_000 }).next(),
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 3_000 }),
    // gRPC's own redial backoff grows to minutes; etcd coming back must be noticed within a second.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer from etcd within ${ms} ms`)), ms);
    }),
  ]);
}

export interface PrefixEvents {
  /** The whole prefix as it is now: after the first connection and after every reconnect. */
  snapshot(entries: Map<string, string>): void;
  put(key: string, value: string): void;
  delete(key: string): void;
  /** etcd stopped answering (the watch broke and the read failed); `snapshot` follows once it is back. */
  unreachable?(err: Error): void;
}

/**
 * Keeps `events` in step with every key under `prefix`: a full read, then a watch from the
 * revision after it. When the watch stream breaks (etcd restarted, or lost its data), the read
 * and the watch start over, so no change between the two is missed and nothing stale survives.
 */
export class PrefixMirror {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #events: PrefixEvents;
  readonly #log: Logger;
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(client: Etcd3, prefix: string, events: PrefixEvents, log: Logger) {
    this.#client = client;
    this.#prefix = prefix;
    this.#events = events;
    this.#log = log;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        const res = await this.#client.getAll().prefix(this.#prefix).exec();
        const entries = new Map<string, string>();
        for (const kv of res.kvs) entries.set(kv.key.toString(), kv.value.toString());
        this.#events.snapshot(entries);
        const watcher = await this.#client
          .watch()
          .prefix(this.#prefix)
          .startRevision(String(Number(res.header.revision) + 1))
          .create();
        if (failures > 0) this.#log.info({ prefix: this.#prefix }, 'etcd watch restored');
        failures = 0;
        watcher.on('put', (kv) => this.#events.put(kv.key.toString(), kv.value.toString()));
        watcher.on('delete', (kv) => this.#events.delete(kv.key.toString()));
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          watcher.once('disconnected', () => resolve());
          watcher.once('error', () => resolve());
          watcher.once('end', () => resolve());
        });
        this.#wake = undefined;
        watcher.removeAllListeners();
        watcher.on('error', () => undefined);
        await withTimeout(watcher.cancel(), 1_000, 'cancel watch').catch(() => undefined);
      } catch (err) {
        if (failures++ === 0) {
          this.#log.warn({ prefix: this.#prefix, err: (err as Error).message }, 'etcd unreachable; retrying');
          this.#events.unreachable?.(err as Error);
        }
      }
      if (!this.#stopped) await sleep(Math.min(1_000, 100 * 2 ** Math.min(failures, 4)));
    }
  }
}
