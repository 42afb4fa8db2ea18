import { getHeapStatistics } from 'node:v8';
import type { Labels } from '@falconet/protocol';
import { processFamilies } from './exporter/process.ts';
import type { MetricFamily, MetricType } from './metrics.ts';

/** A reading: one value, or one value per label set. */
export type Reading = number | readonly (readonly [Labels, number])[];

interface Entry {
  help: string;
  type: MetricType;
  read: () => Reading | undefined;
}

/**
 * The agent's own metrics on /metrics and in reports. A module registers a family once with a
 * function that reads its current value; nothing is pushed or stored here:
 *
 *   agent.selfMetrics.gauge('falconet_agent_spool_bytes', 'Bytes held in the spool.', () => spool.bytes);
 *
 * Registering a name again replaces the reader (a module rebuilt by a reload re-registers).
 */
export class SelfMetrics {
  readonly #entries = new Map<string, Entry>();
  readonly #providers = new Map<string, () => readonly MetricFamily[]>();

  gauge(name: string, help: string, read: () => Reading | undefined): void {
    this.#entries.set(name, { help, type: 'gauge', read });
  }

  counter(name: string, help: string, read: () => Reading | undefined): void {
    this.#entries.set(name, { help, type: 'counter', read });
  }

  /** A module that already builds whole families (the spool, the stream) registers them under one key. */
  provide(key: string, families: () => readonly MetricFamily[]): void {
    this.#providers.set(key, families);
  }

  unregister(name: string): void {
    this.#entries.delete(name);
    this.#providers.delete(name);
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * Reads every registered family, or only those named in `only` (names, or provider keys); a
   * reader that throws is skipped, so one module cannot break /metrics.
   */
  families(only?: ReadonlySet<string>): MetricFamily[] {
    const out: MetricFamily[] = [];
    for (const [name, e] of this.#entries) {
      if (only && !only.has(name)) continue;
      let reading: Reading | undefined;
      try {
        reading = e.read();
      } catch {
        continue;
      }
      if (reading === undefined) continue;
      const metrics =
        typeof reading === 'number' ? [{ labels: {}, value: reading }] : reading.map(([labels, value]) => ({ labels, value }));
      if (metrics.length) out.push({ name, help: e.help, type: e.type, metrics });
    }
    for (const [key, provide] of this.#providers) {
      if (only && !only.has(key)) continue;
      try {
        out.push(...provide());
      } catch {
        // as above: one module cannot break /metrics
      }
    }
    return out;
  }
}

/**
 * The event loop's lateness, sampled by a timer that should fire every `everyMs`: how much
 * later than asked it ran. One cheap wake-up per period, instead of the 100 per second that
 * perf_hooks' histogram would cost an agent that is otherwise asleep.
 */
export class EventLoopLag {
  readonly #everyMs: number;
  readonly #window: number[] = [];
  readonly #windowSize: number;
  #timer: NodeJS.Timeout | undefined;
  #expected = 0;
  lastSeconds = 0;

  constructor(everyMs = 1000, windowMs = 60_000) {
    this.#everyMs = everyMs;
    this.#windowSize = Math.max(1, Math.round(windowMs / everyMs));
  }

  start(): void {
    if (this.#timer) return;
    this.#expected = performance.now() + this.#everyMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - this.#expected) / 1000;
      this.#expected = now + this.#everyMs;
      this.lastSeconds = lag;
      this.#window.push(lag);
      if (this.#window.length > this.#windowSize) this.#window.shift();
    }, this.#everyMs);
    this.#timer.unref();
  }

  /** The largest lag over the last window (a minute by default). */
  get maxSeconds(): number {
    return this.#window.length ? Math.max(...this.#window) : 0;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** The process_* families Prometheus client libraries and node_exporter expose about themselves. */
export function registerProcessMetrics(m: SelfMetrics): void {
  const startTimeSeconds = Math.round((Date.now() - performance.now()) / 10) / 100;
  m.provide('process', () => processFamilies(startTimeSeconds));
  // The heap figure alone: process.memoryUsage() would also read /proc/self/stat for an RSS unused here.
  m.gauge('falconet_agent_heap_used_bytes', 'Bytes of the JavaScript heap in use.', () => getHeapStatistics().used_heap_size);
}
