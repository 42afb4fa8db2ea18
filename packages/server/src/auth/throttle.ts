/**
 * Sign-in throttling, in memory: a token bucket per client address (bounds guessing speed from
 * one place), and failure counts for names that are not users, so an unknown name locks out
 * exactly like a known one and lockouts do not reveal which names exist. Known users' counts
 * live in their rows (auth/users.ts), shared by every server instance.
 */
export interface ThrottleOptions {
  /** Attempts an address may make at once... */
  burst: number;
  /** ...and how many more per minute after that. */
  perMinute: number;
  maxFailures: number;
  lockoutMs: number;
  /** Bound on remembered addresses and names; the oldest are forgotten first. */
  maxEntries?: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

interface Failures {
  count: number;
  lockedUntilMs: number;
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}

export class SignInThrottle {
  readonly #opts: Required<ThrottleOptions>;
  readonly #buckets = new Map<string, Bucket>();
  readonly #unknownNames = new Map<string, Failures>();

  constructor(opts: ThrottleOptions) {
    this.#opts = { maxEntries: 10_000, ...opts };
  }

  /** Takes one attempt for `address`; returns 0 when allowed, else milliseconds to wait. */
  take(address: string, nowMs = Date.now()): number {
    const { burst, perMinute, maxEntries } = this.#opts;
    const b = this.#buckets.get(address) ?? { tokens: burst, updatedMs: nowMs };
    b.tokens = Math.min(burst, b.tokens + ((nowMs - b.updatedMs) * perMinute) / 60_000);
    b.updatedMs = nowMs;
    let waitMs = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else waitMs = Math.ceil(((1 - b.tokens) * 60_000) / perMinute);
    remember(this.#buckets, address, b, maxEntries);
    return waitMs;
  }

  /** Milliseconds an unknown name stays locked, 0 when it is not. */
  unknownNameLockedFor(name: string, nowMs = Date.now()): number {
    const f = this.#unknownNames.get(name);
    return f && f.lockedUntilMs > nowMs ? f.lockedUntilMs - nowMs : 0;
  }

  /** Counts a failure for a name that is no user; true when that locked it. */
  unknownNameFailed(name: string, nowMs = Date.now()): boolean {
    const f = this.#unknownNames.get(name) ?? { count: 0, lockedUntilMs: 0 };
    f.count++;
    const locked = f.count >= this.#opts.maxFailures;
    if (locked) {
      f.count = 0;
      f.lockedUntilMs = nowMs + this.#opts.lockoutMs;
    }
    remember(this.#unknownNames, name, f, this.#opts.maxEntries);
    return locked;
  }

  get maxFailures(): number {
    return this.#opts.maxFailures;
  }

  get lockoutMs(): number {
    return this.#opts.lockoutMs;
  }
}
