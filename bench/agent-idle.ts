/**
 * bench/agent-idle: what the agent costs at rest, beside node_exporter doing equal work at the same
 * cadence. One run starts a falconet-server and five processes, and measures all five over the same
 * span, 10 minutes (3 with --quick; `--span SECONDS` sets it), after a 60 s warm-up:
 *
 * - agent: the built agent on equal work (testing/node-exporter.ts: node_exporter's collectors only,
 *   its own falconet_agent_* and process_* series off /metrics), report.dynamic off, reporting to the
 *   server every 10 s, and scraped by the bench every 15 s as Prometheus would. It collects for both
 *   outputs: a report every 10 s and a scrape every 15 s;
 * - ref and ref_15s: node_exporter with the same collectors and filters, scraped every 10 s and
 *   every 15 s. It collects only when scraped;
 * - no_native: the agent exactly as above with FALCONET_NATIVE=off, as on a host where its native
 *   addon could not be built: no page release, no heap trim, kernel files read through Node's fs;
 * - dynamic: the agent on the same collectors with its default settings, report.dynamic on, reporting
 *   only (not scraped) at the interval the host's load sets: 60 s idle, 10 s normal, 5 s busy.
 *
 * CPU is each process's user + system time (every thread) over the span, as % of one core. RSS is
 * the mean of samples every 5 s (the largest and the last beside it); the anonymous part
 * (smaps_rollup Anonymous), the memory the process holds itself, is read at the end. Every line names
 * its side's interval_s (how often it collects of its own accord: the agent's report interval; for
 * node_exporter, which only answers scrapes, its scrape interval) and scrape_interval_s. Scrapes ask
 * for gzip, as Prometheus does, at the same level on both sides (the agents at 6, Go's default that
 * node_exporter uses). On equal work the agents' /metrics carry no falconet_agent_* series, so their acknowledged
 * reports are read from the copy of falconet_agent_transport_acked_reports_total the server stored
 * from their reports; the fixed-interval agents' lines say whether a report arrived every 10 s.
 * host_busy_percent tells how busy the machine was besides. Goals: cpu_percent <= 0.3, rss_mb <= 60.
 *
 *   npm run bench -- agent-idle [--quick] [--span SECONDS]
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { equalWork, NODE_EXPORTER, nodeExporterVersion } from '../testing/node-exporter.ts';
import { freePort, getJson, type Proc, startCommand, startServer, tempDir } from '../testing/processes.ts';
import { anonMb, cpuSeconds, emit, ensureAgentBuilt, median, progress, quick, rssMb, seriesAndFamilies, sleep } from './lib.ts';

const BENCH = 'agent-idle';
const spanArg = process.argv.indexOf('--span');
const spanS = spanArg > 0 ? Number(process.argv[spanArg + 1]) : quick ? 180 : 600;
/** Past the first page release (10 s) and the dynamic agent's first steps (three reports each). */
const WARMUP_S = 60;
const REPORT_S = 10;
const AGENT_SCRAPE_S = 15;
const SAMPLE_S = 5;

interface Side {
  /** Prefix of its metric names: '' for the agent. */
  prefix: string;
  proc: Proc;
  pid: number;
  port: number;
  /** How often it collects of its own accord; for the dynamic agent, known only at the end. */
  intervalS?: number;
  /** How often the bench scrapes it; undefined: not scraped. */
  scrapeS?: number;
  /** Its id at the server, for the agents. */
  agentId?: string;
  series?: number;
  scrapes: number;
  failedScrapes: number;
  rss: number[];
}

const round = (x: number, d = 2) => Number(x.toFixed(d));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Busy and total jiffies of the whole machine (the cpu line of /proc/stat). */
function hostJiffies(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
}

const bin = ensureAgentBuilt();
const work = await equalWork();
const neVersion = nodeExporterVersion();
const server = await startServer();
progress(`server up (gRPC 127.0.0.1:${server.grpcPort})`);

const sides: Side[] = [];
process.on('exit', () => {
  for (const s of sides) if (s.proc.child.exitCode === null) s.proc.child.kill('SIGKILL');
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
});

// The caller's FALCONET_* settings stay out: each agent runs with what its side sets and nothing else.
const callerSettings = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('FALCONET_'))
    .map((k) => [k, undefined]),
);

async function startAgentSide(prefix: string, extraArgs: string[], env: NodeJS.ProcessEnv, scrapeS?: number): Promise<Side> {
  const port = await freePort();
  const args = [
    'run',
    '--server',
    `127.0.0.1:${server.grpcPort}`,
    '--data-dir',
    tempDir('falconet-bench-agent-'),
    '--listen',
    `127.0.0.1:${port}`,
    ...work.agentArgs,
    '--web.gzip-level',
    '6',
    ...extraArgs,
  ];
  const proc = startCommand(process.execPath, [bin, ...args], { ...callerSettings, ...env }, `agent ${prefix || 'fixed'}`);
  const reporting = JSON.parse(await proc.waitFor(/"reporting to server"/)) as { agentId: string; intervalMs: number; dynamic: boolean };
  await proc.waitFor(/"exporter listening"/);
  const fixed = !reporting.dynamic;
  const side: Side = {
    prefix,
    proc,
    pid: proc.child.pid as number,
    port,
    intervalS: fixed ? reporting.intervalMs / 1000 : undefined,
    scrapeS,
    agentId: reporting.agentId,
    scrapes: 0,
    failedScrapes: 0,
    rss: [],
  };
  const settings = Object.entries(env).map(([k, v]) => `${k}=${v} `);
  progress(`${prefix || 'agent'}: pid ${side.pid}, ${settings.join('')}falconet-agent ${args.slice(7).join(' ')}`);
  return side;
}

async function startRefSide(prefix: string, scrapeS: number): Promise<Side> {
  const port = await freePort();
  const proc = startCommand(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`, ...work.refArgs]);
  await proc.waitFor(/msg="Listening on"/);
  progress(`${prefix}: pid ${proc.child.pid}, ${NODE_EXPORTER} ${work.refArgs.join(' ')}, scraped every ${scrapeS} s`);
  return { prefix, proc, pid: proc.child.pid as number, port, intervalS: scrapeS, scrapeS, scrapes: 0, failedScrapes: 0, rss: [] };
}

const agent = await startAgentSide('', ['--interval', `${REPORT_S}s`], { FALCONET_REPORT_DYNAMIC: 'false' }, AGENT_SCRAPE_S);
const ref = await startRefSide('ref_', 10);
const ref15 = await startRefSide('ref_15s_', 15);
const noNative = await startAgentSide(
  'no_native_',
  ['--interval', `${REPORT_S}s`],
  { FALCONET_REPORT_DYNAMIC: 'false', FALCONET_NATIVE: 'off' },
  AGENT_SCRAPE_S,
);
const dynamic = await startAgentSide('dynamic_', [], {});
sides.push(agent, ref, ref15, noNative, dynamic);

/** One scrape as Prometheus makes it: gzip asked for, the whole body read. */
async function scrape(side: Side): Promise<void> {
  try {
    const res = await fetch(`http://127.0.0.1:${side.port}/metrics`, { headers: { 'accept-encoding': 'gzip' } });
    const body = await res.text();
    if (!res.ok) throw new Error(`status ${res.status}`);
    side.series ??= seriesAndFamilies(body).series;
    side.scrapes++;
  } catch (err) {
    side.failedScrapes++;
    progress(`${side.prefix || 'agent'}: a scrape failed: ${String(err)}`);
  }
}

// Prometheus' part, for the whole run: each scraped side from its own offset (as Prometheus spreads its targets).
const timers: NodeJS.Timeout[] = [];
sides
  .filter((s) => s.scrapeS !== undefined)
  .forEach((side, i) => {
    timers.push(
      setTimeout(() => {
        void scrape(side);
        timers.push(setInterval(() => void scrape(side), (side.scrapeS as number) * 1000));
      }, i * 2500),
    );
  });

progress(`all up; warming up ${WARMUP_S} s, then ${spanS} s measured`);
await sleep(WARMUP_S * 1000);

for (const s of sides) {
  s.scrapes = 0;
  s.failedScrapes = 0;
}
const cpu0 = new Map(sides.map((s) => [s, cpuSeconds(s.pid)]));
const host0 = hostJiffies();
const t0 = Date.now();
const p0 = performance.now();
const sample = () => {
  for (const s of sides) s.rss.push(rssMb(s.pid));
};
sample();
const sampler = setInterval(sample, SAMPLE_S * 1000);
const ticker = setInterval(() => {
  const at = Math.round((performance.now() - p0) / 1000);
  progress(`${at}/${spanS} s: RSS MB ${sides.map((s) => `${s.prefix || 'agent_'}${s.rss.at(-1)?.toFixed(1)}`).join(' ')}`);
}, 60_000);
await sleep(spanS * 1000);
clearInterval(sampler);
clearInterval(ticker);
sample();
const elapsedS = (performance.now() - p0) / 1000;
const cpuS = new Map(sides.map((s) => [s, cpuSeconds(s.pid) - (cpu0.get(s) as number)]));
const host1 = hostJiffies();
const anon = new Map(sides.map((s) => [s, anonMb(s.pid)]));
const t1 = Date.now();
for (const t of timers) clearInterval(t);

// A report made before the span's end is acknowledged within moments: let the last one land.
await sleep(3000);

interface StoredSeries {
  labels: Record<string, string>;
  points: [number, number | null][];
}
async function stored(side: Side, name: string): Promise<StoredSeries[]> {
  const q = `agent=${encodeURIComponent(side.agentId as string)}&name=${name}&from=${t0}&to=${t1}&step=0`;
  return (await getJson<{ series: StoredSeries[] }>(`${server.url}/api/metrics?${q}`)).series;
}

interface Reports {
  /** Reports the server stored with a time within the span. */
  arrived: number;
  /** Reports acknowledged between the first and the last of those, by the agent's own counter. */
  acked: number;
  /** Seconds per acknowledged report, first to last. */
  everyS: number;
  gapMedianS: number | null;
  gapMaxS: number | null;
}

/** The agent's reports the server stored within the span, and what its acknowledged-reports counter says of them. */
async function reports(side: Side): Promise<Reports> {
  const points = (await stored(side, 'falconet_agent_transport_acked_reports_total'))[0]?.points ?? [];
  const times = points.map(([t]) => t);
  const gaps = times.slice(1).map((t, i) => (t - (times[i] as number)) / 1000);
  // Each report carries the count acknowledged when it was made.
  const acked = points.length > 1 ? (points.at(-1)?.[1] as number) - (points[0]?.[1] as number) : 0;
  const betweenS = times.length > 1 ? ((times.at(-1) as number) - (times[0] as number)) / 1000 : Number.NaN;
  return {
    arrived: points.length,
    acked,
    everyS: round(betweenS / acked, 2),
    gapMedianS: gaps.length ? round(median(gaps), 2) : null,
    gapMaxS: gaps.length ? round(Math.max(...gaps), 2) : null,
  };
}

/** A report every REPORT_S: one per interval (give or take the span's two ends), each acknowledged, no gap of 1.5 intervals. */
function everyInterval(r: Reports): boolean {
  const expected = Math.floor(elapsedS / REPORT_S);
  return Math.abs(r.arrived - expected) <= 1 && r.acked >= expected - 1 && (r.gapMaxS ?? Number.POSITIVE_INFINITY) < 1.5 * REPORT_S;
}

const host = { busy: host1.busy - host0.busy, total: host1.total - host0.total };
emit({
  bench: BENCH,
  metric: 'host_busy_percent',
  value: round((100 * host.busy) / host.total, 1),
  unit: 'percent of all cores',
  cores: cpus().length,
  load1_end: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
  note: 'the whole machine over the span, the measured processes and everything else on it',
});

const agents = sides.filter((s) => s.agentId !== undefined);
const reportsOf = new Map<Side, Reports>();
for (const side of agents) reportsOf.set(side, await reports(side));
for (const side of [agent, noNative]) {
  const r = reportsOf.get(side) as Reports;
  const what = `${side.prefix || 'agent_'}reports: ${r.arrived} arrived in ${Math.round(elapsedS)} s, ${r.acked} acknowledged from the first to the last, longest gap ${r.gapMaxS} s`;
  progress(everyInterval(r) ? `${what}: one every ${REPORT_S} s, as set` : `${what}: NOT one every ${REPORT_S} s`);
}

// The dynamic agent: the interval and load class of its last report in the span, and the intervals it went through.
const intervals = ((await stored(dynamic, 'falconet_agent_report_interval_seconds'))[0]?.points ?? []).map(([, v]) => v as number);
dynamic.intervalS = intervals.at(-1);
const hostLoad = (await stored(dynamic, 'falconet_agent_report_host_load')).find((s) => s.points.at(-1)?.[1] === 1)?.labels.load;

for (const side of sides) {
  const p = side.prefix;
  const isAgent = side.agentId !== undefined;
  const cadence = { interval_s: side.intervalS ?? null, scrape_interval_s: side.scrapeS ?? null };
  const about = isAgent ? {} : { ref: `node_exporter ${neVersion}, equal work, scraped every ${side.scrapeS} s` };
  const goal = (g: number) => (side === agent ? { goal: g } : {});
  emit({
    bench: BENCH,
    metric: `${p}cpu_percent`,
    value: round((100 * (cpuS.get(side) as number)) / elapsedS, 3),
    unit: 'percent of one core',
    ...cadence,
    span_s: Math.round(elapsedS),
    scrapes: side.scrapes,
    ...(side.failedScrapes ? { failed_scrapes: side.failedScrapes } : {}),
    ...(side.series !== undefined ? { series: side.series } : {}),
    ...goal(0.3),
    ...about,
  });
  const releases = side.proc.lines.filter((l) => l.includes('released the startup pages')).length;
  emit({
    bench: BENCH,
    metric: `${p}rss_mb`,
    value: round(mean(side.rss)),
    unit: 'MB',
    max: round(Math.max(...side.rss)),
    end: round(side.rss.at(-1) as number),
    ...cadence,
    ...(isAgent ? { page_releases: releases } : {}),
    ...goal(60),
    ...about,
  });
  emit({ bench: BENCH, metric: `${p}rss_anon_mb`, value: round(anon.get(side) as number), unit: 'MB', at: 'end', ...cadence, ...about });
  const r = reportsOf.get(side);
  if (!r) continue;
  const fixed = side !== dynamic;
  emit({
    bench: BENCH,
    metric: `${p}reports_acked`,
    value: r.acked,
    unit: 'reports',
    ...cadence,
    arrived: r.arrived,
    every_s: r.everyS,
    gap_median_s: r.gapMedianS,
    gap_max_s: r.gapMaxS,
    ...(fixed
      ? {
          every_10s: everyInterval(r),
          check: everyInterval(r)
            ? `a report arrived and was acknowledged every ${REPORT_S} s over the span`
            : `reports did NOT arrive every ${REPORT_S} s (${Math.floor(elapsedS / REPORT_S)} expected in the span)`,
        }
      : { host_load: hostLoad ?? null, intervals_s: [...new Set(intervals)].sort((a, b) => a - b) }),
    source: "the server's copy of falconet_agent_transport_acked_reports_total, from the agent's reports",
  });
}

await Promise.all(sides.map((s) => s.proc.stop()));
await server.stop();
process.exit(0);
