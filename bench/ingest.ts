/**
 * Ingest through the server's real path: simulated agents (own processes) on real gRPC streams
 * -> falconet-server (own process) -> store, every report acknowledged only once durable.
 * Measured in the same run: the engine's own append speed (in process, group commit, same data)
 * and the ratio; the raw tier's bytes per sample; the same for PostgreSQL beside it.
 *
 * What each simulated agent sends: first the bench runs the built agent with default settings
 * against a server of its own and counts the samples of its reports on this machine
 * (`default_agent_samples_per_report`); every simulated agent then sends that agent's series,
 * the same names and labels, with values shaped after the ones it reported (testing/series.ts,
 * observedHostSeries). `--series M` sends M series of the realistic families instead (200 was
 * the default before: host families, then containers filling up the rest).
 *
 *   npm run bench -- ingest [--quick] [--agents N] [--series M] [--duration S] [--store embedded|postgres|both|victoriametrics]
 */

import { EmbeddedStore } from '../packages/server/src/store/embedded/engine.ts';
import { PostgresStore } from '../packages/server/src/store/postgres/engine.ts';
import type { Store } from '../packages/server/src/store/types.ts';
import { VictoriaStore } from '../packages/server/src/store/victoria/engine.ts';
import { createTempDatabase, type TempDatabase } from '../testing/postgres.ts';
import { tempDir } from '../testing/processes.ts';
import { startVictoria } from '../testing/victoria.ts';
import { cpuSeconds, emit, percentile, progress, quick, rssMb, sleep } from './lib.ts';
import {
  benchSeries,
  histogramQuantile,
  metricValue,
  type SimulatedSeries,
  scrape,
  seriesCount,
  simulatedSeries,
  slowAckReport,
  startBenchServer,
  startLoad,
} from './lib-fleet.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const storeArg = (() => {
  const i = process.argv.indexOf('--store');
  return i >= 0 ? (process.argv[i + 1] as string) : 'both';
})();
const AGENTS = arg('agents', quick ? 1000 : 5000);
const INTERVAL = 10_000;
const DURATION = arg('duration', quick ? 25 : 600) * 1000;
const PG_DURATION = arg('pg-duration', quick ? 15 : 120) * 1000;
const ENGINE_SECONDS = arg('engine-seconds', quick ? 4 : 20);
const BENCH = 'ingest';
const SERIES: SimulatedSeries = await benchSeries(BENCH);
const SERIES_KIND = typeof SERIES === 'number' ? 'realistic families' : 'default agent';

/** The engine alone: every host's report of a tick appended at once (they share syncs). */
async function engineSpeed(store: Store, label: string): Promise<number> {
  const gen = simulatedSeries(SERIES, 7);
  const t0 = Date.now() - 3_600_000;
  // The first tick creates every series; steady state is what the server sees after that.
  await Promise.all(Array.from({ length: AGENTS }, (_, h) => store.appendReport(`engine-${h}`, 1, gen(h, t0))));
  let appended = 0;
  let busy = 0;
  for (let tick = 2; busy < ENGINE_SECONDS * 1000; tick++) {
    const reports = Array.from({ length: AGENTS }, (_, h) => gen(h, t0 + tick * INTERVAL));
    const start = performance.now();
    await Promise.all(reports.map((samples, h) => store.appendReport(`engine-${h}`, tick, samples)));
    busy += performance.now() - start;
    appended += reports.reduce((n, r) => n + r.length, 0);
  }
  const rate = appended / (busy / 1000);
  progress(`${label} engine: ${appended} samples in ${(busy / 1000).toFixed(1)} s of appends = ${Math.round(rate)} samples/s`);
  return rate;
}

interface PathFigures {
  samplesPerS: number;
  ackP99: number;
  ackP50: number;
  bytesPerSample: number;
  cpuPercent: number;
  rss: number;
  /** Highest and mean RSS over the measured window, read every second. */
  rssPeak: number;
  rssMean: number;
  backlog: number;
  /** Worst 30 s window's p99 event loop delay of the server's main thread. */
  loopP99: number;
  /** Average time from appendReport to durable in the store. */
  appendAvgMs: number;
  /** Server side: from a report's arrival to its ack (the falconet_server_report_ack_seconds histogram). */
  serverAckP99?: number;
  serverAckP50?: number;
}

const mb = (m: string, name: string) => (metricValue(m, name) / 2 ** 20).toFixed(0);
const workerMb = (m: string, kind: string) => (metricValue(m, 'falconet_store_worker_memory_bytes', { kind }) / 2 ** 20).toFixed(0);

/** The server's real ingest path under the full fleet for `durationMs`. */
async function serverPath(
  engine: 'embedded' | 'postgres' | 'victoriametrics',
  durationMs: number,
  dataDir: string,
  db?: TempDatabase,
  vmUrl = '',
): Promise<PathFigures> {
  const server = await startBenchServer(dataDir, {
    FALCONET_STORE_ENGINE: engine,
    FALCONET_DATABASE_URL: db?.url ?? '',
    ...(vmUrl ? { FALCONET_STORE_VICTORIAMETRICS_URL: vmUrl } : {}),
  });
  const load = startLoad({
    grpc: `127.0.0.1:${server.grpcPort}`,
    agents: AGENTS,
    series: SERIES,
    intervalMs: INTERVAL,
    processes: 2,
  });
  let rssTimer: NodeJS.Timeout | undefined;
  try {
    const deadline = Date.now() + 600_000;
    while (load.connected() < AGENTS) {
      if (Date.now() > deadline) throw new Error(`only ${load.connected()} of ${AGENTS} agents connected`);
      await sleep(5000);
      progress(`${engine}: ${load.connected()} of ${AGENTS} agents connected`);
    }
    progress(`${engine}: ${AGENTS} agents connected; warming up until the first reports are through`);
    await sleep(INTERVAL * 2);
    const settle = Date.now() + 180_000;
    while (load.queued() > AGENTS / 20 && Date.now() < settle) await sleep(2000);
    load.reset();
    const pid = server.child.pid as number;
    const m0 = await scrape(server.url);
    const c0 = cpuSeconds(pid);
    const t0 = performance.now();
    const end = t0 + durationMs;
    let loopP99 = 0;
    // RSS every second: at one moment it swings by hundreds of MB with V8's collections and the
    // store's merges, so the end alone says little; the peak and the mean say what the fleet costs.
    const rssSeen: number[] = [];
    rssTimer = setInterval(() => rssSeen.push(rssMb(pid)), 1000);
    while (performance.now() < end) {
      await sleep(Math.min(quick ? 10_000 : 30_000, end - performance.now()));
      const m = await scrape(server.url);
      const el = (performance.now() - t0) / 1000;
      const rate = (metricValue(m, 'falconet_server_samples_total') - metricValue(m0, 'falconet_server_samples_total')) / el;
      const loop = metricValue(m, 'falconet_server_event_loop_delay_seconds', { quantile: '0.99' }) * 1000;
      const loopMax = metricValue(m, 'falconet_server_event_loop_delay_seconds', { quantile: '1' }) * 1000;
      loopP99 = Math.max(loopP99, Number.isNaN(loop) ? 0 : loop);
      const serverAck = histogramQuantile(m, m0, 'falconet_server_report_ack_seconds', 0.99) * 1000;
      progress(
        `${engine}: ${el.toFixed(0)} s: ${Math.round(rate)} samples/s, ack p99 ${percentile(load.latencies, 99).toFixed(0)} ms ` +
          `(server side ${serverAck.toFixed(0)} ms) ` +
          `(server loop delay p99 ${loop.toFixed(0)} ms, max ${loopMax.toFixed(0)} ms; simulators' max ${load.takeLoopMaxMs()} ms), backlog ${load.queued()} reports, rss ${rssMb(pid).toFixed(0)} MB ` +
          `(V8 heap ${mb(m, 'nodejs_heap_size_used_bytes')} of ${mb(m, 'nodejs_heap_size_total_bytes')} MB, external ${mb(m, 'nodejs_external_memory_bytes')} MB; ` +
          `workers' heaps ${workerMb(m, 'heap_total')} MB, their buffers ${workerMb(m, 'external')} MB), ` +
          `raw ${(metricValue(m, 'falconet_store_bytes', { tier: 'raw' }) / metricValue(m, 'falconet_store_rows', { tier: 'raw' })).toFixed(2)} B/sample`,
      );
    }
    clearInterval(rssTimer);
    const m1 = await scrape(server.url);
    const el = (performance.now() - t0) / 1000;
    const figures: PathFigures = {
      samplesPerS: (metricValue(m1, 'falconet_server_samples_total') - metricValue(m0, 'falconet_server_samples_total')) / el,
      ackP99: percentile(load.latencies, 99),
      ackP50: percentile(load.latencies, 50),
      bytesPerSample: metricValue(m1, 'falconet_store_bytes', { tier: 'raw' }) / metricValue(m1, 'falconet_store_rows', { tier: 'raw' }),
      cpuPercent: ((cpuSeconds(pid) - c0) / el) * 100,
      rss: rssMb(pid),
      rssPeak: Math.max(...rssSeen),
      rssMean: rssSeen.reduce((a, b) => a + b, 0) / rssSeen.length,
      backlog: load.queued(),
      loopP99,
      appendAvgMs:
        ((metricValue(m1, 'falconet_store_append_seconds_total') - metricValue(m0, 'falconet_store_append_seconds_total')) /
          (metricValue(m1, 'falconet_store_appends_total') - metricValue(m0, 'falconet_store_appends_total'))) *
        1000,
    };
    progress(
      `${engine}: ${load.latencies.length} acks measured; p90 ${percentile(load.latencies, 90).toFixed(0)} ms, p95 ${percentile(load.latencies, 95).toFixed(0)} ms, p99.9 ${percentile(load.latencies, 99.9).toFixed(0)} ms`,
    );
    progress(`${engine}: slow acks by enqueue time: ${slowAckReport(load.timed)}`);
    figures.serverAckP99 = histogramQuantile(m1, m0, 'falconet_server_report_ack_seconds', 0.99) * 1000;
    figures.serverAckP50 = histogramQuantile(m1, m0, 'falconet_server_report_ack_seconds', 0.5) * 1000;
    return figures;
  } finally {
    clearInterval(rssTimer);
    await load.stop();
    await server.stop('SIGTERM', 60_000);
  }
}

function emitPath(engine: string, f: PathFigures, engineRate: number, durationMs: number): void {
  const extra = {
    store: engine,
    agents: AGENTS,
    series_per_agent: seriesCount(SERIES),
    series: SERIES_KIND,
    duration_s: durationMs / 1000,
    shared_machine: true,
  };
  emit({ bench: BENCH, metric: 'samples_per_s', value: Math.round(f.samplesPerS), unit: 'samples/s', ...extra });
  emit({ bench: BENCH, metric: 'ack_p99_ms', value: Math.round(f.ackP99), unit: 'ms', ...extra });
  if (f.serverAckP99 !== undefined) {
    emit({
      bench: BENCH,
      metric: 'server_ack_p99_ms',
      value: Math.round(f.serverAckP99),
      unit: 'ms',
      stat: 'arrival to ack, server histogram',
      ...extra,
    });
    emit({
      bench: BENCH,
      metric: 'server_ack_p50_ms',
      value: Math.round(f.serverAckP50 ?? 0),
      unit: 'ms',
      stat: 'arrival to ack, server histogram',
      ...extra,
    });
  }
  emit({ bench: BENCH, metric: 'ack_p50_ms', value: Math.round(f.ackP50), unit: 'ms', ...extra });
  emit({ bench: BENCH, metric: 'bytes_per_sample', value: Number(f.bytesPerSample.toFixed(2)), unit: 'bytes', tier: 'raw', ...extra });
  emit({ bench: BENCH, metric: 'engine_samples_per_s', value: Math.round(engineRate), unit: 'samples/s', ...extra });
  emit({
    bench: BENCH,
    metric: 'ratio_to_engine',
    value: Number((f.samplesPerS / engineRate).toFixed(3)),
    unit: 'ratio',
    ref: `${engine} engine alone`,
    ...extra,
  });
  emit({ bench: BENCH, metric: 'server_cpu_percent', value: Math.round(f.cpuPercent), unit: '% of one core', ...extra });
  emit({ bench: BENCH, metric: 'server_rss_mb', value: Math.round(f.rss), unit: 'MB', stat: 'at the end', ...extra });
  emit({
    bench: BENCH,
    metric: 'server_rss_peak_mb',
    value: Math.round(f.rssPeak),
    unit: 'MB',
    stat: 'highest, read every second',
    ...extra,
  });
  emit({ bench: BENCH, metric: 'server_rss_mean_mb', value: Math.round(f.rssMean), unit: 'MB', stat: 'mean, read every second', ...extra });
  emit({ bench: BENCH, metric: 'backlog_reports', value: f.backlog, unit: 'reports', ...extra });
  emit({ bench: BENCH, metric: 'server_loop_delay_p99_ms', value: Math.round(f.loopP99), unit: 'ms', stat: 'worst 30 s window', ...extra });
  if (!Number.isNaN(f.appendAvgMs))
    emit({ bench: BENCH, metric: 'store_append_avg_ms', value: Number(f.appendAvgMs.toFixed(2)), unit: 'ms', ...extra });
}

progress(
  `ingest: ${AGENTS} agents x ${seriesCount(SERIES)} series (${SERIES_KIND}) every ${INTERVAL / 1000} s = ` +
    `${(AGENTS * seriesCount(SERIES) * 1000) / INTERVAL} samples/s offered`,
);

if (storeArg === 'embedded' || storeArg === 'both') {
  const engineDir = tempDir('falconet-bench-engine-');
  const engineStore = await EmbeddedStore.open({ dir: engineDir });
  const engineRate = await engineSpeed(engineStore, 'embedded');
  await engineStore.close();
  const dataDir = tempDir('falconet-bench-ingest-');
  const f = await serverPath('embedded', DURATION, dataDir);
  emitPath('embedded', f, engineRate, DURATION);
  // The settled layout: every window merged and rolled up, as it is once windows close.
  const settled = await EmbeddedStore.open({ dir: `${dataDir}/samples` });
  await settled.compactAll();
  const st = await settled.stats();
  await settled.close();
  emit({
    bench: BENCH,
    metric: 'bytes_per_sample_sealed',
    value: Number(((st.bytes.raw ?? 0) / (st.samples.raw ?? 1)).toFixed(2)),
    unit: 'bytes',
    tier: 'raw',
    store: 'embedded',
    samples: st.samples.raw,
  });
}

if (storeArg === 'postgres' || storeArg === 'both') {
  const engineDb = await createTempDatabase('falconet_bench');
  try {
    const pgStore = await PostgresStore.open({ url: engineDb.url, maintenanceIntervalMs: 0 });
    const engineRate = await engineSpeed(pgStore, 'postgres');
    await pgStore.close();
    const db = await createTempDatabase('falconet_bench');
    try {
      const f = await serverPath('postgres', PG_DURATION, tempDir('falconet-bench-pg-'), db);
      emitPath('postgres', f, engineRate, PG_DURATION);
    } finally {
      await db.drop();
    }
  } finally {
    await engineDb.drop();
  }
}

if (storeArg === 'victoriametrics') {
  // Debian's victoria-metrics beside the server, as a store of its own (docs/storage.md#victoriametrics);
  // its CPU is charged too: the samples/s it takes cost its process as well as the server's.
  const engineVm = await startVictoria();
  let engineRate: number;
  try {
    const vmStore = await VictoriaStore.open({ url: engineVm.url });
    engineRate = await engineSpeed(vmStore, 'victoriametrics');
    await vmStore.close();
  } finally {
    await engineVm.proc.stop();
  }
  const vm = await startVictoria();
  try {
    const c0 = cpuSeconds(vm.proc.child.pid as number);
    const f = await serverPath('victoriametrics', PG_DURATION, tempDir('falconet-bench-vm-'), undefined, vm.url);
    emitPath('victoriametrics', f, engineRate, PG_DURATION);
    emit({
      bench: BENCH,
      metric: 'victoriametrics_cpu_percent',
      value: Math.round(((cpuSeconds(vm.proc.child.pid as number) - c0) / (PG_DURATION / 1000)) * 100),
      unit: '%',
      note: "victoria-metrics' own process over the run, warm-up included, beside the server's figure",
    });
  } finally {
    await vm.proc.stop();
  }
}
