/**
 * PromQL beside Prometheus on the same data, in the same run.
 *
 * Data: HOSTS hosts of node_exporter-like series (CPU by core and mode, memory, load, network,
 * disks, filesystems, a few counters and info series; about 100 series a host), one sample every
 * INTERVAL over RANGE, generated once. The same encoded remote_write 1.0 requests go to Falconet's
 * /api/v1/write (the embedded store) and to Debian's Prometheus 2.42 (--web.enable-remote-write-receiver,
 * an out-of-order window so old samples are taken), one host-hour a request, in time order, a tenth
 * of them to one side then the same tenth to the other. Both hold the same samples; how fast each
 * took them is `remote_write_samples_per_s` (and its ref_; `ratio` is Falconet's over Prometheus').
 *
 * Queries: every target of Grafana's Node Exporter Full dashboard, variables filled ($node one host,
 * $job node, $__rate_interval four intervals), is run once on Prometheus as a range query over the
 * whole RANGE at STEP with stats=all, and once on Falconet untimed (both sides have then answered
 * the whole dashboard before timing); the 20 that touch the most samples (Prometheus'
 * totalQueryableSamples) and answer with data are the heavy ones. Each then runs RUNS times on both
 * sides, alternating, same range and step, once both servers are idle and after one untimed run
 * each: p50 and p95 per query, and their ratio (Falconet / Prometheus). Neither side caches query
 * results.
 *
 *   npm run bench -- promql [--quick] [--hosts N] [--hours H] [--interval S] [--runs R] [--cpu-prof DIR]
 *
 * --cpu-prof DIR runs Falconet's server under `node --cpu-prof` and leaves its profile in DIR.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeWriteRequest, type OutSeries, snappyEncode } from '../packages/server/src/remote-write/out/encode.ts';
import { eventually, freePort, ROOT, startCommand, startServer, tempDir } from '../testing/processes.ts';
import { cpuSeconds, emit, percentile, progress, quick } from './lib.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const HOSTS = arg('hosts', quick ? 10 : 100);
const HOURS = arg('hours', quick ? 3 : 24);
const INTERVAL_S = arg('interval', quick ? 30 : 30);
const RUNS = arg('runs', quick ? 5 : 20);
const HEAVIEST = 20;
const STEP_S = Math.max(INTERVAL_S, Math.round((HOURS * 3600) / 720));
const BENCH = 'promql';
const REF = 'prometheus 2.42';
const DASHBOARD = join(ROOT, '..', 'shared', 'compat', 'node-exporter-full.json');

const end = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 60_000;
const start = end - HOURS * 3_600_000;

/** One host's series: label sets and how a value moves (counters only go up). */
function hostSeries(h: number): { labels: Record<string, string>; kind: 'counter' | 'gauge'; base: number; rate: number }[] {
  const instance = `host-${String(h).padStart(3, '0')}:9100`;
  const out: ReturnType<typeof hostSeries> = [];
  const add = (name: string, kind: 'counter' | 'gauge', base: number, rate: number, labels: Record<string, string> = {}) =>
    out.push({ labels: { __name__: name, instance, job: 'node', ...labels }, kind, base, rate });
  for (let cpu = 0; cpu < 4; cpu++)
    for (const [mode, share] of [
      ['idle', 0.7],
      ['user', 0.15],
      ['system', 0.08],
      ['iowait', 0.03],
      ['irq', 0.005],
      ['softirq', 0.01],
      ['steal', 0.001],
      ['nice', 0.002],
    ] as const)
      add('node_cpu_seconds_total', 'counter', 1e5 * share, share, { cpu: String(cpu), mode });
  const mem = 16 * 2 ** 30;
  add('node_memory_MemTotal_bytes', 'gauge', mem, 0);
  for (const [n, f] of [
    ['MemFree', 0.2],
    ['MemAvailable', 0.5],
    ['Buffers', 0.02],
    ['Cached', 0.25],
    ['SReclaimable', 0.03],
    ['Shmem', 0.01],
    ['SwapTotal', 0.25],
    ['SwapFree', 0.24],
    ['Committed_AS', 0.6],
    ['Dirty', 0.001],
  ] as const)
    add(`node_memory_${n}_bytes`, 'gauge', mem * f, mem * f * 0.05);
  add('node_load1', 'gauge', 1.2, 0.8);
  add('node_load5', 'gauge', 1.1, 0.4);
  add('node_load15', 'gauge', 1.0, 0.2);
  add('node_procs_running', 'gauge', 3, 2);
  add('node_procs_blocked', 'gauge', 0.2, 0.2);
  add('node_context_switches_total', 'counter', 1e9, 4000);
  add('node_intr_total', 'counter', 5e8, 2000);
  add('node_forks_total', 'counter', 1e6, 5);
  add('node_boot_time_seconds', 'gauge', 1.7e9, 0);
  add('node_time_seconds', 'gauge', 0, 0);
  add('node_entropy_available_bits', 'gauge', 3500, 200);
  add('node_netstat_Tcp_CurrEstab', 'gauge', 40, 10);
  add('node_sockstat_TCP_inuse', 'gauge', 30, 8);
  add('node_uname_info', 'gauge', 1, 0, { nodename: `host-${h}`, release: '6.1.0-13-amd64', sysname: 'Linux', machine: 'x86_64' });
  add('up', 'gauge', 1, 0);
  for (const device of ['eth0', 'lo'])
    for (const [m, r] of [
      ['receive_bytes', 2e5],
      ['transmit_bytes', 1e5],
      ['receive_packets', 300],
      ['transmit_packets', 200],
      ['receive_errs', 0.001],
      ['transmit_errs', 0.001],
      ['receive_drop', 0.01],
      ['transmit_drop', 0.001],
    ] as const)
      add(`node_network_${m}_total`, 'counter', r * 1e4, r, { device });
  for (const device of ['sda', 'sdb'])
    for (const [m, r] of [
      ['read_bytes', 5e5],
      ['written_bytes', 8e5],
      ['reads_completed', 40],
      ['writes_completed', 60],
      ['io_time_seconds', 0.05],
      ['io_time_weighted_seconds', 0.08],
      ['read_time_seconds', 0.02],
      ['write_time_seconds', 0.04],
    ] as const)
      add(`node_disk_${m}_total`, 'counter', r * 1e4, r, { device });
  for (const [device, mountpoint, fstype, size] of [
    ['/dev/sda1', '/', 'ext4', 100 * 2 ** 30],
    ['/dev/sda2', '/boot', 'ext4', 2 ** 30],
    ['/dev/sdb1', '/data', 'xfs', 1000 * 2 ** 30],
  ] as const) {
    const labels = { device, mountpoint, fstype };
    add('node_filesystem_size_bytes', 'gauge', size, 0, labels);
    add('node_filesystem_avail_bytes', 'gauge', size * 0.4, size * 0.01, labels);
    add('node_filesystem_free_bytes', 'gauge', size * 0.45, size * 0.01, labels);
    add('node_filesystem_files', 'gauge', 6e6, 0, labels);
    add('node_filesystem_files_free', 'gauge', 5e6, 1e4, labels);
    add('node_filesystem_readonly', 'gauge', 0, 0, labels);
  }
  return out;
}

/** Deterministic noise, so a rerun writes the same values. */
function noise(seed: number): number {
  const x = Math.sin(seed * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

/** The snappy-compressed WriteRequest of one host for one hour; samples per request. */
function hostHour(h: number, hourStart: number): { body: Uint8Array; samples: number } {
  const series: OutSeries[] = [];
  let samples = 0;
  hostSeries(h).forEach((s, i) => {
    const pts: OutSeries['samples'] = [];
    for (let t = hourStart; t < hourStart + 3_600_000 && t <= end; t += INTERVAL_S * 1000) {
      const k = (t - start) / (INTERVAL_S * 1000);
      let v: number;
      if (s.labels.__name__ === 'node_time_seconds') v = t / 1000;
      else if (s.kind === 'counter') v = s.base + s.rate * INTERVAL_S * k * (0.8 + 0.4 * noise(h * 7 + i)) + noise(k + i) * s.rate;
      else v = s.base + s.rate * Math.sin(k / 40 + h + i) * noise(k * 3 + i);
      pts.push({ value: v, timestampMs: t });
    }
    samples += pts.length;
    series.push({
      labels: Object.keys(s.labels)
        .sort()
        .map((name) => ({ name, value: s.labels[name] as string })),
      samples: pts,
    });
  });
  return { body: snappyEncode(encodeWriteRequest(series)), samples };
}

async function writeAll(
  url: string,
  requests: { body: Uint8Array; samples: number }[],
  headers: Record<string, string> = {},
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < requests.length) {
      const r = requests[next++] as { body: Uint8Array; samples: number };
      const res = await fetch(url, {
        method: 'POST',
        body: r.body,
        headers: {
          'content-encoding': 'snappy',
          'content-type': 'application/x-protobuf',
          'x-prometheus-remote-write-version': '0.1.0',
          ...headers,
        },
      });
      if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return (performance.now() - t0) / 1000;
}

/**
 * Waits until both servers are idle (under 5 % of a core over a second, or 90 s at most): timing
 * starts after each has finished what the writes left it to do (Falconet's flushes and merges,
 * Prometheus' head work), so neither side's queries share the CPU with it.
 */
async function settle(pids: number[]): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const before = pids.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, 1000));
    if (pids.every((pid, i) => cpuSeconds(pid) - (before[i] as number) < 0.05)) return;
  }
  progress('promql: a server is still busy after 90 s; timing anyway');
}

interface Answer {
  status: string;
  error?: string;
  data?: { result: unknown[]; stats?: { samples?: { totalQueryableSamples?: number } } };
}

function dashboardQueries(): string[] {
  interface Panel {
    targets?: { expr?: string }[];
    panels?: Panel[];
  }
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const out = new Set<string>();
  const walk = (p: Panel) => {
    for (const t of p.targets ?? [])
      if (t.expr)
        out.add(
          t.expr
            .replaceAll('$__rate_interval', `${INTERVAL_S * 4}s`)
            .replaceAll('$node', 'host-000:9100')
            .replaceAll('$job', 'node'),
        );
    for (const c of p.panels ?? []) walk(c);
  };
  for (const p of d.panels) walk(p);
  return [...out];
}

// Prometheus, taking remote_write for everything of the last RANGE (+1h).
const promDir = tempDir('falconet-bench-promql-prom-');
const promPort = await freePort();
const promUrl = `http://127.0.0.1:${promPort}`;
writeFileSync(
  join(promDir, 'prometheus.yml'),
  `global:\n  scrape_interval: 1h\nstorage:\n  tsdb:\n    out_of_order_time_window: ${HOURS + 2}h\n`,
);
const prometheus = startCommand('prometheus', [
  `--config.file=${join(promDir, 'prometheus.yml')}`,
  `--web.listen-address=127.0.0.1:${promPort}`,
  `--storage.tsdb.path=${join(promDir, 'tsdb')}`,
  '--web.enable-remote-write-receiver',
  `--storage.tsdb.retention.time=${HOURS + 48}h`,
]);
const serverDir = tempDir('falconet-bench-promql-server-');
const config = join(serverDir, '..', `falconet-bench-promql-${process.pid}.yaml`);
writeFileSync(
  config,
  [
    'ingest:',
    '  push: {max_series_per_sender: 1000000, max_hosts_per_sender: 100000, samples_per_second: 100000000, burst: 100000000}',
    'store:',
    `  retention: {raw: ${HOURS + 48}h}`,
    '',
  ].join('\n'),
);
const profileDir = process.argv.includes('--cpu-prof') ? process.argv[process.argv.indexOf('--cpu-prof') + 1] : undefined;
const server = await startServer({
  dataDir: serverDir,
  args: ['--config', config],
  ...(profileDir ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } } : {}),
});
try {
  await eventually(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 60_000);
  progress(`promql: generating ${HOSTS} hosts x ${HOURS} h every ${INTERVAL_S} s`);
  const requests: { body: Uint8Array; samples: number }[] = [];
  for (let hour = start; hour <= end; hour += 3_600_000) for (let h = 0; h < HOSTS; h++) requests.push(hostHour(h, hour));
  const total = requests.reduce((n, r) => n + r.samples, 0);
  progress(`promql: ${total} samples in ${requests.length} requests; writing to both, a tenth at a time each`);
  // Alternating tenths: on a shared machine both sides then write under much the same load.
  let ours = 0;
  let theirs = 0;
  const slice = Math.ceil(requests.length / 10);
  for (let i = 0; i < requests.length; i += slice) {
    ours += await writeAll(`${server.url}/api/v1/write`, requests.slice(i, i + slice));
    theirs += await writeAll(`${promUrl}/api/v1/write`, requests.slice(i, i + slice));
  }
  emit({
    bench: BENCH,
    metric: 'remote_write_samples_per_s',
    value: Math.round(total / ours),
    unit: 'samples/s',
    samples: total,
    ref_value: Math.round(total / theirs),
    ratio: Number((theirs / ours).toFixed(2)),
  });
  emit({ bench: BENCH, metric: 'ref_remote_write_samples_per_s', value: Math.round(total / theirs), unit: 'samples/s', ref: REF });

  const range = { start: String(start / 1000), end: String(end / 1000), step: String(STEP_S) };
  const ask = async (base: string, query: string, stats = false): Promise<{ ms: number; answer: Answer }> => {
    const params = new URLSearchParams({ query, ...range, ...(stats ? { stats: 'all' } : {}) });
    const t0 = performance.now();
    const res = await fetch(`${base}/api/v1/query_range`, { method: 'POST', body: params });
    const answer = (await res.json()) as Answer;
    return { ms: performance.now() - t0, answer };
  };

  // The heaviest by samples touched, as Prometheus counts them. Falconet answers every query once
  // here too, untimed: each side has then seen the whole dashboard before timing starts (a server
  // in use has; without it Falconet's first timed runs paid for compiling code Prometheus ships compiled).
  const weighed: { query: string; samples: number }[] = [];
  for (const query of dashboardQueries()) {
    await ask(server.url, query);
    const { answer } = await ask(promUrl, query, true);
    if (answer.status !== 'success' || !answer.data?.result.length) continue;
    weighed.push({ query, samples: answer.data.stats?.samples?.totalQueryableSamples ?? 0 });
  }
  weighed.sort((a, b) => b.samples - a.samples);
  const heavy = weighed.slice(0, HEAVIEST);
  progress(`promql: ${weighed.length} dashboard queries answer with data; timing the ${heavy.length} heaviest, ${RUNS} runs each`);

  await settle([server.child.pid as number, prometheus.child.pid as number]);
  const ratios: number[] = [];
  for (const [i, { query, samples }] of heavy.entries()) {
    const mine: number[] = [];
    const ref: number[] = [];
    // One untimed run each: both sides then answer from warm caches (the OS's, V8's compiled code).
    await ask(server.url, query);
    await ask(promUrl, query);
    for (let r = 0; r < RUNS; r++) {
      const a = await ask(server.url, query);
      if (a.answer.status !== 'success') throw new Error(`Falconet failed on ${query}: ${a.answer.error}`);
      mine.push(a.ms);
      ref.push((await ask(promUrl, query)).ms);
    }
    const p50 = percentile(mine, 50);
    const p95 = percentile(mine, 95);
    const rp50 = percentile(ref, 50);
    const rp95 = percentile(ref, 95);
    ratios.push(p95 / rp95);
    emit({
      bench: BENCH,
      metric: `query_${String(i + 1).padStart(2, '0')}_p95_ratio`,
      value: Number((p95 / rp95).toFixed(2)),
      unit: 'ratio',
      ref: REF,
      p50_ms: Number(p50.toFixed(1)),
      p95_ms: Number(p95.toFixed(1)),
      ref_p50_ms: Number(rp50.toFixed(1)),
      ref_p95_ms: Number(rp95.toFixed(1)),
      p50_ratio: Number((p50 / rp50).toFixed(2)),
      samples_touched: samples,
      query: query.replace(/\s+/g, ' '),
    });
  }
  emit({
    bench: BENCH,
    metric: 'p95_ratio_median',
    value: Number(percentile(ratios, 50).toFixed(2)),
    unit: 'ratio',
    ref: REF,
    queries: ratios.length,
  });
  emit({ bench: BENCH, metric: 'p95_ratio_max', value: Number(Math.max(...ratios).toFixed(2)), unit: 'ratio', ref: REF });
} finally {
  await server.stop();
  await prometheus.stop();
  // A full run leaves gigabytes behind otherwise.
  for (const path of [promDir, serverDir, config]) rmSync(path, { recursive: true, force: true });
}
