// Builds the agent's native helpers (packages/agent/native) for a target with node-gyp, on a copy of
// the sources so the tree's own build stays as `npm install` left it. arm64 uses Debian's cross compiler.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Target } from './node-binaries.ts';

const source = join(import.meta.dirname, '..', '..', 'packages', 'agent', 'native');

function nodeGyp(): string {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) throw new Error('node-gyp not found: run this through `npm run package`, which names it');
  return found;
}

const CROSS: Partial<Record<Target, { arch: string; prefix: string; package: string }>> = {
  'linux-arm64': { arch: 'arm64', prefix: 'aarch64-linux-gnu-', package: 'gcc-aarch64-linux-gnu' },
};

/** Returns the path of falconet_native.node built for the target against that Node's headers. */
export function buildNative(target: Target, nodeDir: string, workDir: string): string {
  const dir = join(workDir, `native-${target}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of ['binding.gyp', 'falconet.c']) copyFileSync(join(source, f), join(dir, f));
  const cross = CROSS[target];
  const env = { ...process.env, npm_config_nodedir: nodeDir };
  const args = [nodeGyp(), 'rebuild', `--nodedir=${nodeDir}`];
  if (cross) {
    try {
      execFileSync('which', [`${cross.prefix}gcc`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${cross.prefix}gcc is missing: apt-get install ${cross.package} to build the ${target} native helpers`);
    }
    Object.assign(env, { CC: `${cross.prefix}gcc`, CXX: `${cross.prefix}g++`, LINK: `${cross.prefix}gcc`, AR: `${cross.prefix}ar` });
    args.push(`--arch=${cross.arch}`);
  }
  try {
    execFileSync(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(
      `building the native helpers for ${target} failed:\n${String(e.stderr ?? e.stdout ?? err)
        .split('\n')
        .slice(-15)
        .join('\n')}`,
    );
  }
  const out = join(dir, 'build', 'Release', 'falconet_native.node');
  if (!existsSync(out)) throw new Error(`node-gyp left no ${out}`);
  return out;
}
