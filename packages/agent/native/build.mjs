#!/usr/bin/env node
// Builds the native helpers (adjtimex(2), statfs(2) on detached threads) at `npm install`, on Linux only. A host
// without a compiler still installs: the timex collector then reports itself failed with a
// message saying how to build it, and every other collector works.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
if (process.platform !== 'linux') process.exit(0);
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  process.stderr.write(
    `falconet-agent: could not build the native helpers (adjtimex, statfs on its own thread) (${r.error?.message ?? `exit ${r.status}`}); the timex collector will be unavailable and statfs falls back to the thread pool.\n${(r.stderr ?? '').split('\n').slice(-6).join('\n')}\n`,
  );
}
