import type { ProbeConfig } from '@falconet/protocol/probes';
import type { Logger } from 'pino';
import type { CollectorSource } from '../collection.ts';
import { type MetricFamily, MetricWriter } from '../metrics.ts';
import { probeDns } from './dns.ts';
import { probeGrpc } from './grpc.ts';
import { probeHttp } from './http.ts';
import { probeIcmp } from './icmp.ts';
import { ProbeOut, ProbeSetupError } from './out.ts';
import { probeTcp } from './tcp.ts';

/**
 * Runs one probe once within its timeout and returns its series, probe_success and
 * probe_duration_seconds included. Why a run failed goes to the debug log, except a setup problem
 * (ICMP not allowed, `ping` missing), which goes to `onSetupError`.
 */
export async function runProbe(p: ProbeConfig, log?: Logger, onSetupError?: (message: string) => void): Promise<MetricFamily[]> {
  const writer = new MetricWriter();
  const out = new ProbeOut(writer, { ...p.labels, probe: p.id, target: p.target, kind: p.kind });
  const ctl = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new Error(`timed out after ${p.timeout} ms`));
    }, p.timeout);
  });
  let ok = false;
  try {
    ok = await Promise.race([dispatch(p, out, ctl.signal), timedOut]);
  } catch (err) {
    if (err instanceof ProbeSetupError) onSetupError?.(err.message);
    log?.debug({ probe: p.id, target: p.target, err: (err as Error).message }, 'probe failed');
  } finally {
    clearTimeout(timer);
  }
  out.gauge('probe_duration_seconds', 'Returns how long the probe took to complete in seconds', (performance.now() - started) / 1000);
  out.gauge('probe_success', 'Displays whether or not the probe was a success', ok ? 1 : 0);
  return writer.families();
}

function dispatch(p: ProbeConfig, out: ProbeOut, signal: AbortSignal): Promise<boolean> {
  switch (p.kind) {
    case 'http':
      return probeHttp(p, out, signal);
    case 'tcp':
      return probeTcp(p, out, signal);
    case 'icmp':
      return probeIcmp(p, out, signal, p.timeout);
    case 'dns':
      return probeDns(p, out, signal, p.timeout);
    case 'grpc':
      return probeGrpc(p, out, signal, p.timeout);
  }
}

/** A stable offset in [0, intervalMs) from the probe's id (FNV-1a). */
export function offsetMs(id: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h % intervalMs;
}

interface Scheduled {
  config: ProbeConfig;
  key: string;
  timer: NodeJS.Timeout;
  running: boolean;
  last: MetricFamily[];
  /** The setup problem last warned about, so it is said once, not every run. */
  warned?: string;
}

/**
 * Each probe on its own timer, so a slow target never holds up a scrape or another probe;
 * /metrics and the reports read the last results through one collection source, `probes`.
 */
export class ProbeRunner {
  readonly #probes = new Map<string, Scheduled>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Starts, restarts (when changed) and stops probes to match the list. */
  configure(list: readonly ProbeConfig[]): void {
    const wanted = new Map(list.map((p) => [p.id, p]));
    for (const [id, s] of this.#probes) {
      const next = wanted.get(id);
      if (!next || JSON.stringify(next) !== s.key) {
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
        key: JSON.stringify(p),
        last: [],
        running: false,
        timer: setTimeout(
          () => {
            void this.#run(s);
            s.timer = setInterval(() => void this.#run(s), p.interval).unref();
          },
          offsetMs(p.id, p.interval),
        ).unref(),
      };
      this.#probes.set(p.id, s);
    }
  }

  async #run(s: Scheduled): Promise<void> {
    if (s.running) return;
    s.running = true;
    try {
      const families = await runProbe(s.config, this.#log, (message) => {
        if (s.warned !== message) this.#log.warn({ probe: s.config.id }, message);
        s.warned = message;
      });
      if (this.#probes.get(s.config.id) === s) s.last = families;
    } finally {
      s.running = false;
    }
  }

  /** The last results of every probe, one family per metric name. */
  families(): MetricFamily[] {
    const w = new MetricWriter();
    for (const s of this.#probes.values()) for (const f of s.last) w.addFamily(f);
    return w.families();
  }

  stop(): void {
    for (const s of this.#probes.values()) {
      clearTimeout(s.timer);
      clearInterval(s.timer);
    }
    this.#probes.clear();
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
