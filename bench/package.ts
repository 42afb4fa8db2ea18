/**
 * npm run package's single-file executables: each one's size (raw and gzip), the time from spawn
 * to the first /metrics answer (agent) and to the first API answer (server), beside Debian's
 * node_exporter started the same way in the same run and the agent run from the tree with Node,
 * and the resident memory of the single-file agent beside the npm-run agent's after the same
 * scrapes. Uses dist/release when it holds this version's build, else builds it (unsigned) first.
 * Starts are "warm cache" starts: every binary is read once before timing, as on a host after install.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { NODE_EXPORTER, nodeExporterVersion } from '../testing/node-exporter.ts';
import { freePort, ROOT, tempDir } from '../testing/processes.ts';
import { emit, ensureAgentBuilt, median, progress, quick, rssMb, sleep } from './lib.ts';

const BENCH = 'package';
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const release = join(ROOT, 'dist', 'release');
const file = (name: string, target: string) => join(release, `${name}-${version}-${target}`);
const TARGETS = ['linux-x64', 'linux-arm64'];
const NAMES = ['falconet-agent', 'falconet-server'];

if (!NAMES.every((n) => TARGETS.every((t) => existsSync(file(n, t))))) {
  progress('building the release (node scripts/package/main.ts) into dist/release');
  const t0 = Date.now();
  execFileSync(process.execPath, [join(ROOT, 'scripts/package/main.ts')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  emit({ bench: BENCH, metric: 'build_s', value: Math.round((Date.now() - t0) / 100) / 10, unit: 's' });
}

async function gzipBytes(path: string): Promise<number> {
  let n = 0;
  const gz = createReadStream(path).pipe(createGzip({ level: 6 }));
  for await (const chunk of gz) n += (chunk as Buffer).length;
  return n;
}

const mib = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
for (const name of NAMES) {
  for (const target of TARGETS) {
    const f = file(name, target);
    const key = `${name.replace('falconet-', '')}_${target.replace('-', '_')}`;
    emit({ bench: BENCH, metric: `${key}_size_mib`, value: mib(statSync(f).size), unit: 'MiB' });
    emit({ bench: BENCH, metric: `${key}_gzip_mib`, value: mib(await gzipBytes(f)), unit: 'MiB' });
  }
}

/** Spawns the command and polls url until it answers 200: milliseconds from spawn to that answer. */
async function timeToAnswer(
  command: string,
  args: string[],
  url: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ ms: number; proc: ChildProcess }> {
  const t0 = performance.now();
  const proc = spawn(command, args, { stdio: 'ignore', env, cwd: tempDir('falconet-bench-cwd-') });
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${command} ${args.join(' ')} exited with ${proc.exitCode} before answering ${url}`);
    try {
      const res = await fetch(url);
      if (res.ok) {
        await res.arrayBuffer();
        return { ms: performance.now() - t0, proc };
      }
    } catch {
      // not listening yet
    }
    await sleep(2);
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(t);
}

const bare = { PATH: '/usr/bin:/bin', HOME: tempDir('falconet-bench-home-') };
const agentArgs = async () => {
  const port = await freePort();
  return { port, args: ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', tempDir('falconet-bench-agent-')] };
};
const npmAgent = ensureAgentBuilt();

const starts: Record<string, () => Promise<{ ms: number; proc: ChildProcess }>> = {
  agent_cold_start_ms: async () => {
    const { port, args } = await agentArgs();
    return timeToAnswer(file('falconet-agent', 'linux-x64'), args, `http://127.0.0.1:${port}/metrics`, bare);
  },
  npm_agent_cold_start_ms: async () => {
    const { port, args } = await agentArgs();
    return timeToAnswer(process.execPath, [npmAgent, ...args], `http://127.0.0.1:${port}/metrics`);
  },
  ref_cold_start_ms: async () => {
    const port = await freePort();
    return timeToAnswer(NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${port}`], `http://127.0.0.1:${port}/metrics`);
  },
  server_cold_start_ms: async () => {
    const [http, grpc] = [await freePort(), await freePort()];
    const args = [
      'run',
      '--listen',
      `127.0.0.1:${http}`,
      '--grpc-listen',
      `127.0.0.1:${grpc}`,
      '--data-dir',
      tempDir('falconet-bench-server-'),
    ];
    return timeToAnswer(file('falconet-server', 'linux-x64'), args, `http://127.0.0.1:${http}/api/agents`, bare);
  },
};

// Every executable read once, so each timed start finds it in the page cache.
for (const name of NAMES) readFileSync(file(name, 'linux-x64'));
const rounds = quick ? 3 : 7;
const times: Record<string, number[]> = Object.fromEntries(Object.keys(starts).map((k) => [k, []]));
for (let i = 0; i < rounds; i++) {
  // Interleaved, so a busy moment on the machine falls on all of them alike.
  for (const [metric, start] of Object.entries(starts)) {
    const { ms, proc } = await start();
    (times[metric] as number[]).push(ms);
    await stop(proc);
  }
}
const ref = `node_exporter ${nodeExporterVersion()}`;
for (const [metric, values] of Object.entries(times)) {
  emit({
    bench: BENCH,
    metric,
    value: Math.round(median(values)),
    unit: 'ms',
    ...(metric === 'agent_cold_start_ms' ? { ref } : {}),
    rounds,
  });
}
emit({
  bench: BENCH,
  metric: 'agent_cold_start_ratio',
  value: Math.round((median(times.agent_cold_start_ms as number[]) / median(times.ref_cold_start_ms as number[])) * 100) / 100,
  unit: 'ratio',
  ref,
});

// Resident memory after the same scrapes, both agents running side by side: once during the
// start (the node binary's start-up pages still mapped, see the agent's runtime/startup-pages.ts)
// and once settled, past the agent's first release of those pages 10 s after its start.
const spawned = Date.now();
const single = await starts.agent_cold_start_ms?.();
const npm = await starts.npm_agent_cold_start_ms?.();
if (!single || !npm) throw new Error('agents did not start');
const scrapes = quick ? 5 : 20;
const portOf = (p: ChildProcess) => (p.spawnargs.find((a) => a.startsWith('127.0.0.1:')) as string).split(':')[1];
const scrape = async () => {
  for (const p of [single.proc, npm.proc]) await (await fetch(`http://127.0.0.1:${portOf(p)}/metrics`)).text();
};
const emitRss = (phase: string, scrapes: number) => {
  const afterS = Math.round((Date.now() - spawned) / 1000);
  const [singleRss, npmRss] = [rssMb(single.proc.pid as number), rssMb(npm.proc.pid as number)];
  const round = (mb: number) => Math.round(mb * 10) / 10;
  emit({ bench: BENCH, metric: `agent_rss_${phase}_mb`, value: round(singleRss), unit: 'MB', ref: 'npm-run agent', scrapes, afterS });
  emit({ bench: BENCH, metric: `npm_agent_rss_${phase}_mb`, value: round(npmRss), unit: 'MB', scrapes, afterS });
};
for (let i = 0; i < 5; i++) {
  await scrape();
  await sleep(1000);
}
emitRss('start', 5);
let done = 5;
for (; done < scrapes || Date.now() - spawned < 20_000; done++) {
  await scrape();
  await sleep(1000);
}
emitRss('settled', done);
await Promise.all([stop(single.proc), stop(npm.proc)]);
progress('done');
