/**
 * bench/agent-idle: what an idle agent costs. The built agent with default settings reports to a
 * real server for 10 minutes (3 with --quick) while node_exporter runs beside it and is scraped
 * every 10 s, as Prometheus would; both are measured over the same span from /proc.
 *
 * Figures: cpu_percent and rss_mb (the agent), ref_cpu_percent and ref_rss_mb (node_exporter).
 * CPU is the average share of one core after a 20 s warm-up; RSS the mean of samples every 5 s
 * (the largest is printed beside it). Goals: cpu_percent <= 0.3, rss_mb <= 60.
 * `--span SECONDS` overrides the length, for development.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { freePort, startServer } from '../testing/processes.ts';
import { cpuSeconds, emit, progress, quick, rssMb, spawnDefaultAgent } from './lib.ts';

const BENCH = 'agent-idle';
const spanArg = process.argv.indexOf('--span');
const spanS = spanArg > 0 ? Number(process.argv[spanArg + 1]) : quick ? 180 : 600;
const warmupS = 20;

function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
};
process.on('exit', cleanup);

const server = await startServer();
progress(`server up (gRPC 127.0.0.1:${server.grpcPort})`);

const agentPort = await freePort();
const agent = spawnDefaultAgent(`127.0.0.1:${server.grpcPort}`, agentPort);
children.push(agent);

const nePort = await freePort();
// Its own defaults, as the reference; its log (a systemd collector error without systemd here) is not ours to show.
const nodeExporter = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${nePort}`], { stdio: 'ignore' });
children.push(nodeExporter);

await Promise.all([waitForHttp(`http://127.0.0.1:${agentPort}/metrics`), waitForHttp(`http://127.0.0.1:${nePort}/metrics`)]);
const neVersion = execFileSync('prometheus-node-exporter', ['--version'], { encoding: 'utf8' }).match(/version (\S+)/)?.[1] ?? '?';
progress(`agent pid ${agent.pid} and node_exporter ${neVersion} pid ${nodeExporter.pid} up; warming up ${warmupS} s`);

// Prometheus' part: scrape node_exporter every 10 s for the whole run.
let scrapes = 0;
const scraper = setInterval(() => {
  fetch(`http://127.0.0.1:${nePort}/metrics`)
    .then((r) => r.text())
    .then(() => scrapes++)
    .catch(() => undefined);
}, 10_000);

await new Promise((r) => setTimeout(r, warmupS * 1000));
const agentPid = agent.pid as number;
const nePid = nodeExporter.pid as number;
const cpu0 = { agent: cpuSeconds(agentPid), ne: cpuSeconds(nePid), t: performance.now() };
const rss = { agent: [] as number[], ne: [] as number[] };
const sample = () => {
  rss.agent.push(rssMb(agentPid));
  rss.ne.push(rssMb(nePid));
};
sample();
const sampler = setInterval(sample, 5_000);
const started = Date.now();
const ticker = setInterval(() => {
  const s = Math.round((Date.now() - started) / 1000);
  progress(`${s}/${spanS} s: agent RSS ${rss.agent.at(-1)?.toFixed(1)} MB, node_exporter RSS ${rss.ne.at(-1)?.toFixed(1)} MB`);
}, 60_000);
await new Promise((r) => setTimeout(r, spanS * 1000));
clearInterval(sampler);
clearInterval(ticker);
clearInterval(scraper);
sample();
const elapsed = (performance.now() - cpu0.t) / 1000;
const cpu = { agent: cpuSeconds(agentPid) - cpu0.agent, ne: cpuSeconds(nePid) - cpu0.ne };

// The agent's own view: did it report, and at what pace?
const self = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text();
const acked = metric(self, 'falconet_agent_transport_acked_reports_total') ?? 0;
const interval = metric(self, 'falconet_agent_report_interval_seconds');
const load = ['busy', 'normal', 'idle'].find((l) => metric(self, `falconet_agent_report_host_load{load="${l}"}`) === 1);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const ref = `node_exporter ${neVersion}, scraped every 10 s`;
emit({
  bench: BENCH,
  metric: 'cpu_percent',
  value: round((100 * cpu.agent) / elapsed, 3),
  unit: 'percent of one core',
  goal: 0.3,
  span_s: round(elapsed, 0),
});
emit({ bench: BENCH, metric: 'rss_mb', value: round(mean(rss.agent)), unit: 'MB', max: round(Math.max(...rss.agent)), goal: 60 });
emit({ bench: BENCH, metric: 'ref_cpu_percent', value: round((100 * cpu.ne) / elapsed, 3), unit: 'percent of one core', ref, scrapes });
emit({ bench: BENCH, metric: 'ref_rss_mb', value: round(mean(rss.ne)), unit: 'MB', max: round(Math.max(...rss.ne)), ref });
emit({ bench: BENCH, metric: 'reports_acked', value: acked, unit: 'reports', interval_s: interval, host_load: load });

nodeExporter.kill('SIGTERM');
agent.kill('SIGTERM');
await new Promise((r) => agent.once('exit', r));
await server.stop();
process.exit(0);
