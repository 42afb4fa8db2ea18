/**
 * The long fuzz run (issue 24): the same properties as the fuzz tests (`fuzz-*.test.ts` in
 * protocol, server and agent), with many more cases and a random seed, printed so a failure can be
 * replayed with FUZZ_SEED (see docs/testing.md). Not a speed figure: it prints how many cases ran,
 * in how long, and how many properties failed; it exits non-zero when one did.
 *
 *   npm run bench -- fuzz [--runs N] [--seed N] [--quick]
 *
 * --runs is the base number of cases per property (default 2000, 300 with --quick); cheap
 * properties scale it up (x10 for the text decoders), those over HTTP down, as in CI.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../testing/processes.ts';
import { emit, progress, quick } from './lib.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runs = Number(flag('runs') ?? (quick ? 300 : 2000));
const seed = Number(flag('seed') ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs ${flag('runs')}: expected a positive whole number`);
if (!Number.isSafeInteger(seed)) throw new Error(`--seed ${flag('seed')}: expected a whole number`);

const PROJECTS = ['protocol', 'server', 'agent'];
const report = join(tempDir('falconet-fuzz-bench-'), 'report.jsonl');

progress(`fuzz: seed ${seed}, ${runs} base runs per property (replay a failure with FUZZ_SEED=${seed} FUZZ_RUNS=${runs})`);
const started = performance.now();
const code = await new Promise<number>((resolve) => {
  const args = ['vitest', 'run', ...PROJECTS.flatMap((p) => ['--project', p]), '--testTimeout=0', 'fuzz-'];
  const child = spawn('npx', args, {
    cwd: ROOT,
    // The test runner's output goes to stderr: stdout carries only the figures.
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, FUZZ_SEED: String(seed), FUZZ_RUNS: String(runs), FUZZ_REPORT: report },
  });
  child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
});
const seconds = (performance.now() - started) / 1000;

const lines = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { property: string; runs: number; failed: boolean; ms: number })
  : [];
rmSync(report, { force: true });
const cases = lines.reduce((n, l) => n + l.runs, 0);
const failed = lines.filter((l) => l.failed);
for (const l of lines) progress(`  ${l.failed ? 'FAILED' : 'ok    '} ${l.property}: ${l.runs} cases in ${(l.ms / 1000).toFixed(1)} s`);

const common = { bench: 'fuzz', seed, base_runs: runs };
emit({ ...common, metric: 'properties', value: lines.length, unit: 'properties' });
emit({ ...common, metric: 'cases', value: cases, unit: 'cases' });
emit({ ...common, metric: 'failed_properties', value: failed.length, unit: 'properties', failed: failed.map((l) => l.property) });
emit({ ...common, metric: 'wall_s', value: Math.round(seconds * 10) / 10, unit: 's' });
if (code !== 0 || failed.length) {
  progress(`fuzz: FAILED (test runner exit ${code}); replay with FUZZ_SEED=${seed} FUZZ_RUNS=${runs} and the FUZZ_PATH printed above`);
  process.exit(1);
}
