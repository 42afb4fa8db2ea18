/** Redaction rules, compiled once: each regex replaced everywhere in a line, in order. */
export class Redactor {
  readonly #rules: { re: RegExp; replacement: string }[];

  constructor(rules: readonly { pattern: string; replacement: string }[]) {
    this.#rules = rules.map((r) => ({ re: new RegExp(r.pattern, 'g'), replacement: r.replacement }));
  }

  get empty(): boolean {
    return this.#rules.length === 0;
  }

  apply(line: string): string {
    let out = line;
    for (const r of this.#rules) out = out.replace(r.re, r.replacement);
    return out;
  }
}

/**
 * A token bucket: `ratePerSecond` lines a second on average, `burst` at once. A rate of 0 lets
 * everything through. The clock is passed in, so tests drive it.
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = nowMs;
  }

  /** True when one more line may go now. */
  take(nowMs: number): boolean {
    if (this.#rate <= 0) return true;
    if (nowMs > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#at) / 1000) * this.#rate);
      this.#at = nowMs;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
