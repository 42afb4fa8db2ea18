import type { Logger } from 'pino';
import type { CollectContext, Collector, CollectorDefinition } from './collectors/registry.ts';
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
  /** Why the collector cannot work on this host (no /proc/schedstat): it is not run again. */
  unavailable?: string;
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
  /** Takes a permit if one is free, without waiting. */
  tryAcquire(): boolean {
    if (this.#free <= 0) return false;
    this.#free--;
    return true;
  }
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
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
    const maxAgeMs = opts.maxAgeMs ?? 0;
    // Most slots finish synchronously (they read kernel files in place): only those that return a
    // promise are awaited, so a scrape makes no promise, closure or microtask per synchronous slot.
    const pending: (LastRun | Promise<LastRun>)[] = new Array(slots.length);
    let waiting = false;
    for (let i = 0; i < slots.length; i++) {
      const r = this.#resultOf(slots[i] as Slot, maxAgeMs);
      if (r instanceof Promise) waiting = true;
      pending[i] = r;
    }
    const results = (waiting ? await Promise.all(pending) : pending) as LastRun[];
    const meta = new MetricWriter();
    const families: MetricFamily[] = [];
    const slotResults: SlotResult[] = new Array(slots.length);
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as LastRun;
      const name = (slots[i] as Slot).source.name;
      const labels = { collector: name };
      meta.gauge('node_scrape_collector_duration_seconds', 'Duration of a collector scrape.', r.durationS, labels);
      meta.gauge('node_scrape_collector_success', 'Whether a collector succeeded.', r.ok ? 1 : 0, labels);
      for (let j = 0; j < r.families.length; j++) families.push(r.families[j] as MetricFamily);
      slotResults[i] = { name, run: r.run, startedMs: r.startedMs, ok: r.ok, families: r.families };
    }
    const own = meta.families();
    for (let j = 0; j < own.length; j++) families.push(own[j] as MetricFamily);
    return { timestampMs, families, results: slotResults };
  }

  #resultOf(slot: Slot, maxAgeMs: number): LastRun | Promise<LastRun> {
    if (slot.inflight) return slot.inflight;
    // Switched off: reported as failed (success 0, as node_exporter does) without asking again.
    if (slot.unavailable !== undefined && slot.last) return slot.last;
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
    const run = this.#run(slot);
    if (!(run instanceof Promise)) return run;
    slot.inflight = run.finally(() => {
      slot.inflight = undefined;
    });
    return slot.inflight;
  }

  /**
   * Runs one slot. A collector whose update() returns no promise, started while a permit is free,
   * runs and is recorded synchronously; one that waits for a permit or returns a promise is awaited.
   */
  #run(slot: Slot): LastRun | Promise<LastRun> {
    if (!this.#permits.tryAcquire()) return this.#permits.acquire().then(() => this.#start(slot));
    return this.#start(slot);
  }

  /** Runs a slot's collector once a permit is held; the permit is released when it is done. */
  #start(slot: Slot): LastRun | Promise<LastRun> {
    const startedMs = this.#now();
    const out = new MetricWriter();
    const run = new SlotRun(this.#opts);
    const started = performance.now();
    let update: Promise<void> | void;
    try {
      update = slot.collector.update(out, run);
    } catch (err) {
      this.#permits.release();
      return this.#record(slot, startedMs, (performance.now() - started) / 1000, out, err);
    }
    if (update instanceof Promise) return this.#finishAsync(slot, run, update, startedMs, started, out);
    this.#permits.release();
    return this.#record(slot, startedMs, (performance.now() - started) / 1000, out, undefined);
  }

  /** Waits for a collector's promise within the slot's timeout; the permit is released either way. */
  async #finishAsync(
    slot: Slot,
    run: SlotRun,
    update: Promise<void>,
    startedMs: number,
    started: number,
    out: MetricWriter,
  ): Promise<LastRun> {
    const { timeoutMs } = slot.schedule;
    let error: unknown;
    let timer: NodeJS.Timeout | undefined;
    let ended: number | undefined;
    try {
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      if ((await Promise.race([update, timeout])) === 'timeout') {
        run.abort();
        slot.overrun = update
          .catch(() => undefined)
          .finally(() => {
            slot.overrun = undefined;
          });
        error = new Error(`timed out after ${timeoutMs} ms`);
      }
      ended = performance.now();
    } catch (err) {
      error = err;
    } finally {
      clearTimeout(timer);
      this.#permits.release();
    }
    return this.#record(slot, startedMs, ((ended ?? performance.now()) - started) / 1000, out, error);
  }

  #record(slot: Slot, startedMs: number, durationS: number, out: MetricWriter, error: unknown): LastRun {
    const { log } = this.#opts;
    const name = slot.source.name;
    slot.runs++;
    const result: LastRun = {
      run: slot.runs,
      startedMs,
      durationS,
      ok: error === undefined,
      families: error === undefined ? out.families() : [],
    };
    if (error !== undefined) {
      slot.errors++;
      // A source this host simply lacks (no PSI, no schedstat) is a NoDataError.
      const noData = (error as Error).name === 'NoDataError';
      if (noData && slot.errors === slot.runs) {
        // The source was never there (a kernel without /proc/schedstat): one line, and no more tries.
        slot.unavailable = String((error as Error).message);
        log.info({ collector: name, reason: slot.unavailable }, `collector ${name} switched off: ${slot.unavailable} on this host`);
      } else {
        // Log on the transition only, so a collector that keeps failing does not flood the log; a
        // source that went away is worth a debug line, not a warning.
        if (!slot.failing)
          log[noData ? 'debug' : 'warn']({ collector: name, err: String((error as Error).message ?? error) }, 'collector failed');
        slot.failing = true;
      }
    } else {
      if (slot.failing) log.info({ collector: name }, 'collector recovered');
      slot.failing = false;
    }
    slot.last = result;
    return result;
  }
}

/**
 * What one run of a collector is handed. Most collectors read kernel files synchronously and never
 * look at the signal: the abort controller is made only for one that does. Under the interpreter
 * the agent runs with, a timer, an AbortController and a race per collector and scrape cost more
 * than many collectors do.
 */
class SlotRun implements CollectContext {
  readonly roots: ProcRoots;
  readonly log: Logger;
  #ac: AbortController | undefined;
  #aborted = false;

  constructor(opts: CollectorSetOptions) {
    this.roots = opts.roots;
    this.log = opts.log;
  }

  get signal(): AbortSignal {
    this.#ac ??= new AbortController();
    if (this.#aborted) this.#ac.abort();
    return this.#ac.signal;
  }

  abort(): void {
    this.#aborted = true;
    this.#ac?.abort();
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
