/**
 * The agent's /metrics next to Debian's node_exporter 1.5 on equal work (testing/node-exporter.ts):
 * the same collectors, upstream's default filters on both sides, neither side's own process
 * metrics, the same empty textfile directory. Both run from the start; the run waits until the
 * agent has given back the pages of its start both times it does and has served a warm-up of
 * scrapes (its compilers then run the code a deployed agent runs after hours; node_exporter has
 * none to warm), then scrapes the two in alternating blocks, with and without gzip, the modes in
 * two rounds. With gzip the agent is set to level 6, the level of Go's gzip.DefaultCompression
 * that node_exporter uses; a second agent, at its own default level 1, is measured the same way
 * beside node_exporter and printed apart, without a ratio.
 *
 * CPU is each process's whole CPU time (every thread: GC, compilers, Go's runtime) from the start
 * of a mode's blocks to their end, the other side's blocks included, divided by the scrapes it
 * served: nothing a side does in the background escapes its charge. Latency is the median of the
 * scrapes as the client saw them. Series and family counts of both sides are printed, and the
 * ratios are withheld when the two differ by more than 5 %.
 *
 *   npm run bench -- exporter [--quick] [--scrapes N]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalWork, NODE_EXPORTER, nodeExporterVersion } from '../testing/node-exporter.ts';
import { freePort } from '../testing/processes.ts';
import { anonMb, cpuSeconds, emit, ensureAgentBuilt, median, percentile, progress, quick, rssMb, seriesAndFamilies } from './lib.ts';

const BENCH = 'exporter';
const scrapesArg = process.argv.indexOf('--scrapes');
const SCRAPES = scrapesArg > 0 ? Number(process.argv[scrapesArg + 1]) : quick ? 300 : 2000;
const BLOCK = 50;
/** Scrapes of each side before measuring: the agent's compilers reach the code a deployed agent runs after hours. */
const WARMUP = quick ? 300 : 1000;
/** The agent's page releases: RELEASE_MS after the start, and again eleven times that later. */
const RELEASE_MS = 3000;

interface Scrape {
  ms: number;
  body: Buffer;
}

function scrapeOnce(agent: Agent, port: number, gzip: boolean): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const headers = gzip ? { 'accept-encoding': 'gzip' } : {};
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - started;
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        else if (gzip !== (res.headers['content-encoding'] === 'gzip'))
          reject(new Error(`port ${port} answered without the asked encoding`));
        else resolve({ ms, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitListening(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      await scrapeOnce(new Agent(), port, false);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not answer on port ${port}`);
}

const work = await equalWork();
const neVersion = nodeExporterVersion();
const ref = `node_exporter ${neVersion}`;
const bin = ensureAgentBuilt();
const round = (v: number, d = 3) => Number(v.toFixed(d));

interface Side {
  name: string;
  port: number;
  proc: ChildProcess;
  pid: number;
  http: Agent;
  /** Times the agent logged that it gave back its start's pages. */
  releases: number;
}

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FALCONET_')));

async function startAgentSide(name: string, extra: string[]): Promise<Side> {
  const port = await freePort();
  const args = [
    'run',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    mkdtempSync(join(tmpdir(), 'bench-exporter-')),
    ...work.agentArgs,
    ...extra,
  ];
  const proc = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // The release is logged at debug.
    env: { ...cleanEnv, FALCONET_RELEASE_STARTUP_PAGES: String(RELEASE_MS), FALCONET_LOG_LEVEL: 'debug' },
  });
  const side: Side = { name, port, proc, pid: proc.pid as number, http: new Agent({ keepAlive: true, maxSockets: 1 }), releases: 0 };
  let tail = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    tail += chunk.toString();
    for (let at = tail.indexOf('released the startup pages'); at >= 0; at = tail.indexOf('released the startup pages')) {
      tail = tail.slice(at + 1);
      side.releases++;
    }
    tail = tail.slice(-200);
  });
  progress(`${name}: pid ${side.pid}, falconet-agent ${args.slice(5).join(' ')}`);
  return side;
}

async function startRefSide(): Promise<Side> {
  const port = await freePort();
  const proc = spawn(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`, ...work.refArgs], { stdio: 'ignore' });
  progress(`node_exporter: pid ${proc.pid}, ${NODE_EXPORTER} ${work.refArgs.join(' ')}`);
  return { name: 'ref', port, proc, pid: proc.pid as number, http: new Agent({ keepAlive: true, maxSockets: 1 }), releases: 0 };
}

// The agent at node_exporter's gzip level for the ratios; a second one at its own default level.
const agent = await startAgentSide('agent', ['--web.gzip-level', '6']);
const agentDefault = await startAgentSide('agent_default_gzip', []);
const refSide = await startRefSide();
const all = [agent, agentDefault, refSide];
process.on('exit', () => {
  for (const s of all) s.proc.kill('SIGTERM');
});

interface Run {
  ms: number[];
  cpuS: number;
  bytes: number;
}

/** Alternating blocks of BLOCK scrapes of each side; each side's CPU over the whole span. */
async function measure(sides: Side[], gzip: boolean, scrapes: number, runs = new Map<Side, Run>()): Promise<Map<Side, Run>> {
  for (const s of sides) if (!runs.has(s)) runs.set(s, { ms: [], cpuS: 0, bytes: 0 });
  const cpu0 = new Map(sides.map((s) => [s, cpuSeconds(s.pid)]));
  for (let done = 0; done < scrapes; done += BLOCK) {
    for (const side of sides) {
      const run = runs.get(side) as Run;
      for (let i = 0; i < BLOCK; i++) {
        const s = await scrapeOnce(side.http, side.port, gzip);
        run.ms.push(s.ms);
        run.bytes = s.body.length;
      }
    }
  }
  for (const side of sides) (runs.get(side) as Run).cpuS += cpuSeconds(side.pid) - (cpu0.get(side) as number);
  progress(`${gzip ? 'gzip' : 'identity'}: ${scrapes} more scrapes of each`);
  return runs;
}

try {
  await Promise.all(all.map((s) => waitListening(s.port, s.proc, s.name)));

  // What each side serves, read without gzip.
  const agentCount = seriesAndFamilies((await scrapeOnce(agent.http, agent.port, false)).body.toString());
  const refCount = seriesAndFamilies((await scrapeOnce(refSide.http, refSide.port, false)).body.toString());
  emit({ bench: BENCH, metric: 'agent_series', value: agentCount.series, unit: 'series', families: agentCount.families });
  emit({ bench: BENCH, metric: 'ref_series', value: refCount.series, unit: 'series', families: refCount.families, ref });
  emit({
    bench: BENCH,
    metric: 'collectors',
    value: work.collectors.length,
    unit: 'count',
    names: work.collectors,
    agent_only_off: work.agentOnly,
  });
  const apart = (a: number, b: number) => Math.abs(a - b) / Math.max(a, b);
  const equal = apart(agentCount.series, refCount.series) <= 0.05 && apart(agentCount.families, refCount.families) <= 0.05;
  if (!equal) progress('the two sides serve more than 5 % apart in series or families: not equal work, no ratios printed');

  progress('waiting until the agents have given back the pages of their start twice');
  const deadline = Date.now() + RELEASE_MS * 12 + 30_000;
  while (agent.releases < 2 || agentDefault.releases < 2) {
    if (Date.now() > deadline) throw new Error('an agent did not log its two releases of the startup pages');
    await new Promise((r) => setTimeout(r, 200));
  }
  progress(`warming up: ${WARMUP} scrapes of each side`);
  for (let i = 0; i < WARMUP; i++) for (const s of all) await scrapeOnce(s.http, s.port, i % 2 === 0);

  progress(`${SCRAPES} scrapes of each side per mode, in alternating blocks of ${BLOCK}`);
  const rssBefore = rssMb(agent.pid);
  // Two sides at a time, so each has the same pauses between its blocks in every mode, and the
  // modes in two rounds, so neither is measured only first or only last.
  const gzipRuns = new Map<Side, Run>();
  const identityRuns = new Map<Side, Run>();
  const defaultRuns = new Map<Side, Run>();
  for (let round = 0; round < 2; round++) {
    await measure([agent, refSide], true, SCRAPES / 2, gzipRuns);
    await measure([agent, refSide], false, SCRAPES / 2, identityRuns);
    await measure([agentDefault, refSide], true, SCRAPES / 2, defaultRuns);
  }
  const rssAfter = rssMb(agent.pid);

  const modes = [
    { suffix: '', mode: 'gzip level 6 on both sides', runs: gzipRuns },
    { suffix: '_identity', mode: 'no compression', runs: identityRuns },
  ];
  for (const { suffix, mode, runs } of modes) {
    const a = runs.get(agent) as Run;
    const r = runs.get(refSide) as Run;
    const cpuMs = (run: Run) => (run.cpuS / run.ms.length) * 1000;
    if (equal) {
      emit({ bench: BENCH, metric: `scrape_latency_ratio${suffix}`, value: round(median(a.ms) / median(r.ms)), unit: 'ratio', ref, mode });
      emit({ bench: BENCH, metric: `cpu_per_scrape_ratio${suffix}`, value: round(cpuMs(a) / cpuMs(r)), unit: 'ratio', ref, mode });
    }
    emit({
      bench: BENCH,
      metric: `agent_median_ms${suffix}`,
      value: round(median(a.ms)),
      unit: 'ms',
      p90: round(percentile(a.ms, 90)),
      mode,
    });
    emit({
      bench: BENCH,
      metric: `ref_median_ms${suffix}`,
      value: round(median(r.ms)),
      unit: 'ms',
      p90: round(percentile(r.ms, 90)),
      ref,
      mode,
    });
    emit({ bench: BENCH, metric: `agent_cpu_ms_per_scrape${suffix}`, value: round(cpuMs(a)), unit: 'ms', mode });
    emit({ bench: BENCH, metric: `ref_cpu_ms_per_scrape${suffix}`, value: round(cpuMs(r)), unit: 'ms', ref, mode });
    emit({ bench: BENCH, metric: `agent_body_bytes${suffix}`, value: a.bytes, unit: 'bytes', mode });
    emit({ bench: BENCH, metric: `ref_body_bytes${suffix}`, value: r.bytes, unit: 'bytes', ref, mode });
  }
  // The agent as it ships, gzip level 1: no ratio, node_exporter cannot be set to that level.
  const d = defaultRuns.get(agentDefault) as Run;
  const level1 = 'gzip level 1, the agent default';
  emit({ bench: BENCH, metric: 'agent_default_gzip_median_ms', value: round(median(d.ms)), unit: 'ms', mode: level1 });
  emit({
    bench: BENCH,
    metric: 'agent_default_gzip_cpu_ms_per_scrape',
    value: round((d.cpuS / d.ms.length) * 1000),
    unit: 'ms',
    mode: level1,
  });
  emit({ bench: BENCH, metric: 'agent_default_gzip_body_bytes', value: d.bytes, unit: 'bytes', mode: level1 });

  // Memory of both, after every page release of the agent's and the same scrapes served.
  emit({ bench: BENCH, metric: 'rss_mb', value: round(rssAfter, 1), unit: 'MB' });
  // VmRSS counts the pages of the node binary the process has touched (shared with every other
  // Node process); the anonymous part is the memory the agent itself holds.
  emit({ bench: BENCH, metric: 'rss_anon_mb', value: round(anonMb(agent.pid), 1), unit: 'MB' });
  emit({ bench: BENCH, metric: 'rss_growth_mb', value: round(rssAfter - rssBefore, 1), unit: 'MB', over_scrapes: SCRAPES * 2 });
  emit({ bench: BENCH, metric: 'ref_rss_mb', value: round(rssMb(refSide.pid), 1), unit: 'MB', ref });
  emit({ bench: BENCH, metric: 'ref_rss_anon_mb', value: round(anonMb(refSide.pid), 1), unit: 'MB', ref });
  emit({ bench: BENCH, metric: 'scrapes', value: SCRAPES, unit: 'count', per: 'side and mode', block: BLOCK });
} finally {
  for (const s of all) s.proc.kill('SIGTERM');
}
