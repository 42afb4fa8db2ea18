#!/usr/bin/env node
// `npm run bench -- NAME [--quick] [args...]`: runs bench/NAME.ts (or bench/NAME/index.ts) on Node 24,
// which prints one JSON line per figure. Without NAME, lists the benchmarks.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');
const [name, ...rest] = process.argv.slice(2);
const available = readdirSync(benchDir)
  .filter((f) => (f.endsWith('.ts') && !f.startsWith('lib')) || existsSync(join(benchDir, f, 'index.ts')))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();
if (!name || name.startsWith('-')) {
  process.stdout.write(`usage: npm run bench -- NAME [--quick]\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(name ? 2 : 0);
}
const file = [join(benchDir, `${name}.ts`), join(benchDir, name, 'index.ts')].find((f) => existsSync(f));
if (!file) {
  process.stderr.write(`bench: no benchmark "${name}" (benchmarks: ${available.join(', ')})\n`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--conditions=source', '--disable-warning=ExperimentalWarning', file, ...rest], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
