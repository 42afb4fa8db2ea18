/**
 * bench/agent-scrape: the agent's memory under a fast scraper (issue 24's soak goal, alone). One run
 * starts a falconet-server and two agents with default settings (spawnDefaultAgent), both reporting
 * to it, and fetches each one's /metrics every 50 ms for the span (5 minutes; 2 with --quick;
 * `--span SECONDS` sets it): the first over one kept-alive connection, as Prometheus does, the
 * second on a new connection per scrape. Both ask for gzip, as Prometheus and fetch() do.
 *
 * Every 10 s it prints each agent's VmRSS, RssAnon and RssFile (/proc/PID/status); at the end, per
 * agent, the highest RSS of the span (read every second) with goal 60 MB and PASS or MISS, the
 * highest RssAnon and RssFile, and the scrapes made, failed, and their median time. The span's first
 * 20 s are scraped but measured apart, as startup_max_rss_mb: until the agent releases its start's
 * pages of the node binary (10 s after it starts, runtime/startup-pages.ts) some 25 MB more of them
 * are resident, and the soak's fast scraper starts long after that.
 *
 * `--agent-env NAME=VALUE` (repeatable) sets a variable in the agents' environment only, to compare
 * settings (MALLOC_ARENA_MAX=2, FALCONET_NATIVE=off, NODE_OPTIONS=...) without touching the server's.
 *
 *   npm run bench -- agent-scrape [--quick] [--span SECONDS] [--agent-env NAME=VALUE]...
 */
import { readFileSync } from 'node:fs';
import { get, Agent as HttpAgent } from 'node:http';
import { freePort, startServer } from '../testing/processes.ts';
import { emit, median, progress, quick, sleep, spawnDefaultAgent } from './lib.ts';

const BENCH = 'agent-scrape';
const GOAL_MB = 60;
const EVERY_MS = 50;
const spanArg = process.argv.indexOf('--span');
const spanS = spanArg > 0 ? Number(process.argv[spanArg + 1]) : quick ? 120 : 300;
if (!Number.isFinite(spanS) || spanS <= 0) throw new Error(`--span: expected a number of seconds, got "${process.argv[spanArg + 1]}"`);

const agentEnv: Record<string, string> = {};
process.argv.forEach((a, i) => {
  if (a !== '--agent-env') return;
  const kv = process.argv[i + 1] ?? '';
  const eq = kv.indexOf('=');
  if (eq <= 0) throw new Error(`--agent-env: expected NAME=VALUE, got "${kv}"`);
  agentEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
});

interface Memory {
  rss: number;
  anon: number;
  file: number;
}

/** VmRSS, RssAnon and RssFile of /proc/PID/status, in MB. */
function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

interface Side {
  name: string;
  keepAlive: boolean;
  pid: number;
  port: number;
  scrapes: number;
  failed: number;
  ms: number[];
  max: Memory;
  startupMax: number;
}

/** One scrape: gzip asked for, the whole body read; over `agent`'s sockets. */
function scrapeOnce(port: number, agent: HttpAgent): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', agent, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
  });
}

const server = await startServer();
progress(`server up (gRPC 127.0.0.1:${server.grpcPort})`);

const sides: Side[] = [];
let stopping = false;
const children: ReturnType<typeof spawnDefaultAgent>[] = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
});

for (const [name, keepAlive] of [
  ['keepalive_', true],
  ['close_', false],
] as const) {
  const port = await freePort();
  const child = spawnDefaultAgent(`127.0.0.1:${server.grpcPort}`, port, undefined, [], agentEnv);
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      progress(`${name}agent (pid ${child.pid}) exited during the run: ${signal ?? `code ${code}`}`);
      process.exit(1);
    }
  });
  sides.push({
    name,
    keepAlive,
    pid: child.pid as number,
    port,
    scrapes: 0,
    failed: 0,
    ms: [],
    max: { rss: 0, anon: 0, file: 0 },
    startupMax: 0,
  });
}
// Up once /metrics answers.
for (const s of sides) {
  const probe = new HttpAgent({ keepAlive: false });
  while (!(await scrapeOnce(s.port, probe))) await sleep(200);
}
progress(`agents up: ${sides.map((s) => `${s.name}pid ${s.pid}`).join(', ')}; scraping every ${EVERY_MS} ms for ${spanS} s`);

const end = performance.now() + spanS * 1000;
async function scraper(s: Side): Promise<void> {
  const agent = new HttpAgent({ keepAlive: s.keepAlive, maxSockets: 1 });
  while (performance.now() < end) {
    const t = performance.now();
    const ok = await scrapeOnce(s.port, agent);
    s.ms.push(performance.now() - t);
    s.scrapes++;
    if (!ok) s.failed++;
    await sleep(Math.max(0, EVERY_MS - (performance.now() - t)));
  }
  agent.destroy();
}

const STARTUP_S = 20;
const sample = () => {
  const startup = performance.now() - t0 < STARTUP_S * 1000;
  for (const s of sides) {
    const m = memory(s.pid);
    if (startup) {
      s.startupMax = Math.max(s.startupMax, m.rss);
      continue;
    }
    s.max = { rss: Math.max(s.max.rss, m.rss), anon: Math.max(s.max.anon, m.anon), file: Math.max(s.max.file, m.file) };
  }
};
const t0 = performance.now();
const sampler = setInterval(sample, 1000);
const ticker = setInterval(() => {
  const at = Math.round((performance.now() - t0) / 1000);
  const line = sides.map((s) => {
    const m = memory(s.pid);
    return `${s.name}RSS ${m.rss.toFixed(1)} anon ${m.anon.toFixed(1)} file ${m.file.toFixed(1)}`;
  });
  progress(`${at}/${spanS} s MB: ${line.join(' | ')}`);
}, 10_000);
await Promise.all(sides.map(scraper));
clearInterval(sampler);
clearInterval(ticker);
sample();

const round = (x: number) => Number(x.toFixed(2));
for (const s of sides) {
  const pass = s.max.rss <= GOAL_MB;
  emit({
    bench: BENCH,
    metric: `${s.name}max_rss_mb`,
    value: round(s.max.rss),
    unit: 'MB',
    goal: GOAL_MB,
    result: pass ? 'PASS' : 'MISS',
    max_anon_mb: round(s.max.anon),
    max_file_mb: round(s.max.file),
    keep_alive: s.keepAlive,
    every_ms: EVERY_MS,
    span_s: spanS,
    scrapes: s.scrapes,
    failed_scrapes: s.failed,
    scrape_median_ms: round(median(s.ms)),
    stat: `highest VmRSS, read every second from ${STARTUP_S} s after the first answered scrape`,
  });
  emit({
    bench: BENCH,
    metric: `${s.name}startup_max_rss_mb`,
    value: round(s.startupMax),
    unit: 'MB',
    first_s: STARTUP_S,
    keep_alive: s.keepAlive,
  });
}

stopping = true;
for (const c of children) c.kill('SIGTERM');
await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
await server.stop();
process.exit(0);
