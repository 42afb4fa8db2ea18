/**
 * Queries over HTTP while the full ingest load runs (5,000 simulated agents, each sending every
 * 10 s the series a default agent sent on this machine, as bench/ingest's do; `--series N` for N
 * of the realistic families instead): one host's 24 h chart of one metric, a 30-day chart, and
 * the fleet summary's answers; then the fleet summary's own computation.
 *
 * History is written first straight into the store: for some hosts (the chart hosts) 30 days
 * (60 s resolution until a day ago, 10 s for the last day), sealed into windows and rollups;
 * then for every simulated host the last hour of the metrics the fleet summary averages (10 s
 * apart), left unsealed as a running server has it. Then the server and the agents start.
 *
 * - host_24h_p95_ms, range_30d_p95_ms: over HTTP, during ingest.
 * - fleet_summary_cached_ms: GET /api/fleet/summary?history=1h over HTTP, during ingest. Its
 *   history comes from the server's last result, recomputed behind the answer at most every
 *   10 s: this is what a polling dashboard sees, not what computing the summary costs.
 * - fleet_summary_now_ms: the same route without history (the registry alone), during ingest.
 * - fleet_summary_ms: the summary computed afresh, every time, as the route computes it without
 *   its cache (fleetSnapshot and fleetHistory of packages/server/src/fleet/routes.ts): counts and
 *   averages over the agents the server listed at the end of the ingest phase, and 1 h of fleet
 *   averages over every agent from the server's store. Run in the bench process on that store
 *   once the server and the agents have stopped, so not during ingest.
 *
 *   npm run bench -- query [--quick] [--agents N] [--series N] [--seconds S] [--chart-hosts K]
 */
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import type { Agent } from '@falconet/protocol/api';
import { FLEET_AVERAGED, fleetHistory, fleetSnapshot } from '../packages/server/src/fleet/routes.ts';
import { EmbeddedStore } from '../packages/server/src/store/embedded/engine.ts';
import { getJson, tempDir } from '../testing/processes.ts';
import { cpuSeconds, emit, median, percentile, progress, quick, sleep } from './lib.ts';
import { benchSeries, seriesCount, simAgentId, startBenchServer, startLoad } from './lib-fleet.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const AGENTS = arg('agents', quick ? 1000 : 5000);
const PROCESSES = 2;
const CHART_HOSTS = arg('chart-hosts', quick ? 8 : 40);
const SECONDS = arg('seconds', quick ? 20 : 180);
const COMPUTE_RUNS = quick ? 5 : 20;
const DAY = 86_400_000;
const HOUR = 3_600_000;
const BENCH = 'query';
const SERIES = await benchSeries(BENCH);

const dataDir = tempDir('falconet-bench-query-');
const openStore = () => EmbeddedStore.open({ dir: join(dataDir, 'samples'), retention: { raw: 31 * DAY } });
const now = Date.now();
const hourFrom = Math.floor((now - HOUR) / 10_000) * 10_000;
const agentIds = Array.from({ length: AGENTS }, (_, g) => simAgentId(g, AGENTS, PROCESSES));
const ids = Array.from({ length: CHART_HOSTS }, (_, k) => agentIds[Math.floor((k * AGENTS) / CHART_HOSTS)] as string);

progress(`query: writing the last hour of fleet metrics for ${AGENTS} hosts, 30 days of history for ${CHART_HOSTS} of them`);
{
  const store = await openStore();
  const t0 = performance.now();
  let written = 0;
  const seqs = new Map<string, number>();
  const nextSeq = (agentId: string) => {
    const seq = (seqs.get(agentId) ?? 0) + 1;
    seqs.set(agentId, seq);
    return seq;
  };
  for (const [k, agentId] of ids.entries()) {
    for (let d = 30; d >= 1; d--) {
      const step = d === 1 ? 10_000 : 60_000;
      const from = Math.floor((now - d * DAY) / step) * step;
      const samples: Sample[] = [];
      for (let t = from; t < from + DAY && t < hourFrom; t += step) {
        const phase = t / 10_800_000 + k;
        samples.push({
          name: 'falconet_cpu_usage_percent',
          labels: {},
          value: 35 + 20 * Math.sin(phase) + Math.random() * 5,
          timestampMs: t,
        });
        samples.push({
          name: 'node_load1',
          labels: {},
          value: Math.round((1.5 + Math.sin(phase) + Math.random()) * 100) / 100,
          timestampMs: t,
        });
        samples.push({
          name: 'node_memory_MemAvailable_bytes',
          labels: {},
          value: 2 ** 32 + Math.round((Math.sin(phase) * 2 ** 28) / 4096) * 4096,
          timestampMs: t,
        });
      }
      await store.appendReport(agentId, nextSeq(agentId), samples);
      written += samples.length;
    }
  }
  progress(
    `query: ${written} samples of chart history written in ${((performance.now() - t0) / 1000).toFixed(1)} s; sealing windows and rollups`,
  );
  await store.compactAll();
  progress(`query: chart history settled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // The last hour for every host, in batches that share the store's syncs; left as a running server would have it, unsealed.
  const fleetHour = (g: number): Sample[] => {
    const samples: Sample[] = [];
    for (let t = hourFrom; t < now; t += 10_000) {
      const phase = t / 10_800_000 + g;
      const values: Record<keyof typeof FLEET_AVERAGED, number> = {
        cpu: 35 + 20 * Math.sin(phase) + Math.random() * 5,
        memory: 40 + (g % 50) + 2 * Math.sin(phase) + Math.random(),
        disk: 20 + (g % 60) + (t - hourFrom) / HOUR,
        load1: Math.round((1.5 + Math.sin(phase) + Math.random()) * 100) / 100,
      };
      for (const [key, name] of Object.entries(FLEET_AVERAGED))
        samples.push({ name, labels: {}, value: values[key as keyof typeof FLEET_AVERAGED], timestampMs: t });
    }
    return samples;
  };
  for (let first = 0; first < AGENTS; first += 500) {
    const batch = agentIds.slice(first, first + 500);
    await Promise.all(
      batch.map((agentId, i) => {
        const samples = fleetHour(first + i);
        written += samples.length;
        return store.appendReport(agentId, nextSeq(agentId), samples);
      }),
    );
  }
  const st = await store.stats();
  progress(`query: ${written} history samples written in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(st.bytes)}`);
  await store.close();
}

const server = await startBenchServer(dataDir, { FALCONET_STORE_ENGINE: 'embedded' });
const load = startLoad({
  grpc: `127.0.0.1:${server.grpcPort}`,
  agents: AGENTS,
  series: SERIES,
  intervalMs: 10_000,
  processes: PROCESSES,
});
let agents: Agent[];
try {
  const deadline = Date.now() + 600_000;
  for (let waited = 0; load.connected() < AGENTS; waited++) {
    if (Date.now() > deadline) throw new Error(`only ${load.connected()} of ${AGENTS} agents connected`);
    if (waited % 15 === 14) progress(`query: ${load.connected()} of ${AGENTS} agents connected`);
    await sleep(1000);
  }
  progress(`query: ${AGENTS} agents connected and reporting; warming up`);
  await sleep(30_000);
  const settle = Date.now() + 180_000;
  while (load.queued() > AGENTS / 20 && Date.now() < settle) await sleep(2000);
  load.reset();
  const timings: Record<string, number[]> = { host24h: [], range30d: [], fleetCached: [], fleetNow: [] };
  const time = async (what: string, path: string, check: (body: unknown) => string | undefined) => {
    const t = performance.now();
    const res = await fetch(`${server.url}${path}`);
    const body = await res.json();
    const ms = performance.now() - t;
    if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    const problem = check(body);
    if (problem) throw new Error(`${path}: ${problem}`);
    timings[what]?.push(ms);
  };
  type Series = { stepMs: number; series: { points: [number, number | null][] }[] };
  const c0 = cpuSeconds(server.child.pid as number);
  const end = performance.now() + SECONDS * 1000;
  let round = 0;
  let lastNote = '';
  while (performance.now() < end) {
    const agent = ids[round % ids.length] as string;
    const to = Date.now();
    await time('host24h', `/api/metrics?agent=${agent}&name=falconet_cpu_usage_percent&from=${to - DAY}&to=${to}`, (b) => {
      const n = (b as Series).series[0]?.points.length ?? 0;
      lastNote = `24 h: ${n} points`;
      return n < 8000 ? `only ${n} points in 24 h` : undefined;
    });
    await time('range30d', `/api/metrics?agent=${agent}&name=node_load1&from=${to - 30 * DAY}&to=${to}`, (b) => {
      const s = b as Series;
      const n = s.series[0]?.points.length ?? 0;
      lastNote += `, 30 d: ${n} points at ${s.stepMs / 1000} s`;
      return n < 5000 ? `only ${n} points in 30 d` : undefined;
    });
    if (round % 3 === 0) {
      await time('fleetCached', '/api/fleet/summary?history=1h', (b) => {
        const f = b as { agents: number; history: { series: Record<string, unknown[]> } };
        lastNote += `, fleet: ${f.agents} agents, ${f.history.series.cpu?.length} history points`;
        return f.agents < AGENTS ? `${f.agents} agents` : undefined;
      });
      await time('fleetNow', '/api/fleet/summary', () => undefined);
    }
    if (round % 20 === 0)
      progress(
        `query: round ${round}: ${lastNote}; ingest backlog ${load.queued()} reports, ack p99 ${percentile(load.latencies, 99).toFixed(0)} ms`,
      );
    round++;
  }
  const cpu = ((cpuSeconds(server.child.pid as number) - c0) / SECONDS) * 100;
  const extra = { agents: AGENTS, series_per_agent: seriesCount(SERIES), during_ingest: true, shared_machine: true };
  emit({
    bench: BENCH,
    metric: 'host_24h_p95_ms',
    value: Math.round(percentile(timings.host24h ?? [], 95)),
    unit: 'ms',
    samples: timings.host24h?.length,
    median_ms: Math.round(median(timings.host24h ?? [])),
    ...extra,
  });
  emit({
    bench: BENCH,
    metric: 'range_30d_p95_ms',
    value: Math.round(percentile(timings.range30d ?? [], 95)),
    unit: 'ms',
    samples: timings.range30d?.length,
    median_ms: Math.round(median(timings.range30d ?? [])),
    ...extra,
  });
  emit({
    bench: BENCH,
    metric: 'fleet_summary_cached_ms',
    value: Math.round(percentile(timings.fleetCached ?? [], 95)),
    unit: 'ms',
    stat: 'p95',
    with: '1h history of fleet averages, from the 10 s cache',
    samples: timings.fleetCached?.length,
    median_ms: Math.round(median(timings.fleetCached ?? [])),
    ...extra,
  });
  emit({
    bench: BENCH,
    metric: 'fleet_summary_now_ms',
    value: Math.round(percentile(timings.fleetNow ?? [], 95)),
    unit: 'ms',
    stat: 'p95',
    ...extra,
  });
  emit({ bench: BENCH, metric: 'ack_p99_ms_during_queries', value: Math.round(percentile(load.latencies, 99)), unit: 'ms', ...extra });
  emit({ bench: BENCH, metric: 'server_cpu_percent', value: Math.round(cpu), unit: '% of one core', ...extra });
  // The agents as the registry has them during ingest: the snapshot part of the computation below.
  agents = (await getJson<{ items: Agent[] }>(`${server.url}/api/agents?limit=10000`)).items;
} finally {
  await load.stop();
  await server.stop('SIGTERM', 60_000);
}

// The fleet summary's own computation: what the route does when its history is not cached.
{
  const online = agents.filter((a) => a.status === 'online').length;
  if (online < AGENTS) throw new Error(`only ${online} of ${AGENTS} agents were online at the end of the ingest phase`);
  const store = await openStore();
  const runs: number[] = [];
  let points = 0;
  for (let i = 0; i < COMPUTE_RUNS; i++) {
    const t = performance.now();
    const summary = { ...fleetSnapshot(agents), history: await fleetHistory(store, HOUR, undefined) };
    runs.push(performance.now() - t);
    points = summary.history.series.cpu?.length ?? 0;
    if (points < 55) throw new Error(`the fleet history has ${points} points for 1 h at a 60 s step`);
  }
  await store.close();
  progress(`query: fleet summary computed ${COMPUTE_RUNS} times: ${runs.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  emit({
    bench: BENCH,
    metric: 'fleet_summary_ms',
    value: Math.round(percentile(runs, 95)),
    unit: 'ms',
    stat: 'p95',
    with: '1h history of fleet averages, computed afresh (no cache)',
    samples: runs.length,
    median_ms: Math.round(median(runs)),
    runs: runs.map(Math.round),
    history_points: points,
    agents: AGENTS,
    series_per_agent: seriesCount(SERIES),
    during_ingest: false,
    shared_machine: true,
  });
}
