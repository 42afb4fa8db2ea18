/**
 * Silences and maintenance windows: matchers over an alert's labels, active once between two
 * times, or at every time of a cron schedule for a duration. A silenced alert still fires and is
 * shown; it is only not notified.
 */
import { Cron } from 'croner';
import { type CompiledMatcher, compileMatcher, matchesAll } from './matchers.ts';
import { ms, type SilenceSpec, selector, timeMs } from './spec.ts';

export class Silence {
  readonly id: string;
  readonly spec: SilenceSpec;
  readonly source: string;
  readonly createdBy: string;
  readonly createdMs: number;
  readonly matchers: CompiledMatcher[];
  /** One-off silences: the span. Scheduled windows: the span of the current or next opening. */
  readonly startsMs: number;
  readonly endsMs: number;
  readonly #cron: Cron | undefined;
  readonly #durationMs: number;

  constructor(id: string, spec: SilenceSpec, meta: { source: string; createdBy: string; createdMs: number }) {
    this.id = id;
    this.spec = spec;
    this.source = meta.source;
    this.createdBy = meta.createdBy;
    this.createdMs = meta.createdMs;
    this.matchers = selector(spec.matchers).map(compileMatcher);
    this.#durationMs = ms(spec.duration, 0);
    if (spec.schedule) {
      this.#cron = new Cron(spec.schedule, { paused: true, ...(spec.timezone ? { timezone: spec.timezone } : {}) });
      this.startsMs = 0;
      this.endsMs = Number.POSITIVE_INFINITY;
    } else {
      this.startsMs = spec.starts_at !== undefined ? timeMs(spec.starts_at) : meta.createdMs;
      this.endsMs = spec.ends_at !== undefined ? timeMs(spec.ends_at) : this.startsMs + this.#durationMs;
    }
  }

  get scheduled(): boolean {
    return this.#cron !== undefined;
  }

  /** The opening that contains `nowMs`, or the next one; undefined when there is none. */
  window(nowMs: number): { startMs: number; endMs: number } | undefined {
    if (!this.#cron) return nowMs < this.endsMs ? { startMs: this.startsMs, endMs: this.endsMs } : undefined;
    // The latest start at or before now (previousRuns is strictly before its reference).
    const prev = this.#cron.previousRuns(1, new Date(nowMs + 1))[0];
    if (prev && nowMs < prev.getTime() + this.#durationMs) return { startMs: prev.getTime(), endMs: prev.getTime() + this.#durationMs };
    const next = this.#cron.nextRun(new Date(nowMs));
    return next ? { startMs: next.getTime(), endMs: next.getTime() + this.#durationMs } : undefined;
  }

  activeAt(nowMs: number): boolean {
    const w = this.window(nowMs);
    return w !== undefined && w.startMs <= nowMs && nowMs < w.endMs;
  }

  /** A one-off silence that has ended; scheduled windows never expire. */
  expiredAt(nowMs: number): boolean {
    return !this.#cron && nowMs >= this.endsMs;
  }

  matches(labels: Readonly<Record<string, string>>): boolean {
    return matchesAll(this.matchers, labels);
  }
}

export class SilenceSet {
  readonly list: readonly Silence[];
  #activeAt = Number.NaN;
  #active: Silence[] = [];

  constructor(list: readonly Silence[]) {
    this.list = list;
  }

  /** The silences that mute these labels now. */
  muting(labels: Readonly<Record<string, string>>, nowMs: number): Silence[] {
    // Which silences are open is worked out once per second, not per alert.
    const second = Math.floor(nowMs / 1000);
    if (second !== this.#activeAt) {
      this.#activeAt = second;
      this.#active = this.list.filter((s) => s.activeAt(nowMs));
    }
    if (this.#active.length === 0) return [];
    return this.#active.filter((s) => s.matches(labels));
  }
}
