/**
 * Whether a PostgreSQL database (the metadata database or the sample store) answers. It learns of
 * trouble from errors its users see (a pool's idle connection dying, a failed write or request),
 * confirms it with a probe, says so once in the log, and probes every second until the database
 * answers again: the pools reconnect by themselves, this only tells operators and the API why.
 */
import type pg from 'pg';

/** SQLSTATE classes and codes that mean "the server is not there right now", not "the query was wrong". */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)/;

/** Whether `err` says the database cannot be reached (down, restarting, unreachable), rather than that a query failed. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown } | undefined, depth = 0;
    e && depth < 4;
    depth++
  ) {
    if (typeof e.code === 'string' && (UNAVAILABLE_ERRNO.has(e.code) || UNAVAILABLE_SQLSTATE.test(e.code))) return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
    if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x))) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** The reason in a few words, from the error: its code and message. */
export function unavailableReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; errors?: { message?: unknown }[] };
  const msg = typeof e?.message === 'string' && e.message ? e.message : String(e?.errors?.[0]?.message ?? err);
  return typeof e?.code === 'string' && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

export interface HealthLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface DatabaseHealthOptions {
  /** What the database is to a reader of the log: "metadata database", "sample store". */
  role: string;
  /** `host:port/database` (never the password). */
  where: string;
  /** A trivial query on the pool (SELECT 1); it rejects while the database is away. */
  probe: () => Promise<unknown>;
  log?: HealthLog | undefined;
  probeEveryMs?: number;
}

export class DatabaseHealth {
  readonly #o: DatabaseHealthOptions;
  #up = true;
  #reason = '';
  #downSinceMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;
  #closed = false;
  /** Times the database went away since the start. */
  outages = 0;

  constructor(opts: DatabaseHealthOptions) {
    this.#o = opts;
  }

  get role(): string {
    return this.#o.role;
  }
  get up(): boolean {
    return this.#up;
  }
  /** Why it is down (the last error), empty while up. */
  get reason(): string {
    return this.#up ? '' : `${this.#o.role} (PostgreSQL at ${this.#o.where}) is unavailable: ${this.#reason}`;
  }

  /** Tells of an error a user of the database saw; one that says the database is away starts a check. */
  observe(err: unknown): void {
    if (this.#closed || !isDatabaseUnavailable(err)) return;
    if (!this.#up) {
      this.#reason = unavailableReason(err);
      return;
    }
    void this.#check(err);
  }

  async #check(first: unknown): Promise<void> {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      await this.#o.probe();
      if (!this.#up) {
        const downMs = Date.now() - this.#downSinceMs;
        this.#up = true;
        this.#reason = '';
        clearInterval(this.#timer);
        this.#timer = undefined;
        this.#o.log?.info(
          { database: this.#o.where, downMs },
          `${this.#o.role} reachable again after ${(downMs / 1000).toFixed(1)} s; resuming`,
        );
      }
    } catch (err) {
      if (!isDatabaseUnavailable(err)) return;
      this.#reason = unavailableReason(err ?? first);
      if (this.#up) {
        this.#up = false;
        this.#downSinceMs = Date.now();
        this.outages++;
        this.#o.log?.warn(
          { database: this.#o.where, err: this.#reason },
          `${this.#o.role} unavailable: ${this.#reason}; reports are not acknowledged (agents keep them in their spools) and the API answers 503 until it is back; reconnecting every ${(this.#o.probeEveryMs ?? 1000) / 1000} s`,
        );
        this.#timer = setInterval(() => void this.#check(first), this.#o.probeEveryMs ?? 1000);
        this.#timer.unref();
      }
    } finally {
      this.#checking = false;
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}

/**
 * pg emits 'error' on a client whose connection dies; the pool listens only while the client is
 * idle, so one checked out (in a transaction, between two queries) would end the process when
 * PostgreSQL is killed. Every client the pool makes gets a listener for good: its query in flight
 * fails on its own, and the pool drops the dead client when it is released.
 */
export function keepClientErrors(pool: pg.Pool, onError: (err: Error) => void): void {
  pool.on('connect', (client) => {
    client.on('error', onError);
  });
}

/** `host:port/database` of a postgres:// URL, without user or password. */
export function databaseWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'the configured database.url';
  }
}
