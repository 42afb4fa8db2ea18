/**
 * The agent's /metrics next to Debian's node_exporter 1.5 on the same host: N sequential scrapes
 * of each, interleaved so both see the same machine, gzip requested as Prometheus does.
 * Figures: median scrape latency and CPU seconds per scrape as ratios agent / node_exporter,
 * the agent's RSS after the run and its growth from the first half of the run to the second.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtAgent, cpuSeconds, emit, median, percentile, progress, quick, rssMb } from './lib.ts';

const SCRAPES = quick ? 300 : 2000;
const WARMUP = 50;

/** Anonymous resident memory (smaps_rollup), the part of RSS that is the process's own. */
function anonMb(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      await scrapeOnce(new Agent(), port);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not answer on port ${port}`);
}

function scrapeOnce(agent: Agent, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const agentPort = await freePort();
const refPort = await freePort();
const bin = builtAgent();
// The agent gives back the pages of its start a few seconds after it (10 s by default, 3 s here so
// the bench need not wait long); the run measures the agent after that, as it runs deployed.
const agentProc = spawn(
  process.execPath,
  [bin, 'run', '--listen', `127.0.0.1:${agentPort}`, '--data-dir', mkdtempSync(join(tmpdir(), 'bench-exporter-'))],
  { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, FALCONET_RELEASE_STARTUP_PAGES: '3000' } },
);
const started = new Promise<boolean>((resolve) => {
  let tail = '';
  const watch = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4096);
    if (!tail.includes('released the startup pages')) return;
    // Seen: the log is drained unread from here on.
    agentProc.stdout?.off('data', watch).resume();
    resolve(true);
  };
  agentProc.stdout?.on('data', watch);
  setTimeout(() => resolve(false), 15_000).unref();
});
const refProc = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${refPort}`], { stdio: 'ignore' });
const stop = () => {
  agentProc.kill('SIGTERM');
  refProc.kill('SIGTERM');
};
process.on('exit', stop);

try {
  await Promise.all([waitListening(agentPort, agentProc, 'the agent'), waitListening(refPort, refProc, 'node_exporter')]);
  if (!(await started)) progress('the agent did not report releasing its startup pages; measuring anyway');
  const agentHttp = new Agent({ keepAlive: true, maxSockets: 1 });
  const refHttp = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < WARMUP; i++) {
    await scrapeOnce(agentHttp, agentPort);
    await scrapeOnce(refHttp, refPort);
  }
  progress(`${SCRAPES} scrapes each, interleaved (agent pid ${agentProc.pid}, node_exporter pid ${refProc.pid})`);
  const agentMs: number[] = [];
  const refMs: number[] = [];
  let agentCpu = 0;
  let refCpu = 0;
  let rssHalf = 0;
  const half = SCRAPES / 2;
  for (let i = 0; i < SCRAPES; i++) {
    // CPU is read around each exporter's own scrape, so neither is charged for the other's.
    const a0 = cpuSeconds(agentProc.pid as number);
    agentMs.push(await scrapeOnce(agentHttp, agentPort));
    agentCpu += cpuSeconds(agentProc.pid as number) - a0;
    const r0 = cpuSeconds(refProc.pid as number);
    refMs.push(await scrapeOnce(refHttp, refPort));
    refCpu += cpuSeconds(refProc.pid as number) - r0;
    if (i + 1 === half) rssHalf = rssMb(agentProc.pid as number);
    if ((i + 1) % 500 === 0) progress(`${i + 1}/${SCRAPES}`);
  }
  const rssEnd = rssMb(agentProc.pid as number);
  const anonEnd = anonMb(agentProc.pid as number);
  const refRss = rssMb(refProc.pid as number);
  const ref = 'node_exporter 1.5';
  const round = (v: number, d = 3) => Number(v.toFixed(d));
  emit({ bench: 'exporter', metric: 'scrape_latency_ratio', value: round(median(agentMs) / median(refMs)), unit: 'ratio', ref });
  emit({ bench: 'exporter', metric: 'cpu_per_scrape_ratio', value: round(agentCpu / refCpu), unit: 'ratio', ref });
  emit({ bench: 'exporter', metric: 'rss_mb', value: round(rssEnd, 1), unit: 'MB' });
  // VmRSS counts the pages of the node binary the process has touched (shared with every other
  // Node process); the anonymous part is the memory the agent itself holds.
  emit({ bench: 'exporter', metric: 'rss_anon_mb', value: round(anonEnd, 1), unit: 'MB' });
  emit({
    bench: 'exporter',
    metric: 'rss_growth_mb',
    value: round(rssEnd - rssHalf, 1),
    unit: 'MB',
    from_scrape: half,
    to_scrape: SCRAPES,
  });
  emit({ bench: 'exporter', metric: 'agent_median_ms', value: round(median(agentMs)), unit: 'ms', p90: round(percentile(agentMs, 90)) });
  emit({ bench: 'exporter', metric: 'ref_median_ms', value: round(median(refMs)), unit: 'ms', p90: round(percentile(refMs, 90)), ref });
  emit({ bench: 'exporter', metric: 'agent_cpu_ms_per_scrape', value: round((agentCpu / SCRAPES) * 1000), unit: 'ms' });
  emit({ bench: 'exporter', metric: 'ref_cpu_ms_per_scrape', value: round((refCpu / SCRAPES) * 1000), unit: 'ms', ref });
  emit({ bench: 'exporter', metric: 'ref_rss_mb', value: round(refRss, 1), unit: 'MB', ref });
  emit({ bench: 'exporter', metric: 'scrapes', value: SCRAPES, unit: 'count' });
} finally {
  stop();
}
