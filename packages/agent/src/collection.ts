import type { Logger } from 'pino';
import type { Collector, CollectorDefinition } from './collectors/registry.ts';
import type { AgentConfig, CollectorSetting } from './config.ts';
import { ConfigError } from './config-base.ts';
import { type MetricFamily, MetricWriter } from './metrics.ts';
import type { ProcRoots } from './procfs/fs.ts';

/**
 * Collection: every source of samples (built-in collectors, module plugins, exec plugins) is a
 * slot with its own interval and timeout, run under one concurrency limit. Both outputs, the
 * /metrics exporter and the reports, ask the same CollectorSet for a collection:
 *
 * - a slot runs when a collection is asked for and its last run is older than its interval
 *   (and than the caller's `maxAgeMs`); otherwise its last samples are served again;
 * - callers that arrive while a slot runs share that run (concurrent scrapes coalesce);
 * - a run still going after the slot's timeout is reported failed and given up on: the
 *   collection returns without it, its concurrency permit is released, and the slot is not
 *   started again until that run settles. A hung collector delays one collection by at most its
 *   timeout, and later ones not at all.
 */

export interface Collection {
  timestampMs: number;
  families: MetricFamily[];
  /** Per slot, what this collection got from it; reports use it to send each run once. */
  results?: SlotResult[];
}

export interface SlotResult {
  name: string;
  /** Increases with each completed run of this slot; the same number means the same samples. */
  run: number;
  startedMs: number;
  ok: boolean;
  families: MetricFamily[];
}

export interface SlotSchedule {
  /** Minimum time between two runs; 0 runs at every collection. */
  intervalMs: number;
  timeoutMs: number;
}

/** Anything the set can run: a collector definition, a module plugin, an exec plugin. */
export interface CollectorSource {
  name: string;
  /** Collectors with settings of their own read them from the agent's configuration. */
  create(config: AgentConfig): Collector;
}

export interface CollectorSetOptions {
  roots: ProcRoots;
  log: Logger;
  /** A collector still running after this long is reported failed; the others are not held up. */
  timeoutMs: number;
  /** Slots running at the same time; 4 by default. */
  concurrency?: number;
  /** Per-slot interval and timeout; unset parts fall back to 0 and `timeoutMs`. */
  schedule?: (name: string) => Partial<SlotSchedule> | undefined;
  now?: () => number;
  /**
   * Handed to each source's create(). Optional for sets of collectors that read no configuration
   * (tests); one that reads it without a config given fails with a message saying so. The
   * defaults are not made here: that would load the zod schema into every agent process.
   */
  config?: AgentConfig;
}

const NO_CONFIG = new Proxy({} as AgentConfig, {
  get(_, key) {
    throw new Error(`this collector reads the configuration (${String(key)}), but its CollectorSet was given none`);
  },
});

interface LastRun {
  run: number;
  startedMs: number;
  durationS: number;
  ok: boolean;
  families: MetricFamily[];
}

interface Slot {
  source: CollectorSource;
  collector: Collector;
  schedule: SlotSchedule;
  last?: LastRun | undefined;
  /** The run in progress, shared by every collection that asks meanwhile. */
  inflight?: Promise<LastRun> | undefined;
  /** A run that overran its timeout and has not settled; the slot is not started again until it does. */
  overrun?: Promise<unknown> | undefined;
  runs: number;
  errors: number;
  failing: boolean;
}

/** Counts permits; a slot that overruns its timeout gives its permit back. */
class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(permits: number) {
    this.#free = permits;
  }
  /** Adds (or with a negative delta, withholds) permits, as when the configured limit changes. */
  adjust(delta: number): void {
    this.#free += delta;
    while (this.#free > 0 && this.#waiting.length) {
      this.#free--;
      (this.#waiting.shift() as () => void)();
    }
  }
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

export class CollectorSet {
  readonly #slots = new Map<string, Slot>();
  readonly #opts: CollectorSetOptions;
  #concurrency: number;
  readonly #permits: Semaphore;
  readonly #now: () => number;

  constructor(sources: readonly CollectorSource[], opts: CollectorSetOptions) {
    this.#opts = { ...opts };
    this.#now = opts.now ?? Date.now;
    this.#concurrency = opts.concurrency ?? 4;
    this.#permits = new Semaphore(this.#concurrency);
    this.replace(sources);
  }

  get names(): string[] {
    return [...this.#slots.keys()];
  }

  /** Interval and timeout in effect for each slot. */
  schedules(): Map<string, SlotSchedule> {
    return new Map([...this.#slots].map(([name, s]) => [name, s.schedule]));
  }

  /** Failed runs (errors and timeouts) per slot since start. */
  errorCounts(): Map<string, number> {
    return new Map([...this.#slots].map(([name, s]) => [name, s.errors]));
  }

  /**
   * Swaps the sources and settings without a restart: slots whose name stays keep their
   * collector (and its state, such as the previous counters), new ones are created, gone ones
   * dropped.
   */
  replace(sources: readonly CollectorSource[], opts: Partial<Omit<CollectorSetOptions, 'log' | 'now'>> = {}): void {
    Object.assign(this.#opts, opts);
    if (opts.concurrency !== undefined && opts.concurrency !== this.#concurrency) {
      this.#permits.adjust(opts.concurrency - this.#concurrency);
      this.#concurrency = opts.concurrency;
    }
    const keep = new Set<string>();
    for (const source of sources) {
      keep.add(source.name);
      const slot = this.#slots.get(source.name);
      const schedule = this.#scheduleFor(source.name);
      if (slot && slot.source === source) slot.schedule = schedule;
      else if (slot && slot.source.create === source.create) {
        slot.source = source;
        slot.schedule = schedule;
      } else {
        this.#slots.set(source.name, { source, collector: source.create(this.#config()), schedule, runs: 0, errors: 0, failing: false });
      }
    }
    for (const name of [...this.#slots.keys()]) if (!keep.has(name)) this.#slots.delete(name);
  }

  #config(): AgentConfig {
    return this.#opts.config ?? NO_CONFIG;
  }

  #scheduleFor(name: string): SlotSchedule {
    const s = this.#opts.schedule?.(name);
    return { intervalMs: s?.intervalMs ?? 0, timeoutMs: s?.timeoutMs ?? this.#opts.timeoutMs };
  }

  /** One collection: each slot's fresh or still-valid samples, plus node_scrape_collector_* for each. */
  async collect(opts: { maxAgeMs?: number } = {}): Promise<Collection> {
    const timestampMs = this.#now();
    const slots = [...this.#slots.values()];
    const results = await Promise.all(slots.map((slot) => this.#resultOf(slot, opts.maxAgeMs ?? 0)));
    const meta = new MetricWriter();
    const families: MetricFamily[] = [];
    for (const [i, r] of results.entries()) {
      const labels = { collector: (slots[i] as Slot).source.name };
      meta.gauge('node_scrape_collector_duration_seconds', 'Duration of a collector scrape.', r.durationS, labels);
      meta.gauge('node_scrape_collector_success', 'Whether a collector succeeded.', r.ok ? 1 : 0, labels);
      families.push(...r.families);
    }
    families.push(...meta.families());
    return {
      timestampMs,
      families,
      results: results.map((r, i) => ({
        name: (slots[i] as Slot).source.name,
        run: r.run,
        startedMs: r.startedMs,
        ok: r.ok,
        families: r.families,
      })),
    };
  }

  async #resultOf(slot: Slot, maxAgeMs: number): Promise<LastRun> {
    if (slot.inflight) return await slot.inflight;
    const now = this.#now();
    const last = slot.last;
    if (slot.overrun) {
      return {
        run: last?.run ?? 0,
        startedMs: now,
        durationS: 0,
        ok: false,
        families: [],
      };
    }
    if (last && now - last.startedMs < Math.max(slot.schedule.intervalMs, maxAgeMs)) return last;
    slot.inflight = this.#run(slot).finally(() => {
      slot.inflight = undefined;
    });
    return await slot.inflight;
  }

  async #run(slot: Slot): Promise<LastRun> {
    const { log, roots } = this.#opts;
    const { timeoutMs } = slot.schedule;
    const name = slot.source.name;
    await this.#permits.acquire();
    const startedMs = this.#now();
    const out = new MetricWriter();
    // Most collectors read kernel files synchronously and never look at the signal: the abort
    // controller is made only for one that does, and the timeout is armed only for a collector
    // that returns a promise (a synchronous one has finished by then, and could not be
    // interrupted anyway). Under the interpreter the agent runs with, a timer, an
    // AbortController and a race per collector and scrape cost more than many collectors do.
    let ac: AbortController | undefined;
    let timedOut = false;
    const ctx = {
      roots,
      log,
      get signal(): AbortSignal {
        ac ??= new AbortController();
        if (timedOut) ac.abort();
        return ac.signal;
      },
    };
    let error: unknown;
    let timer: NodeJS.Timeout | undefined;
    const started = performance.now();
    let ended: number | undefined;
    try {
      const update = slot.collector.update(out, ctx);
      if (update instanceof Promise) {
        const timeout = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        if ((await Promise.race([update, timeout])) === 'timeout') {
          timedOut = true;
          ac?.abort();
          slot.overrun = update
            .catch(() => undefined)
            .finally(() => {
              slot.overrun = undefined;
            });
          error = new Error(`timed out after ${timeoutMs} ms`);
        }
      }
      ended = performance.now();
    } catch (err) {
      error = err;
    } finally {
      clearTimeout(timer);
      this.#permits.release();
    }
    slot.runs++;
    const result: LastRun = {
      run: slot.runs,
      startedMs,
      durationS: ((ended ?? performance.now()) - started) / 1000,
      ok: error === undefined,
      families: error === undefined ? out.families() : [],
    };
    if (error !== undefined) {
      slot.errors++;
      // Log on the transition only, so a collector that keeps failing does not flood the log.
      // A source this host simply lacks (no PSI, no schedstat) is worth a debug line, not a warning.
      const level = (error as Error).name === 'NoDataError' ? 'debug' : 'warn';
      if (!slot.failing) log[level]({ collector: name, err: String((error as Error).message ?? error) }, 'collector failed');
      slot.failing = true;
    } else {
      if (slot.failing) log.info({ collector: name }, 'collector recovered');
      slot.failing = false;
    }
    slot.last = result;
    return result;
  }
}

/** The switch part of a `collectors.<name>` setting, if it has one. */
export function collectorEnabled(setting: CollectorSetting | undefined): boolean | undefined {
  if (setting === undefined || typeof setting === 'boolean') return setting;
  return setting.enabled;
}

/** Resolves which collectors run: defaults, then `--collector.<name>` / `--no-collector.<name>` overrides. */
export function selectCollectors<T extends CollectorDefinition>(
  defs: readonly T[],
  overrides: Readonly<Record<string, CollectorSetting>>,
): T[] {
  const known = new Set(defs.map((d) => d.name));
  const unknown = Object.keys(overrides).filter((name) => !known.has(name));
  if (unknown.length) {
    throw new ConfigError(
      unknown.map((name) => `collectors.${name}: unknown collector "${name}"; known collectors: ${[...known].sort().join(', ')}`),
    );
  }
  return defs.filter((d) => collectorEnabled(overrides[d.name]) ?? d.defaultEnabled);
}
