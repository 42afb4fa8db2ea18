/**
 * Queries over HTTP while the full ingest load runs: one host's 24 h chart of one metric, a
 * 30-day chart, and the fleet summary (with its 1 h history of fleet averages) over every agent.
 * History is written first straight into the store: 30 days for some of the simulated hosts
 * (60 s resolution until a day ago, 10 s for the last day), then the server and the agents start.
 *
 *   npm run bench -- query [--quick] [--agents N] [--seconds S]
 */
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { EmbeddedStore } from '../packages/server/src/store/embedded/engine.ts';
import { tempDir } from '../testing/processes.ts';
import { cpuSeconds, emit, median, percentile, progress, quick } from './lib.ts';
import { simAgentId, sleep, startBenchServer, startLoad } from './lib-fleet.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const AGENTS = arg('agents', quick ? 1000 : 5000);
const SERIES = 200;
const PROCESSES = 2;
const HISTORY_HOSTS = arg('history-hosts', quick ? 8 : 40);
const SECONDS = arg('seconds', quick ? 20 : 180);
const DAY = 86_400_000;
const BENCH = 'query';

const dataDir = tempDir('falconet-bench-query-');
const now = Date.now();
const hosts = Array.from({ length: HISTORY_HOSTS }, (_, k) => Math.floor((k * AGENTS) / HISTORY_HOSTS));
const ids = hosts.map((g) => simAgentId(g, AGENTS, PROCESSES));

progress(`query: writing 30 days of history for ${HISTORY_HOSTS} hosts`);
{
  const store = await EmbeddedStore.open({ dir: join(dataDir, 'samples'), retention: { raw: 31 * DAY } });
  const t0 = performance.now();
  let written = 0;
  for (const [k, agentId] of ids.entries()) {
    let seq = 0;
    for (let d = 30; d >= 1; d--) {
      const step = d === 1 ? 10_000 : 60_000;
      const from = Math.floor((now - d * DAY) / step) * step;
      const samples: Sample[] = [];
      for (let t = from; t < from + DAY && t < now - 60_000; t += step) {
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
      await store.appendReport(agentId, ++seq, samples);
      written += samples.length;
    }
  }
  progress(`query: ${written} history samples written in ${((performance.now() - t0) / 1000).toFixed(1)} s; sealing windows and rollups`);
  await store.compactAll();
  const st = await store.stats();
  progress(`query: history settled in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(st.bytes)}`);
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
try {
  const deadline = Date.now() + 600_000;
  while (load.connected() < AGENTS) {
    if (Date.now() > deadline) throw new Error(`only ${load.connected()} of ${AGENTS} agents connected`);
    await sleep(1000);
  }
  progress(`query: ${AGENTS} agents connected and reporting; warming up`);
  await sleep(30_000);
  const settle = Date.now() + 180_000;
  while (load.queued() > AGENTS / 20 && Date.now() < settle) await sleep(2000);
  load.reset();
  const timings: Record<string, number[]> = { host24h: [], range30d: [], fleet: [], fleetNow: [] };
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
      await time('fleet', '/api/fleet/summary?history=1h', (b) => {
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
  const extra = { agents: AGENTS, series_per_agent: SERIES, during_ingest: true, shared_machine: true };
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
    metric: 'fleet_summary_ms',
    value: Math.round(percentile(timings.fleet ?? [], 95)),
    unit: 'ms',
    stat: 'p95',
    with: '1h history of fleet averages',
    samples: timings.fleet?.length,
    median_ms: Math.round(median(timings.fleet ?? [])),
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
} finally {
  await load.stop();
  await server.stop('SIGTERM', 60_000);
}
