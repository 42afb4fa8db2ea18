/** Shared by the benchmarks: figures as JSON lines, what a process costs, read from /proc, and the built agent. */
import { type ChildProcess, execFileSync, type StdioOptions, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../testing/processes.ts';

export interface Figure {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  ref?: string;
  [extra: string]: unknown;
}

/** Prints one figure as one JSON line on stdout; progress goes to stderr. */
export function emit(f: Figure): void {
  process.stdout.write(`${JSON.stringify(f)}\n`);
}

export function progress(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export const quick = process.argv.includes('--quick');

/** `--NAME N` on the command line, else `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Whether `--only A,B` (absent: every part) names `part`. */
export function wants(part: string): boolean {
  const i = process.argv.indexOf('--only');
  return i < 0 || (process.argv[i + 1] ?? '').split(',').includes(part);
}

const CLK_TCK = 100;

/** User + system CPU seconds a process has used (fields 14 and 15 of /proc/PID/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident memory in MB (VmRSS of /proc/PID/status). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Anonymous resident memory in MB (smaps_rollup), the part of RSS that is the process's own. */
export function anonMb(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Series and families of an exposition text. */
export function seriesAndFamilies(text: string): { series: number; families: number } {
  let series = 0;
  let families = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) families++;
    else if (line && !line.startsWith('#')) series++;
  }
  return { series, families };
}

/** The agent runs as it is deployed: the built JavaScript, not the TypeScript sources. Returns its bin script. */
export function ensureAgentBuilt(): string {
  const cli = join(ROOT, 'packages/agent/dist/cli.js');
  const newest = (dir: string): number => {
    let t = 0;
    for (const f of execFileSync('find', [dir, '-name', '*.ts'], { encoding: 'utf8' }).split('\n').filter(Boolean))
      t = Math.max(t, statSync(f).mtimeMs);
    return t;
  };
  const sources = Math.max(newest(join(ROOT, 'packages/agent/src')), newest(join(ROOT, 'packages/protocol/src')));
  if (!existsSync(cli) || statSync(cli).mtimeMs < sources) {
    progress('building the agent (npm run build -w @falconet/protocol -w @falconet/agent, from clean dist directories)');
    for (const pkg of ['agent', 'protocol']) rmSync(join(ROOT, 'packages', pkg, 'dist'), { recursive: true, force: true });
    execFileSync('npm', ['run', 'build', '-w', '@falconet/protocol', '-w', '@falconet/agent'], { cwd: ROOT, stdio: 'ignore' });
  }
  return join(ROOT, 'packages/agent/bin/falconet-agent.js');
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The built agent with default settings, reporting to `server` (gRPC HOST:PORT): only the server,
 * a data directory and an exporter port of its own (9101 may be taken), and none of the
 * bench's FALCONET_* variables; `extraArgs` (a `--config` file) go after those, and `extraEnv`
 * over its environment.
 */
export function spawnDefaultAgent(
  server: string,
  listenPort: number,
  stdio: StdioOptions = ['ignore', 'ignore', 'inherit'],
  extraArgs: string[] = [],
  extraEnv: NodeJS.ProcessEnv = {},
): ChildProcess {
  return spawn(
    process.execPath,
    [
      ensureAgentBuilt(),
      'run',
      '--server',
      server,
      '--data-dir',
      tempDir('falconet-bench-agent-'),
      '--listen',
      `127.0.0.1:${listenPort}`,
      ...extraArgs,
    ],
    { stdio, env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FALCONET_'))), ...extraEnv } },
  );
}
