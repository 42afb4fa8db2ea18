/**
 * The soak: everything running at once for an hour, watched for growth. A real server (own
 * process, embedded store) with a fleet of simulated agents (bench/lib-agents.ts processes),
 * 3 real agents built as deployed (one tailing a log file a writer appends to at a busy rate,
 * one running a cron job every minute), Debian's Prometheus scraping the 3 agents every 15 s,
 * headless Chromium keeping the overview open, and alert rules over the fleet.
 *
 * Every `--interval` minutes it prints one JSON line (`metric: "sample"`) with the server's RSS,
 * V8 heap (its /metrics), open descriptors (/proc/PID/fd), store size (du of its data
 * directory), ingest rate (samples stored per second over the period), client-side ack p99 over
 * the period (bench/lib-agents.ts latencies) and event-loop delay p99 (its /metrics, since the
 * previous scrape, which is the previous sample: nothing else scrapes the server); and each real
 * agent's RSS, anonymous memory and descriptors.
 *
 * At the end: the growth of each over the last half (the last sample and the highest of the
 * second half, against the sample at half time, in %), ack p99 of the second half against the
 * first, and then the fast scraper: one real agent's /metrics fetched every 50 ms for
 * `--fast-scrape-minutes` with the rest still running, its highest RSS. Goals, as figures with
 * `goal` and `verdict` (PASS/MISS): server and agent RSS growth under 5 %, descriptors flat (the
 * last sample at most max(2, 1 %) above half time), ack p99 within 20 % of the first half's,
 * the fast-scraped agent at most 60 MB RSS.
 *
 * What a simulated agent sends: the series a default agent sends on this machine (measured first,
 * as bench/ingest does), if the server sustains that from the whole fleet here; the bench checks
 * in a warm-up (the agents' queues must not grow and the stored rate must reach 90 % of the
 * offered) and otherwise falls back to `--fallback-series` (default 200) realistic series, saying
 * which and why. `--series M` skips the check and sends M realistic series.
 *
 *   npm run bench -- soak [--quick] [--minutes N] [--interval MIN] [--agents N] [--fast-scrape-minutes N]
 *                         [--series M] [--fallback-series M]
 */

import { execFileSync } from 'node:child_process';
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from '../testing/browser.ts';
import { eventually, freePort, getJson, startCommand, tempDir } from '../testing/processes.ts';
import { anonMb, emit, type Figure, percentile, progress, quick, rssMb, sleep, spawnDefaultAgent } from './lib.ts';
import {
  defaultAgentFigure,
  type Load,
  measureDefaultAgent,
  metricValue,
  type SimulatedSeries,
  scrape,
  seriesCount,
  startBenchServer,
  startLoad,
} from './lib-fleet.ts';
import { lineGenerator } from './lib-log-lines.ts';

const BENCH = 'soak';
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`soak: --${name} wants a positive number, got "${process.argv[i + 1] ?? ''}"`);
  return v;
};
const MINUTES = arg('minutes', quick ? 3 : 60);
const PERIOD_MS = arg('interval', quick ? 1 : 5) * 60_000;
const AGENTS = arg('agents', quick ? 200 : 2000);
const FAST_MINUTES = arg('fast-scrape-minutes', quick ? 1 : 10);
const FALLBACK_SERIES = arg('fallback-series', 200);
const REPORT_MS = 10_000;
const LOG_LINES_PER_S = 200;
const WARMUP_MS = quick ? 40_000 : 90_000;
if (PERIOD_MS > MINUTES * 60_000) throw new Error(`soak: --interval ${PERIOD_MS / 60_000} is longer than --minutes ${MINUTES}`);

/** A figure with its goal: PASS or MISS beside it, on stdout, and the verdict on stderr too. */
function goal(f: Figure, want: { max: number; text: string }): void {
  const verdict = f.value <= want.max ? 'PASS' : 'MISS';
  emit({ ...f, goal: want.text, verdict });
  progress(`${verdict} ${f.metric}${f.agent ? ` (${f.agent})` : ''}: ${f.value} ${f.unit} (goal ${want.text})`);
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const duBytes = (dir: string): number => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
const round = (v: number, digits = 1) => Number(v.toFixed(digits));

// --- the server, with alert rules over the fleet ----------------------------------------------
// No user is created: a server with users takes agents only with tokens, which the simulated
// fleet does not carry; with none it serves loopback openly (as in bench/ui and bench/ingest).

const dataDir = tempDir('falconet-bench-soak-server-');
const confDir = tempDir('falconet-bench-soak-conf-');
writeFileSync(
  join(confDir, 'rules.yaml'),
  `rules:
  - name: Fleet CPU high
    metric: falconet_cpu_usage_percent
    aggregation: avg
    window: 1m
    op: ">"
    threshold: 90
    for: 1m
  - name: Memory nearly full
    metric: falconet_memory_used_percent
    aggregation: last
    op: ">"
    threshold: 95
  - name: Agent offline
    kind: agent_offline
    for: 1m
`,
);
writeFileSync(join(confDir, 'server.yaml'), `alerts:\n  evaluation_interval: 10s\n  rules_file: ${join(confDir, 'rules.yaml')}\n`);
const server = await startBenchServer(dataDir, { FALCONET_STORE_ENGINE: 'embedded' }, ['--config', join(confDir, 'server.yaml')]);
const serverPid = server.child.pid as number;
const grpc = `127.0.0.1:${server.grpcPort}`;
let stopping = false;
const cleanups: (() => Promise<unknown> | unknown)[] = [
  () => {
    stopping = true;
    return server.stop('SIGTERM', 60_000);
  },
];
// A server that dies mid-run says why here, at once, rather than as the next failed fetch.
void server.exited.then(({ code, signal }) => {
  if (!stopping) progress(`soak: the server exited (${code ?? signal}) mid-run; its last lines:\n${server.lines.slice(-40).join('\n')}`);
});

async function cleanup(): Promise<void> {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((err: unknown) => progress(`cleanup: ${String(err)}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    progress(`soak: ${signal}: stopping what it started`);
    void cleanup().then(() => process.exit(130));
  });

try {
  // --- what each simulated agent sends ---------------------------------------------------------
  let series: SimulatedSeries;
  let seriesKind: string;
  let load: Load;
  const offered = (s: SimulatedSeries) => (AGENTS * seriesCount(s) * 1000) / REPORT_MS;
  const startFleet = async (s: SimulatedSeries): Promise<Load> => {
    const l = startLoad({ grpc, agents: AGENTS, series: s, intervalMs: REPORT_MS, processes: 2 });
    // Stopped at the end whatever happens, even if it fails to connect (stopping twice is harmless).
    cleanups.push(() => l.stop());
    const deadline = Date.now() + 600_000;
    while (l.connected() < AGENTS) {
      if (server.child.exitCode !== null) throw new Error(`soak: the server exited (${server.child.exitCode}) while the fleet connected`);
      if (Date.now() > deadline) throw new Error(`soak: only ${l.connected()} of ${AGENTS} simulated agents connected in 10 minutes`);
      await sleep(3000);
      progress(`soak: ${l.connected()} of ${AGENTS} simulated agents connected`);
    }
    return l;
  };
  /** Whether the server keeps up with `s` from the fleet: stored rate and queues over a warm-up. */
  const sustains = async (l: Load, s: SimulatedSeries): Promise<{ ok: boolean; why: string }> => {
    await sleep(REPORT_MS * 2);
    const m0 = await scrape(server.url);
    const q0 = l.queued();
    const t0 = performance.now();
    await sleep(WARMUP_MS);
    const m1 = await scrape(server.url);
    const rate =
      (metricValue(m1, 'falconet_server_samples_total') - metricValue(m0, 'falconet_server_samples_total')) /
      ((performance.now() - t0) / 1000);
    const q1 = l.queued();
    const ok = rate >= 0.9 * offered(s) && q1 <= Math.max(q0, AGENTS / 20);
    const why =
      `${AGENTS} agents x ${seriesCount(s)} series every ${REPORT_MS / 1000} s offer ${Math.round(offered(s))} samples/s; ` +
      `over a ${WARMUP_MS / 1000} s warm-up the server stored ${Math.round(rate)} samples/s and the agents' queues went from ${q0} to ${q1} reports`;
    return { ok, why };
  };

  if (process.argv.includes('--series')) {
    series = arg('series', FALLBACK_SERIES);
    seriesKind = 'realistic families (--series)';
    load = await startFleet(series);
    progress(`soak: ${AGENTS} simulated agents x ${series} realistic series, as asked`);
  } else {
    progress('soak: measuring what a default agent sends per report on this machine');
    const report = await measureDefaultAgent();
    emit(defaultAgentFigure(BENCH, report));
    series = report.series;
    seriesKind = 'default agent';
    load = await startFleet(series);
    progress(`soak: ${AGENTS} simulated agents connected, default-agent sized; checking the server sustains them`);
    const check = await sustains(load, series);
    progress(`soak: ${check.why}: ${check.ok ? 'sustained' : 'not sustained'}`);
    emit({
      bench: BENCH,
      metric: 'default_agent_series_sustained',
      value: check.ok ? 1 : 0,
      unit: 'bool',
      agents: AGENTS,
      series_per_agent: seriesCount(series),
      why: check.why,
    });
    if (!check.ok) {
      await load.stop();
      series = FALLBACK_SERIES;
      seriesKind = `realistic families (${FALLBACK_SERIES}), as default-agent sized was not sustained`;
      progress(`soak: falling back to ${FALLBACK_SERIES} realistic series per agent`);
      load = await startFleet(series);
      const again = await sustains(load, series);
      progress(`soak: ${again.why}: ${again.ok ? 'sustained' : 'NOT sustained either; the figures below are of a server behind'}`);
    }
  }
  const fleet = load;
  progress(
    `soak: fleet is ${AGENTS} agents x ${seriesCount(series)} series (${seriesKind}), ${Math.round(offered(series))} samples/s offered`,
  );

  // --- the 3 real agents: plain, tailing a busy log, running a cron job -----------------------
  const logDir = tempDir('falconet-bench-soak-log-');
  const logFile = join(logDir, 'app.log');
  writeFileSync(logFile, '');
  writeFileSync(
    join(confDir, 'agent-log.yaml'),
    `logs:\n  sources:\n    - name: app\n      include: ["${logFile}"]\n      start_at: end\n`,
  );
  writeFileSync(
    join(confDir, 'agent-cron.yaml'),
    `labels: { role: cron }\ntasks:\n  enabled: true\n  allow: [{ name: clock, command: /bin/date, args: ['\\+%s'] }]\n`,
  );
  const roles = [
    { name: 'plain', args: [] as string[] },
    { name: 'log', args: ['--config', join(confDir, 'agent-log.yaml')] },
    { name: 'cron', args: ['--config', join(confDir, 'agent-cron.yaml')] },
  ];
  const agents: { name: string; pid: number; port: number }[] = [];
  for (const r of roles) {
    const port = await freePort();
    const child = spawnDefaultAgent(grpc, port, ['ignore', 'ignore', 'inherit'], r.args);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    );
    agents.push({ name: r.name, pid: child.pid as number, port });
  }
  for (const a of agents)
    await eventually(async () => (await fetch(`http://127.0.0.1:${a.port}/metrics`).catch(() => undefined))?.ok, 60_000, 500);
  progress(`soak: real agents up (${agents.map((a) => `${a.name} pid ${a.pid} :${a.port}`).join(', ')})`);

  // The log writer: LOG_LINES_PER_S lines a second, appended in tenths.
  const gen = lineGenerator(24);
  let written = 0;
  const writer = setInterval(() => {
    let chunk = '';
    for (let i = 0; i < LOG_LINES_PER_S / 10; i++) chunk += `${gen.line(Date.now()).text}\n`;
    appendFileSync(logFile, chunk);
    written += LOG_LINES_PER_S / 10;
  }, 100);
  cleanups.push(() => clearInterval(writer));

  // --- the cron job over REST, the browser on the overview ----------------------------------------
  const cronAgentId = await eventually(
    async () => {
      const r = await fetch(`${server.url}/api/agents?status=online&label=role=cron`);
      return ((await r.json()) as { items?: { id: string }[] }).items?.[0]?.id;
    },
    60_000,
    1000,
  );
  // The agent pins the server's task-signing key on connecting; a job sent before that is refused, so retry.
  const taskId = await eventually(
    async () => {
      const r = await fetch(`${server.url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ command: 'clock', args: ['+%s'], agents: [cronAgentId], schedule: '* * * * *' }),
      });
      if (!r.ok) throw new Error(`POST /api/tasks: ${r.status} ${await r.text()}`);
      return ((await r.json()) as { task: { id: string } }).task.id;
    },
    60_000,
    2000,
  );
  progress(`soak: cron job ${taskId} every minute on agent ${cronAgentId}`);
  const cronRuns = async () =>
    (
      (await (await fetch(`${server.url}/api/tasks/${taskId}?limit=1000`)).json()) as {
        runs?: { status: string }[];
      }
    ).runs ?? [];

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${server.url}/`);
  await page.getByTestId('agent-count').waitFor({ timeout: 60_000 });
  const overview = async () =>
    (await page
      .getByTestId('agent-count')
      .textContent({ timeout: 10_000 })
      .catch(() => null)) ?? 'gone';
  progress(`soak: browser on the overview: "${await overview()}"`);

  // --- Prometheus scraping the 3 agents every 15 s ---------------------------------------------
  const promDir = tempDir('falconet-bench-soak-prom-');
  const promPort = await freePort();
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    `global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: falconet-agents\n    static_configs:\n      - targets: [${agents.map((a) => `'127.0.0.1:${a.port}'`).join(', ')}]\n`,
  );
  const prometheus = startCommand('prometheus', [
    `--config.file=${join(promDir, 'prometheus.yml')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    `--storage.tsdb.path=${join(promDir, 'tsdb')}`,
  ]);
  cleanups.push(() => prometheus.stop());
  const promUrl = `http://127.0.0.1:${promPort}`;
  await eventually(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 60_000, 500);
  const promTargetsUp = async () => {
    const r = await getJson<{ data: { activeTargets: { health: string }[] } }>(`${promUrl}/api/v1/targets`).catch(() => undefined);
    return r?.data.activeTargets.filter((t) => t.health === 'up').length ?? 0;
  };

  // --- the soak itself ----------------------------------------------------------------------------
  interface Sample {
    t_min: number;
    server: {
      rss_mb: number;
      heap_mb: number;
      fds: number;
      store_mb: number;
      ingest_samples_per_s: number;
      ack_p99_ms: number;
      loop_p99_ms: number;
    };
    agents: Record<string, { rss_mb: number; anon_mb: number; fds: number }>;
  }
  const samples: Sample[] = [];
  const allAcks: [number, number][] = [];
  let prev = await scrape(server.url);
  let prevT = performance.now();
  fleet.reset();
  const t0 = performance.now();
  const t0Wall = Date.now();
  const take = async (): Promise<Sample> => {
    const m = await scrape(server.url);
    const now = performance.now();
    const acks = fleet.timed;
    allAcks.push(...acks);
    const s: Sample = {
      t_min: round((now - t0) / 60_000, 2),
      server: {
        rss_mb: round(metricValue(m, 'process_resident_memory_bytes') / 2 ** 20),
        heap_mb: round(metricValue(m, 'nodejs_heap_size_used_bytes') / 2 ** 20),
        fds: fdCount(serverPid),
        store_mb: round(duBytes(dataDir) / 2 ** 20),
        ingest_samples_per_s: Math.round(
          (metricValue(m, 'falconet_server_samples_total') - metricValue(prev, 'falconet_server_samples_total')) / ((now - prevT) / 1000),
        ),
        ack_p99_ms: Math.round(percentile(fleet.latencies, 99)),
        loop_p99_ms: round(metricValue(m, 'falconet_server_event_loop_delay_seconds', { quantile: '0.99' }) * 1000),
      },
      agents: Object.fromEntries(
        agents.map((a) => [a.name, { rss_mb: round(rssMb(a.pid)), anon_mb: round(anonMb(a.pid)), fds: fdCount(a.pid) }]),
      ),
    };
    prev = m;
    prevT = now;
    fleet.reset();
    return s;
  };
  // The baseline: the period before is the warm-up, so its rate and ack figures are left out.
  const first = await take();
  samples.push(first);
  emit({ bench: BENCH, metric: 'sample', value: 0, unit: 'min', ...first, baseline: true });
  const endAt = t0 + MINUTES * 60_000;
  while (performance.now() < endAt - 1000) {
    await sleep(Math.min(PERIOD_MS - ((performance.now() - t0) % PERIOD_MS), endAt - performance.now()));
    const s = await take();
    samples.push(s);
    const runs = await cronRuns();
    emit({
      bench: BENCH,
      metric: 'sample',
      value: s.t_min,
      unit: 'min',
      ...s,
      backlog_reports: fleet.queued(),
      log_lines_written: written,
      cron_runs_succeeded: runs.filter((r) => r.status === 'succeeded').length,
      prometheus_targets_up: await promTargetsUp(),
      overview: await overview(),
    });
    progress(
      `soak: ${s.t_min} min: server rss ${s.server.rss_mb} MB heap ${s.server.heap_mb} MB fds ${s.server.fds} store ${s.server.store_mb} MB, ` +
        `${s.server.ingest_samples_per_s} samples/s, ack p99 ${s.server.ack_p99_ms} ms, loop p99 ${s.server.loop_p99_ms} ms; ` +
        agents.map((a) => `${a.name} ${s.agents[a.name]?.rss_mb} MB/${s.agents[a.name]?.fds} fds`).join(', '),
    );
  }

  // --- growth over the last half -------------------------------------------------------------------
  const halfMin = MINUTES / 2;
  const half = samples.filter((s) => s.t_min <= halfMin + 0.05).at(-1) as Sample;
  const second = samples.filter((s) => s.t_min > half.t_min);
  const last = samples.at(-1) as Sample;
  const extra = {
    agents: AGENTS,
    series_per_agent: seriesCount(series),
    series: seriesKind,
    minutes: MINUTES,
    half_at_min: half.t_min,
    shared_machine: true,
  };
  const growth = (pick: (s: Sample) => number) => {
    const base = pick(half);
    return {
      half: base,
      last: pick(last),
      last_pct: round(((pick(last) - base) / base) * 100, 2),
      max_pct: round(((Math.max(...second.map(pick)) - base) / base) * 100, 2),
    };
  };
  const growthFigure = (
    metric: string,
    pick: (s: Sample) => number,
    more: Record<string, unknown>,
    want?: { max: number; text: string } | 'flat',
  ) => {
    const g = growth(pick);
    const f: Figure = { bench: BENCH, metric, value: g.last_pct, unit: '%', stat: 'last vs half time', ...g, ...more, ...extra };
    if (want === 'flat') {
      const allowed = Math.max(2, Math.ceil(g.half * 0.01));
      goal(
        { ...f, metric: `${metric}_above_half`, value: g.last - g.half, unit: 'descriptors' },
        { max: allowed, text: `flat: <= ${allowed} above half time` },
      );
    } else if (want) goal(f, want);
    else emit(f);
  };
  const under5 = { max: 5, text: '< 5 % over the last half' };
  growthFigure('server_rss_growth_pct', (s) => s.server.rss_mb, {}, under5);
  growthFigure('server_heap_growth_pct', (s) => s.server.heap_mb, {});
  growthFigure('server_fds', (s) => s.server.fds, {}, 'flat');
  growthFigure('server_store_growth_pct', (s) => s.server.store_mb, {});
  for (const a of agents) {
    growthFigure('agent_rss_growth_pct', (s) => s.agents[a.name]?.rss_mb ?? Number.NaN, { agent: a.name }, under5);
    growthFigure('agent_anon_growth_pct', (s) => s.agents[a.name]?.anon_mb ?? Number.NaN, { agent: a.name });
    growthFigure('agent_fds', (s) => s.agents[a.name]?.fds ?? Number.NaN, { agent: a.name }, 'flat');
  }
  const halfWall = t0Wall + half.t_min * 60_000;
  const firstHalf = allAcks.filter(([at]) => at < halfWall).map(([, ms]) => ms);
  const secondHalf = allAcks.filter(([at]) => at >= halfWall).map(([, ms]) => ms);
  const p99a = percentile(firstHalf, 99);
  const p99b = percentile(secondHalf, 99);
  emit({ bench: BENCH, metric: 'ack_p99_first_half_ms', value: Math.round(p99a), unit: 'ms', acks: firstHalf.length, ...extra });
  goal(
    {
      bench: BENCH,
      metric: 'ack_p99_second_half_vs_first_pct',
      value: round(((p99b - p99a) / p99a) * 100, 1),
      unit: '%',
      second_half_ms: Math.round(p99b),
      first_half_ms: Math.round(p99a),
      acks: secondHalf.length,
      ...extra,
    },
    { max: 20, text: 'within 20 % of the first half' },
  );
  emit({
    bench: BENCH,
    metric: 'cron_runs_succeeded',
    value: (await cronRuns()).filter((r) => r.status === 'succeeded').length,
    unit: 'runs',
    minutes: MINUTES,
  });
  emit({ bench: BENCH, metric: 'browser_page_errors', value: pageErrors.length, unit: 'errors', errors: pageErrors.slice(0, 5) });

  // --- the fast scraper --------------------------------------------------------------------------
  const target = agents[1] as (typeof agents)[number];
  progress(`soak: fast scraper: ${target.name} agent's /metrics every 50 ms for ${FAST_MINUTES} min`);
  const fastEnd = performance.now() + FAST_MINUTES * 60_000;
  let maxRss = rssMb(target.pid);
  let scrapes = 0;
  let failed = 0;
  let lastRssAt = 0;
  while (performance.now() < fastEnd) {
    const started = performance.now();
    const ok = await fetch(`http://127.0.0.1:${target.port}/metrics`)
      .then(async (r) => {
        await r.arrayBuffer();
        return r.ok;
      })
      .catch(() => false);
    scrapes++;
    if (!ok) failed++;
    if (started - lastRssAt >= 1000) {
      maxRss = Math.max(maxRss, rssMb(target.pid));
      lastRssAt = started;
    }
    await sleep(Math.max(0, 50 - (performance.now() - started)));
  }
  maxRss = Math.max(maxRss, rssMb(target.pid));
  goal(
    {
      bench: BENCH,
      metric: 'fast_scrape_agent_max_rss_mb',
      value: round(maxRss),
      unit: 'MB',
      agent: target.name,
      stat: 'highest RSS, read every second',
      scrapes,
      failed_scrapes: failed,
      minutes: FAST_MINUTES,
      every_ms: 50,
      shared_machine: true,
    },
    { max: 60, text: '<= 60 MB' },
  );
} catch (err) {
  progress(`soak: failed: ${(err as Error).stack ?? String(err)}`);
  if ((err as { cause?: unknown }).cause) progress(`soak: cause: ${String((err as { cause?: unknown }).cause)}`);
  progress(`soak: the server (exit ${server.child.exitCode ?? 'none'}) said last:\n${server.lines.slice(-40).join('\n')}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
