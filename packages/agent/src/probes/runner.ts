import { Worker } from 'node:worker_threads';
import type { ProbeConfig } from '@falconet/protocol/probes';
import type { Logger } from 'pino';
import type { CollectorSource } from '../collection.ts';
import { type MetricFamily, MetricWriter } from '../metrics.ts';
import { nativeAddonFile, optionalNativeHelpers } from '../native.ts';
import type { FromProbeWorker, ProbeWorkerData, ToProbeWorker } from './messages.ts';
import { probeKey } from './schedule.ts';

let bundledWorker: string | undefined;

/** A single-file build (npm run package) has no worker file to start: it hands over the worker's bundled code. */
export function useBundledProbeWorker(code: string): void {
  bundledWorker = code;
}

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A worker that ran this long before dying starts again after the first backoff, not a longer one. */
const HEALTHY_MS = 60_000;

/**
 * The agent's side of the probes. They run in a worker thread (probes/worker.ts), so a busy main
 * loop (a scrape, a report's collection and compression) never sits between a probe's packets and
 * its clock; their results come back here, where /metrics and the reports read them through one
 * collection source, `probes`, that never waits on a probe. A worker that dies is logged, counted
 * (falconet_agent_probe_worker_restarts_total) and started again with the current list.
 */
export class ProbeRunner {
  readonly #log: Logger;
  #list: ProbeConfig[] = [];
  /** Each listed probe's settings key, to match results against. */
  #keys = new Map<string, string>();
  /** Each probe's last result, with the settings it ran with. */
  readonly #results = new Map<string, { key: string; families: MetricFamily[] }>();
  /** The setup problem last warned about per probe, so it is said once, not every run. */
  readonly #warned = new Map<string, string>();
  #worker: Worker | undefined;
  #startedAt = 0;
  #backoffMs = FIRST_BACKOFF_MS;
  #restartTimer: NodeJS.Timeout | undefined;
  #restarts = 0;
  #stopped = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Starts, restarts (when changed) and stops probes to match the list. */
  update(probes: readonly ProbeConfig[]): void {
    this.#stopped = false;
    this.#list = [...probes];
    this.#keys = new Map(this.#list.map((p) => [p.id, probeKey(p)]));
    for (const [id, r] of this.#results) if (this.#keys.get(id) !== r.key) this.#results.delete(id);
    for (const id of this.#warned.keys()) if (!this.#keys.has(id)) this.#warned.delete(id);
    if (!this.#worker && !this.#restartTimer && this.#list.length) this.#start();
    else this.#post({ type: 'update', probes: this.#list });
  }

  /** The same as update: the name the agent's reload has always called. */
  configure(probes: readonly ProbeConfig[]): void {
    this.update(probes);
  }

  /** How many times the worker died and was started again. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The worker thread, for tests that make it die. */
  get worker(): Worker | undefined {
    return this.#worker;
  }

  #start(): void {
    // The main thread loads the native helpers before the worker does: statfs delivers its results
    // to the thread that loaded them first (native/falconet.c).
    optionalNativeHelpers();
    const data: ProbeWorkerData = { debug: this.#log.isLevelEnabled('debug'), addonFile: nativeAddonFile() };
    const self = import.meta.url;
    // No execArgv of its own: the worker inherits the agent's, whose V8 flags it may not be given again.
    const worker = bundledWorker
      ? new Worker(bundledWorker, { eval: true, name: 'probes', workerData: data })
      : new Worker(new URL(self.endsWith('.ts') ? './worker.ts' : './worker.js', self), { name: 'probes', workerData: data });
    this.#worker = worker;
    this.#startedAt = Date.now();
    worker.on('message', (m: FromProbeWorker) => this.#receive(m));
    worker.on('error', (err) => this.#log.error({ err: err.message }, 'probe worker failed'));
    worker.on('exit', (code) => this.#exited(worker, code));
    worker.postMessage({ type: 'update', probes: this.#list } satisfies ToProbeWorker);
    // After the listeners: adding a 'message' listener refs the worker again, and it must not hold the agent's exit.
    worker.unref();
  }

  #exited(worker: Worker, code: number): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    if (this.#stopped) return;
    this.#restarts++;
    if (Date.now() - this.#startedAt >= HEALTHY_MS) this.#backoffMs = FIRST_BACKOFF_MS;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2);
    this.#log.error({ code, restarts: this.#restarts, restartInMs: delay }, 'probe worker exited; starting it again');
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped && this.#list.length) this.#start();
    }, delay);
    this.#restartTimer.unref();
  }

  #receive(m: FromProbeWorker): void {
    switch (m.type) {
      case 'result': {
        // A result of settings replaced since (the worker had not seen the update yet) is dropped.
        if (this.#keys.get(m.id) === m.key) this.#results.set(m.id, { key: m.key, families: m.families });
        return;
      }
      case 'setup-error':
        if (this.#warned.get(m.id) !== m.message) this.#log.warn({ probe: m.id }, m.message);
        this.#warned.set(m.id, m.message);
        return;
      case 'debug':
        this.#log.debug(m.fields, m.message);
        return;
    }
  }

  #post(m: ToProbeWorker): void {
    this.#worker?.postMessage(m);
  }

  /** The last results of every probe, one family per metric name, and the worker's restart count. */
  families(): MetricFamily[] {
    const w = new MetricWriter();
    for (const r of this.#results.values()) for (const f of r.families) w.addFamily(f);
    w.counter('falconet_agent_probe_worker_restarts_total', 'Times the probe worker thread died and was started again', this.#restarts);
    return w.families();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) {
      worker.postMessage({ type: 'stop' } satisfies ToProbeWorker);
      // A probe still waiting on a socket must not hold the agent's exit.
      void worker.terminate();
    }
    this.#results.clear();
  }

  /** The collection source that serves the last results; it never waits on a probe. One object, so a reload keeps its slot. */
  readonly source: CollectorSource = {
    name: 'probes',
    create: () => ({
      update: (out) => {
        for (const f of this.families()) out.addFamily(f);
      },
    }),
  };
}
