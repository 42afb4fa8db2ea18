import type { ProbeConfig } from '@falconet/protocol/probes';
import type { MetricFamily } from '../metrics.ts';

interface Scheduled {
  config: ProbeConfig;
  key: string;
  timer: NodeJS.Timeout;
  running: boolean;
}

/** Runs one probe once; the schedule does not care how (the worker's runProbe, or a test's stand-in). */
export type RunOne = (p: ProbeConfig) => Promise<MetricFamily[]>;

/**
 * Each probe on its own timer, so a slow target never holds up another probe. Results go to
 * `onResult` with the probe's settings key, so a receiver can drop a result of settings it has
 * since replaced.
 */
export class ProbeSchedule {
  readonly #probes = new Map<string, Scheduled>();
  readonly #run: RunOne;
  readonly #onResult: (id: string, key: string, families: MetricFamily[]) => void;

  constructor(run: RunOne, onResult: (id: string, key: string, families: MetricFamily[]) => void) {
    this.#run = run;
    this.#onResult = onResult;
  }

  /** Starts, restarts (when changed) and stops probes to match the list. */
  update(list: readonly ProbeConfig[]): void {
    const wanted = new Map(list.map((p) => [p.id, p]));
    for (const [id, s] of this.#probes) {
      const next = wanted.get(id);
      if (!next || probeKey(next) !== s.key) {
        clearTimeout(s.timer);
        clearInterval(s.timer);
        this.#probes.delete(id);
      }
    }
    for (const p of list) {
      if (this.#probes.has(p.id)) continue;
      // Each probe starts at an offset within its interval taken from its id, as Prometheus spreads
      // its scrapes: probes (and the report's collection) do not all fire in the same instant.
      const s: Scheduled = {
        config: p,
        key: probeKey(p),
        running: false,
        timer: setTimeout(
          () => {
            void this.#fire(s);
            s.timer = setInterval(() => void this.#fire(s), p.interval);
          },
          offsetMs(p.id, p.interval),
        ),
      };
      this.#probes.set(p.id, s);
    }
  }

  async #fire(s: Scheduled): Promise<void> {
    if (s.running) return;
    s.running = true;
    try {
      const families = await this.#run(s.config);
      if (this.#probes.get(s.config.id) === s) this.#onResult(s.config.id, s.key, families);
    } finally {
      s.running = false;
    }
  }

  stop(): void {
    for (const s of this.#probes.values()) {
      clearTimeout(s.timer);
      clearInterval(s.timer);
    }
    this.#probes.clear();
  }
}

/** The settings of a probe as one string: equal settings, same key. */
export const probeKey = (p: ProbeConfig): string => JSON.stringify(p);

/** A stable offset in [0, intervalMs) from the probe's id (FNV-1a). */
export function offsetMs(id: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h % intervalMs;
}
