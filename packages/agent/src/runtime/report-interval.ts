/**
 * The dynamic report interval. Each report is an observation of the host (CPU busy % since the
 * last report, 1-minute load per CPU), classified as
 *
 *   busy   when cpu >= busy.cpu_percent  or load/cpu >= busy.load_per_cpu
 *   idle   when cpu <= idle.cpu_percent and load/cpu <= idle.load_per_cpu
 *   normal otherwise
 *
 * and each class has a target interval: busy -> min, normal -> base, idle -> max, where base is
 * the server's hint when it sent one, else `interval`, and min/max are widened to include base.
 *
 * Hysteresis ("attack fast, decay slow"): a target shorter than the current interval is taken at
 * once, so a load spike is reported closely from the next report on; a longer target is taken
 * only after `hold` consecutive observations all asked for a longer interval, and then the
 * shortest of those targets. A host hovering at a threshold therefore does not flap, and the gap
 * between the busy and the idle thresholds keeps normal load at the base interval.
 */

export interface ReportIntervalSettings {
  /** The interval while the host is normal (the configured `interval`). */
  baseMs: number;
  minMs: number;
  maxMs: number;
  dynamic: boolean;
  busy: { cpuPercent: number; loadPerCpu: number };
  idle: { cpuPercent: number; loadPerCpu: number };
  hold: number;
}

export interface HostObservation {
  /** Busy CPU percent over the last report period, when known. */
  cpuPercent?: number | undefined;
  /** 1-minute load average divided by the number of CPUs, when known. */
  loadPerCpu?: number | undefined;
}

export type HostLoad = 'busy' | 'normal' | 'idle';

export function classify(o: HostObservation, s: Pick<ReportIntervalSettings, 'busy' | 'idle'>): HostLoad {
  const cpu = o.cpuPercent;
  const load = o.loadPerCpu;
  if ((cpu !== undefined && cpu >= s.busy.cpuPercent) || (load !== undefined && load >= s.busy.loadPerCpu)) return 'busy';
  // Idle needs evidence: an observation with neither figure is normal, not idle.
  if (cpu === undefined && load === undefined) return 'normal';
  if ((cpu === undefined || cpu <= s.idle.cpuPercent) && (load === undefined || load <= s.idle.loadPerCpu)) return 'idle';
  return 'normal';
}

export class ReportInterval {
  #s: ReportIntervalSettings;
  #hintMs = 0;
  #currentMs: number;
  #load: HostLoad = 'normal';
  /** Consecutive observations asking for a longer interval, and the shortest they asked for. */
  #streak = 0;
  #streakTargetMs = Number.POSITIVE_INFINITY;

  constructor(settings: ReportIntervalSettings) {
    this.#s = settings;
    this.#currentMs = this.baseMs;
  }

  /** The interval in effect. */
  get currentMs(): number {
    return this.#currentMs;
  }

  /** The class of the last observation. */
  get load(): HostLoad {
    return this.#load;
  }

  get hintMs(): number {
    return this.#hintMs;
  }

  get baseMs(): number {
    const base = this.#hintMs || this.#s.baseMs;
    return Math.min(this.maxMs, Math.max(this.minMs, base));
  }

  get minMs(): number {
    return Math.min(this.#s.minMs, this.#s.baseMs);
  }

  get maxMs(): number {
    return Math.max(this.#s.maxMs, this.#s.baseMs);
  }

  /** The longest the agent may stay silent: what it declares to the server for presence. */
  get longestMs(): number {
    return this.#s.dynamic ? this.maxMs : this.baseMs;
  }

  targetFor(load: HostLoad): number {
    if (!this.#s.dynamic) return this.baseMs;
    return load === 'busy' ? this.minMs : load === 'idle' ? this.maxMs : this.baseMs;
  }

  /** Takes one observation; returns the interval until the next report. */
  observe(o: HostObservation): number {
    this.#load = classify(o, this.#s);
    this.#step(this.targetFor(this.#load));
    return this.#currentMs;
  }

  /** The server's suggestion; 0 withdraws it. Clamped to the configured bounds. */
  hint(ms: number): number {
    this.#hintMs = Math.max(0, ms);
    this.#resetTo(this.targetFor(this.#load));
    return this.#currentMs;
  }

  reconfigure(settings: ReportIntervalSettings): number {
    this.#s = settings;
    this.#resetTo(this.targetFor(this.#load));
    return this.#currentMs;
  }

  #step(target: number): void {
    if (target < this.#currentMs) {
      this.#currentMs = target;
      this.#streak = 0;
      this.#streakTargetMs = Number.POSITIVE_INFINITY;
    } else if (target > this.#currentMs) {
      this.#streak++;
      this.#streakTargetMs = Math.min(this.#streakTargetMs, target);
      if (this.#streak >= this.#s.hold) {
        this.#currentMs = this.#streakTargetMs;
        this.#streak = 0;
        this.#streakTargetMs = Number.POSITIVE_INFINITY;
      }
    } else {
      this.#streak = 0;
      this.#streakTargetMs = Number.POSITIVE_INFINITY;
    }
  }

  /** A new configuration or hint applies at once, in either direction: the operator asked for it. */
  #resetTo(target: number): void {
    this.#currentMs = target;
    this.#streak = 0;
    this.#streakTargetMs = Number.POSITIVE_INFINITY;
  }
}
