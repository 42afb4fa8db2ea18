/**
 * bench/alerts: 10,000 rules over 5,000 agents, evaluated the way the server does it. The
 * AlertService runs on a real metadata database (rules stored in it, transitions written to it);
 * reports reach it through the ingest hook (`observe`), one per agent per 10 s interval of a
 * simulated clock, each a realistic report (~120 samples: host summary, filesystems, containers,
 * and node_* series no rule reads). After the windows hold 5 minutes (1 with --quick), cycles run
 * one after another, each after one more interval of reports; each cycle's wall time is measured.
 *
 * The rule mix (docs/alerts.md): a CPU rule per host and a root-filesystem rule per second host
 * (the Nezha/Beszel way), group-wide and datacenter-wide rules on the summary metrics, fleet-wide
 * rules including container down/restarting, disk-full prediction, agent offline and no data.
 *
 * Figures: cycle_ms (wall time, median; p95 and max beside it), cycle_cpu_ms (its CPU time, which
 * a busy shared machine does not inflate), busy_ms (wall time without yields to ingest), rules,
 * agents, pairs (series x rule evaluations per cycle), series (held in memory),
 * observe_ns_per_sample (the ingest hook's CPU cost), rss_mb, host_load1.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Sample } from '@falconet/protocol';
import pino from 'pino';
import { alertsConfigSchema } from '../packages/server/src/alerts/config.ts';
import type { AgentFacts } from '../packages/server/src/alerts/evaluator.ts';
import { AlertService } from '../packages/server/src/alerts/service.ts';
import { type RuleSpecInput, ruleSpecSchema } from '../packages/server/src/alerts/spec.ts';
import { serverConfigSchema } from '../packages/server/src/config.ts';
import { migrateMetaDb, openMetaDb } from '../packages/server/src/db/index.ts';
import { openStore } from '../packages/server/src/store/index.ts';
import { tempDir } from '../testing/processes.ts';
import { emit, percentile, progress, quick } from './lib.ts';

const BENCH = 'alerts';
const AGENTS = 5000;
const RULES = 10_000;
const INTERVAL_MS = 10_000;
const HISTORY_INTERVALS = quick ? 6 : 30;
const CYCLES = quick ? 10 : 20;
const GROUPS = 50;
const DCS = 4;
const GiB = 2 ** 30;
const CONTAINERS = ['web', 'api', 'worker', 'redis'];
const STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];
const MOUNTS: [string, string][] = [
  ['/', 'ext4'],
  ['/var', 'xfs'],
  ['/boot', 'vfat'],
];

const host = (i: number) => `host-${String(i).padStart(5, '0')}`;
const agents: AgentFacts[] = Array.from({ length: AGENTS }, (_, i) => ({
  id: `agent-${i}`,
  hostname: host(i),
  labels: { group: `g${i % GROUPS}`, dc: `dc${i % DCS}`, env: i % 5 === 0 ? 'staging' : 'prod' },
  status: 'online',
  lastSeenMs: 0,
}));

// --- the rule mix ---
const specs: RuleSpecInput[] = [];
for (let i = 0; i < AGENTS; i++) {
  specs.push({
    name: `CPU ${host(i)}`,
    hosts: [host(i)],
    metric: 'falconet_cpu_usage_percent',
    aggregation: 'avg',
    window: '1m',
    threshold: 90,
    for: '1m',
  });
}
for (let i = 0; i < AGENTS; i += 2) {
  specs.push({
    name: `Root fs ${host(i)}`,
    hosts: [host(i)],
    metric: 'node_filesystem_avail_bytes',
    series_labels: '{mountpoint="/"}',
    aggregation: 'last',
    op: '<',
    threshold: 2 * GiB,
  });
}
const summaryRules: [string, RuleSpecInput['aggregation'], string, number][] = [
  ['falconet_memory_used_percent', 'avg', '5m', 90],
  ['falconet_swap_used_percent', 'last', '1m', 50],
  ['node_load1', 'avg', '5m', 8],
  ['falconet_network_receive_bytes_per_second', 'avg', '1m', 1e8],
  ['falconet_network_transmit_bytes_per_second', 'avg', '1m', 1e8],
  ['falconet_disk_read_bytes_per_second', 'max', '2m', 5e8],
  ['falconet_disk_written_bytes_per_second', 'max', '2m', 5e8],
  ['falconet_disk_used_percent', 'last', '1m', 85],
  ['falconet_cpu_usage_percent', 'max', '5m', 99],
  ['falconet_cpu_usage_percent', 'min', '5m', 80],
];
for (let k = 0; k < 1500; k++) {
  const [metric, aggregation, window, threshold] = summaryRules[k % summaryRules.length] as (typeof summaryRules)[number];
  specs.push({
    name: `group g${k % GROUPS} #${k}`,
    host_labels: { group: `g${k % GROUPS}` },
    metric,
    aggregation,
    window,
    threshold: threshold + (k % 7),
  });
}
for (let k = 0; k < 700; k++) {
  const [metric, aggregation, window, threshold] = summaryRules[k % summaryRules.length] as (typeof summaryRules)[number];
  specs.push({ name: `dc${k % DCS} #${k}`, host_labels: { dc: `dc${k % DCS}` }, metric, aggregation, window, threshold: threshold * 1.05 });
}
for (let k = 0; k < 200; k++) {
  const [metric, aggregation, window, threshold] = summaryRules[k % summaryRules.length] as (typeof summaryRules)[number];
  specs.push({ name: `prod #${k}`, host_labels: '{env="prod", dc=~"dc[01]"}', metric, aggregation, window, threshold: threshold * 1.1 });
}
for (let k = 0; k < 60; k++) {
  const [metric, aggregation, window, threshold] = summaryRules[k % summaryRules.length] as (typeof summaryRules)[number];
  specs.push({ name: `fleet #${k}`, metric, aggregation, window, threshold: threshold * 1.2 });
}
for (const c of CONTAINERS) specs.push({ name: `container ${c} down`, kind: 'container_down', series_labels: { name: c }, for: '1m' });
for (let k = 0; k < 4; k++)
  specs.push({ name: `restart loop dc${k}`, kind: 'container_restarting', host_labels: { dc: `dc${k}` }, restarts: 3 });
for (const within of ['4h', '12h', '24h', '48h']) specs.push({ name: `disk full in ${within}`, kind: 'disk_full', within, lookback: '6h' });
for (let k = 0; k < DCS; k++) specs.push({ name: `offline dc${k}`, kind: 'agent_offline', host_labels: { dc: `dc${k}` }, for: '2m' });
const left = RULES - specs.length;
for (let k = 0; k < left; k++)
  specs.push({ name: `no data plugin ${k}`, kind: 'no_data', metric: `plugin_${k}_up`, host_labels: { group: `g${k % GROUPS}` } });
if (specs.length !== RULES) throw new Error(`rule mix has ${specs.length} rules`);

// --- a report ---
function report(i: number, t: number): Sample[] {
  const phase = t / 600_000 + i;
  // A hundred hosts run hot for two minutes in four: alerts go pending, fire and resolve.
  const hot = i % 50 === 7 && Math.floor(t / 120_000) % 2 === 0;
  const out: Sample[] = [];
  const g = (name: string, value: number, labels: Record<string, string> = {}) => out.push({ name, labels, value, timestampMs: t });
  g('falconet_cpu_usage_percent', hot ? 97 : 30 + 20 * Math.sin(phase));
  g('falconet_memory_used_percent', 40 + (i % 50));
  g('falconet_swap_used_percent', i % 13);
  g('falconet_disk_used_percent', 20 + (i % 60));
  g('falconet_network_receive_bytes_per_second', 1e5 * (1 + Math.sin(phase)));
  g('falconet_network_transmit_bytes_per_second', 5e4 * (1 + Math.cos(phase)));
  g('falconet_disk_read_bytes_per_second', 1e6);
  g('falconet_disk_written_bytes_per_second', 2e6);
  g('falconet_uptime_seconds', t / 1000);
  g('node_load1', 1 + Math.sin(phase));
  for (const [mountpoint, fstype] of MOUNTS) {
    const labels = { device: `/dev/sd${mountpoint.length}`, fstype, mountpoint };
    g('node_filesystem_avail_bytes', 50 * GiB - (i % 40) * GiB, labels);
    g('node_filesystem_size_bytes', 100 * GiB, labels);
  }
  for (const c of CONTAINERS) {
    const id = { id: `/docker/${i}${c}`, name: c, image: `${c}:1`, namespace: '', pod: '', container: '' };
    for (const s of STATES) g('falconet_container_state', s === 'running' ? 1 : 0, { ...id, state: s });
    g('falconet_container_restarts_total', 0, id);
  }
  // Series no rule reads: the ingest hook must pass them by cheaply.
  for (let cpu = 0; cpu < 2; cpu++) {
    for (const mode of ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'])
      g('node_cpu_seconds_total', t / 1000, { cpu: String(cpu), mode });
  }
  for (const dev of ['eth0', 'eth1']) {
    for (const m of [
      'receive_bytes',
      'transmit_bytes',
      'receive_packets',
      'transmit_packets',
      'receive_errs',
      'transmit_errs',
      'receive_drop',
      'transmit_drop',
    ]) {
      g(`node_network_${m}_total`, t, { device: dev });
    }
  }
  for (const dev of ['sda', 'sdb']) {
    for (const m of [
      'reads_completed',
      'writes_completed',
      'read_bytes',
      'written_bytes',
      'io_time_seconds',
      'reads_merged',
      'writes_merged',
      'discards_completed',
    ]) {
      g(`node_disk_${m}_total`, t, { device: dev });
    }
  }
  for (let k = 0; k < 20; k++) g(`node_memory_field${k}_bytes`, k * 1e6);
  return out;
}

function countBy(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

// --- set up ---
const dataDir = tempDir('falconet-bench-alerts-');
const meta = openMetaDb({ url: '', dataDir });
await migrateMetaDb(meta);
progress(`storing ${RULES} rules in the metadata database`);
const created = Date.now();
await meta.db.transaction().execute(async (tx) => {
  for (let k = 0; k < specs.length; k += 500) {
    await tx
      .insertInto('alert_rules')
      .values(
        specs.slice(k, k + 500).map((s, j) => {
          const spec = ruleSpecSchema.parse(s);
          return {
            id: `rule-${k + j}`,
            name: spec.name,
            spec: JSON.stringify(spec),
            created_by: 'bench',
            created_ms: created,
            updated_ms: created,
          };
        }),
      )
      .execute();
  }
});
const clock = { now: Date.parse('2025-06-01T00:00:00Z') };
const store = await openStore(serverConfigSchema.parse({ data_dir: dataDir }));
const service = new AlertService({
  config: alertsConfigSchema.parse({ evaluation_interval: '10s', startup_grace: 0, warm_from_store: false }),
  meta,
  store,
  agents: { list: () => agents },
  log: pino({ level: 'warn' }, process.stderr),
  externalUrl: () => 'http://127.0.0.1:7070',
  now: () => clock.now,
});
await service.catalog.loadDatabase();
await service.changed();
progress(`${service.evaluator.rules.length} rules compiled`);

// The disk-full rules read 6 h of history: what warming from the store would bring, one point per bucket.
for (let i = 0; i < AGENTS; i++) {
  for (const [mountpoint, fstype] of MOUNTS) {
    const labels = { device: `/dev/sd${mountpoint.length}`, fstype, mountpoint };
    const points: [number, number][] = [];
    for (let b = 120; b > 0; b--) points.push([clock.now - b * 180_000, 50 * GiB - (i % 40) * GiB + b * (i % 3) * 1e6]);
    service.windows.warm(agents[i]?.id as string, 'node_filesystem_avail_bytes', labels, points, 'long', clock.now);
  }
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let observed = 0;
let observeCpuMs = 0;
/** CPU time of this thread only: the collector's helper threads and other processes are not counted. */
const cpuMs = () => {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
};
/** One interval: each agent's report made, then handed to the hook as ingest would; the hook timed on this thread's CPU clock. */
function interval(): void {
  clock.now += INTERVAL_MS;
  for (const a of agents) a.lastSeenMs = clock.now;
  for (let i = 0; i < AGENTS; i++) {
    const samples = report(i, clock.now);
    const c0 = cpuMs();
    service.observe(agents[i]?.id as string, samples);
    observeCpuMs += cpuMs() - c0;
    observed += samples.length;
  }
}

progress(`feeding ${HISTORY_INTERVALS} intervals of reports from ${AGENTS} agents`);
for (let k = 0; k < HISTORY_INTERVALS; k++) interval();
progress(`${service.windows.seriesCount} series held; ${observed} samples observed`);
// The first cycle binds every series to its rules (once per series, and again only when rules or agents change).
const b0 = cpuMs();
await service.runCycle();
const bindCpuMs = cpuMs() - b0;
progress(`first cycle (binding ${service.windows.seriesCount} series) took ${Math.round(bindCpuMs)} ms CPU`);
observed = 0;
observeCpuMs = 0;

const walls: number[] = [];
const cpus: number[] = [];
const busies: number[] = [];
let pairs = 0;
let transitions = 0;
for (let c = 0; c < CYCLES; c++) {
  interval();
  const t0 = performance.now();
  const c0 = cpuMs();
  const t = await service.runCycle();
  walls.push(performance.now() - t0);
  cpus.push(cpuMs() - c0);
  busies.push(service.evaluator.last?.busyMs ?? Number.NaN);
  pairs = service.evaluator.last?.pairs ?? 0;
  transitions += t.length;
  progress(
    `cycle ${c + 1}/${CYCLES}: ${walls.at(-1)?.toFixed(0)} ms wall, ${cpus.at(-1)?.toFixed(0)} ms CPU, ${pairs} pairs` +
      [...countBy(t.map((x) => `${x.rule.kind} ${x.to}`))].map(([what, n]) => `, ${n} ${what}`).join(''),
  );
}
await service.flushed();
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const rss = process.memoryUsage().rss / 2 ** 20;
// What the windows and rules hold, after a collection (the bench's own reports are garbage by now).
gc();
const heap = process.memoryUsage().heapUsed / 2 ** 20;
emit({
  bench: BENCH,
  metric: 'cycle_ms',
  value: round(percentile(walls, 50)),
  unit: 'ms',
  p95: round(percentile(walls, 95)),
  max: round(Math.max(...walls)),
  cycles: CYCLES,
  budget_ms: INTERVAL_MS,
  within_interval: Math.max(...walls) < INTERVAL_MS,
});
emit({
  bench: BENCH,
  metric: 'cycle_cpu_ms',
  value: round(percentile(cpus, 50)),
  unit: 'ms',
  p95: round(percentile(cpus, 95)),
  note: 'CPU time of the cycle: what it costs, whatever else the machine runs',
});
emit({ bench: BENCH, metric: 'busy_ms', value: round(percentile(busies, 50)), unit: 'ms', note: 'wall time without yields to ingest' });
emit({ bench: BENCH, metric: 'rules', value: service.evaluator.rules.length, unit: 'rules' });
emit({ bench: BENCH, metric: 'agents', value: AGENTS, unit: 'agents' });
emit({ bench: BENCH, metric: 'pairs', value: pairs, unit: 'series x rule per cycle', transitions });
emit({ bench: BENCH, metric: 'series', value: service.windows.seriesCount, unit: 'series in memory' });
emit({
  bench: BENCH,
  metric: 'observe_ns_per_sample',
  value: round((observeCpuMs * 1e6) / observed, 0),
  unit: 'ns (CPU)',
  samples: observed,
  note: 'the ingest hook in steady state, averaged over every sample of every report, most of them read by no rule',
});
emit({
  bench: BENCH,
  metric: 'bind_ms',
  value: round(bindCpuMs, 0),
  unit: 'ms (CPU)',
  note: 'first cycle: every series bound to its rules',
});
emit({ bench: BENCH, metric: 'heap_mb', value: round(heap, 0), unit: 'MB', note: 'after a collection: windows, rules, index' });
emit({ bench: BENCH, metric: 'rss_mb', value: round(rss, 0), unit: 'MB', note: 'the whole bench process, reports included' });
emit({
  bench: BENCH,
  metric: 'host_load1',
  value: round((await import('node:os')).loadavg()[0] as number, 2),
  unit: 'load',
  note: 'shared machine',
});
await service.stop();
await store.close();
await meta.close();
process.exit(0);
