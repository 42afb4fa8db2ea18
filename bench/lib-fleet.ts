/** Shared by the ingest and query benchmarks: a real server process and processes of simulated agents. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT, type ServerProc, startServer } from '../testing/processes.ts';
import { progress } from './lib.ts';

export interface LoadOptions {
  grpc: string;
  agents: number;
  seriesPerHost: number;
  intervalMs: number;
  /** Processes to spread the agents over (each has one event loop). */
  processes: number;
}

export interface Load {
  connected(): number;
  queued(): number;
  /** Ack latencies (ms) of reports enqueued since `reset()`. */
  latencies: number[];
  /** The same as [enqueued at (wall-clock ms), latency ms], to see when slow acks happen. */
  timed: [number, number][];
  reset(): void;
  stop(): Promise<void>;
  pids: number[];
}

export function startLoad(o: LoadOptions): Load {
  const per = Math.ceil(o.agents / o.processes);
  const state = new Map<ChildProcess, { connected: number; queued: number }>();
  let since = 0;
  const load: Load = {
    latencies: [],
    timed: [],
    pids: [],
    connected: () => [...state.values()].reduce((n, s) => n + s.connected, 0),
    queued: () => [...state.values()].reduce((n, s) => n + s.queued, 0),
    reset() {
      load.latencies = [];
      load.timed = [];
      since = Date.now();
    },
    async stop() {
      await Promise.all(
        [...state.keys()].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 5000).unref();
            }),
        ),
      );
    },
  };
  for (let p = 0; p < o.processes; p++) {
    const count = Math.min(per, o.agents - p * per);
    if (count <= 0) break;
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--disable-warning=ExperimentalWarning',
        '--max-old-space-size=4096',
        join(ROOT, 'bench/lib-agents.ts'),
        o.grpc,
        String(count),
        String(p * per),
        String(o.seriesPerHost),
        String(o.intervalMs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    load.pids.push(child.pid as number);
    state.set(child, { connected: 0, queued: 0 });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const r = JSON.parse(line) as { connected: number; queued: number; latencies: [number, number][] };
        state.set(child, { connected: r.connected, queued: r.queued });
        for (const [at, ms] of r.latencies)
          if (at >= since) {
            load.latencies.push(ms);
            load.timed.push([at, ms]);
          }
      } catch {
        progress(`agents: ${line}`);
      }
    });
  }
  return load;
}

export async function startBenchServer(dataDir: string, env: Record<string, string> = {}): Promise<ServerProc> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  // FALCONET_BENCH_PROFILE=DIR writes a CPU profile of the server (not of the agents) into DIR.
  if (process.env.FALCONET_BENCH_PROFILE) process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${process.env.FALCONET_BENCH_PROFILE}`;
  try {
    return await startServer({ dataDir });
  } finally {
    process.env = saved;
  }
}

/** The value of one metric (summed over label sets matching `labels`) in Prometheus text. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    found = true;
  }
  return found ? sum : Number.NaN;
}

export async function scrape(url: string): Promise<string> {
  return await (await fetch(`${url}/metrics`)).text();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The agent id that bench/lib-agents.ts gives to global agent index `g` (same slot arithmetic). */
export function simAgentId(g: number, agents: number, processes: number): string {
  const per = Math.ceil(agents / processes);
  const p = Math.floor(g / per);
  const first = p * per;
  const count = Math.min(per, agents - first);
  const perSlot = Math.ceil(count / Math.max(1, Math.min(count, Math.ceil(count / 25))));
  const base = first + Math.floor((g - first) / perSlot) * perSlot;
  return `bench-${base}-${g - base}`;
}

/** Where the slow acks were: per 10 s of enqueue time, how many took over `thresholdMs` and the worst. */
export function slowAckReport(timed: [number, number][], thresholdMs = 1000): string {
  if (timed.length === 0) return 'no acks';
  const t0 = timed.reduce((m, [at]) => Math.min(m, at), Number.POSITIVE_INFINITY);
  const buckets = new Map<number, { n: number; slow: number; worst: number }>();
  for (const [at, ms] of timed) {
    const k = Math.floor((at - t0) / 10_000);
    const b = buckets.get(k) ?? { n: 0, slow: 0, worst: 0 };
    b.n++;
    if (ms > thresholdMs) b.slow++;
    b.worst = Math.max(b.worst, ms);
    buckets.set(k, b);
  }
  return (
    [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .filter(([, b]) => b.slow > 0)
      .map(([k, b]) => `${k * 10}s: ${b.slow}/${b.n} over ${thresholdMs} ms, worst ${Math.round(b.worst)} ms`)
      .join('; ') || `none over ${thresholdMs} ms`
  );
}

function histogramBuckets(text: string, name: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1] as string;
    buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
}

/**
 * A quantile of a Prometheus histogram between two scrapes (`before` may be empty), by linear
 * interpolation within its bucket, as PromQL's histogram_quantile does.
 */
export function histogramQuantile(after: string, before: string, name: string, q: number): number {
  const earlier = histogramBuckets(before, name);
  const buckets = [...histogramBuckets(after, name)]
    .map(([le, n]): [number, number] => [le, n - (earlier.get(le) ?? 0)])
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(bound)) return prevBound;
      return prevBound + ((bound - prevBound) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
