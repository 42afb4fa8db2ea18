/**
 * Shared by the ingest, query and ui benchmarks: a real server process, processes of simulated
 * agents, and what a default agent sends per report on this machine (which they simulate).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { scrapedSeries } from '../testing/exposition.ts';
import { freePort, getJson, ROOT, type ServerProc, startServer, tempDir } from '../testing/processes.ts';
import { type ObservedSeries, observedHostSeries, realisticHostSeries } from '../testing/series.ts';
import type { SeriesGenerator } from '../testing/simulator.ts';
import { emit, type Figure, progress, sleep, spawnDefaultAgent } from './lib.ts';

/**
 * What each simulated agent sends per report: that many series of testing/series.ts's
 * realistic families, or the series a real agent sent (see measureDefaultAgent).
 */
export type SimulatedSeries = number | readonly ObservedSeries[];

export function seriesCount(series: SimulatedSeries): number {
  return typeof series === 'number' ? series : series.length;
}

export function simulatedSeries(series: SimulatedSeries, seed?: number): SeriesGenerator {
  return typeof series === 'number' ? realisticHostSeries({ seriesPerHost: series, seed }) : observedHostSeries(series, { seed });
}

export interface LoadOptions {
  grpc: string;
  agents: number;
  series: SimulatedSeries;
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
  /** The longest event loop delay of any simulator process since the previous call (acks wait for it too). */
  takeLoopMaxMs(): number;
  reset(): void;
  stop(): Promise<void>;
  pids: number[];
}

export function startLoad(o: LoadOptions): Load {
  const per = Math.ceil(o.agents / o.processes);
  let seriesArg = String(o.series);
  if (typeof o.series !== 'number') {
    seriesArg = join(tempDir('falconet-bench-series-'), 'series.json');
    writeFileSync(seriesArg, JSON.stringify(o.series));
  }
  const state = new Map<ChildProcess, { connected: number; queued: number; loopMaxMs: number }>();
  let since = 0;
  const load: Load = {
    latencies: [],
    timed: [],
    pids: [],
    connected: () => [...state.values()].reduce((n, s) => n + s.connected, 0),
    queued: () => [...state.values()].reduce((n, s) => n + s.queued, 0),
    takeLoopMaxMs() {
      const max = Math.max(0, ...[...state.values()].map((s) => s.loopMaxMs));
      for (const s of state.values()) s.loopMaxMs = 0;
      return max;
    },
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
        seriesArg,
        String(o.intervalMs),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    load.pids.push(child.pid as number);
    state.set(child, { connected: 0, queued: 0, loopMaxMs: 0 });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const r = JSON.parse(line) as { connected: number; queued: number; loopMaxMs: number; latencies: [number, number][] };
        const prev = state.get(child)?.loopMaxMs ?? 0;
        state.set(child, { connected: r.connected, queued: r.queued, loopMaxMs: Math.max(prev, r.loopMaxMs ?? 0) });
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

/** What a default agent sent in its reports; see measureDefaultAgent. */
export interface DefaultAgentReport {
  /** Samples in the largest report after the first (the first lacks the rates that need two collections). */
  samplesPerReport: number;
  /** Samples in each report, in order. */
  reports: number[];
  /** Every series it sent, with the values they had. */
  series: ObservedSeries[];
}

/**
 * What a default agent sends per report on this machine: the built agent with default settings
 * reports to a real server of its own; the server's counters give the samples of each report,
 * and its store the series (names, labels, values) that the simulated agents then send.
 */
export async function measureDefaultAgent(reports = 3): Promise<DefaultAgentReport> {
  const server = await startServer();
  const agent = spawnDefaultAgent(`127.0.0.1:${server.grpcPort}`, await freePort());
  try {
    const counts: number[] = [];
    let seen = 0;
    let stored = 0;
    const deadline = Date.now() + 120_000;
    while (counts.length < reports) {
      if (agent.exitCode !== null) throw new Error(`the default agent exited with ${agent.exitCode}`);
      if (Date.now() > deadline) throw new Error(`the default agent sent ${counts.length} of ${reports} reports in 120 s`);
      const m = await scrape(server.url);
      const n = metricValue(m, 'falconet_server_reports_total');
      const samples = metricValue(m, 'falconet_server_samples_total');
      // Reports come seconds apart (the shortest interval is 5 s): each is seen on its own.
      if (n > seen) {
        if (n - seen > 1) throw new Error(`${n - seen} reports arrived between two reads of the server's counters`);
        counts.push(samples - stored);
        progress(`default agent: report ${n} carried ${samples - stored} samples`);
      }
      seen = n;
      stored = samples;
      await sleep(200);
    }
    const [{ id }] = (await getJson<{ items: [{ id: string }] }>(`${server.url}/api/agents`)).items;
    const { names } = await getJson<{ names: string[] }>(`${server.url}/api/metrics/names?agent=${id}`);
    // The reports of the last minutes, raw (a longer range would come back downsampled).
    const to = Date.now();
    const from = to - 600_000;
    const series = (
      await Promise.all(
        names.map(
          async (name) =>
            (
              await getJson<{ series: ObservedSeries[] }>(`${server.url}/api/metrics?agent=${id}&name=${name}&from=${from}&to=${to}&step=0`)
            ).series,
        ),
      )
    ).flat();
    const samplesPerReport = Math.max(...counts.slice(1));
    if (series.length !== samplesPerReport)
      progress(`default agent: ${series.length} series stored, ${samplesPerReport} samples in a report; the simulation sends the series`);
    return { samplesPerReport, reports: counts, series };
  } finally {
    const exited = new Promise((resolve) => (agent.exitCode !== null ? resolve(null) : agent.once('exit', resolve)));
    agent.kill('SIGTERM');
    await exited;
    await server.stop();
  }
}

/**
 * The series every simulated agent of `bench` sends: `--series N` of the realistic families, else
 * what a default agent sent on this machine (measured now, its count printed as a figure).
 */
export async function benchSeries(bench: string): Promise<SimulatedSeries> {
  const i = process.argv.indexOf('--series');
  if (i >= 0) return Number(process.argv[i + 1]);
  progress(`${bench}: measuring what a default agent sends per report on this machine`);
  const report = await measureDefaultAgent();
  emit(defaultAgentFigure(bench, report));
  return report.series;
}

/**
 * The measurement as a figure of `bench`. Container series are counted apart: the agent reports
 * whatever containers run on the machine at the time, other people's included.
 */
export function defaultAgentFigure(bench: string, report: DefaultAgentReport): Figure {
  return {
    bench,
    metric: 'default_agent_samples_per_report',
    value: report.samplesPerReport,
    unit: 'samples',
    reports: report.reports,
    series: report.series.length,
    container_series: report.series.filter((s) => s.name.startsWith('container_')).length,
  };
}

export async function startBenchServer(dataDir: string, env: Record<string, string> = {}, args: string[] = []): Promise<ServerProc> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  // FALCONET_BENCH_PROFILE=DIR writes a CPU profile of the server (not of the agents) into DIR.
  if (process.env.FALCONET_BENCH_PROFILE) process.env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${process.env.FALCONET_BENCH_PROFILE}`;
  // FALCONET_BENCH_SERVER_NODE_OPTIONS: Node or V8 options for the server alone (trying a setting without the agents getting it too).
  if (process.env.FALCONET_BENCH_SERVER_NODE_OPTIONS)
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${process.env.FALCONET_BENCH_SERVER_NODE_OPTIONS}`.trim();
  try {
    return await startServer({ dataDir, args });
  } finally {
    process.env = saved;
  }
}

/** The value of one metric (summed over label sets matching `labels`) in Prometheus text; NaN when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const series = scrapedSeries(text, name, labels);
  return series.length === 0 ? Number.NaN : series.reduce((sum, m) => sum + m.value, 0);
}

export async function scrape(url: string): Promise<string> {
  return await (await fetch(`${url}/metrics`)).text();
}

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
  for (const m of scrapedSeries(text, `${name}_bucket`)) {
    const le = m.labels.le as string;
    buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), m.value);
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
