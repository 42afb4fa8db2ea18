// The Node.js binaries a single-file build starts from: the npm registry's node-linux-<arch> packages,
// fetched with `npm pack` once per version and kept under $HOME/.cache/falconet-package/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type Target = (typeof TARGETS)[number];

/** The Node 24 LTS release the executables are built on; FALCONET_PACKAGE_NODE picks another. */
export const NODE_VERSION = process.env.FALCONET_PACKAGE_NODE ?? '24.22.3';

export const cacheDir = () => join(homedir(), '.cache', 'falconet-package');

/** The unpacked package (bin/node, include/node) for a target, fetched when missing. */
export function nodeDist(target: Target, log: (line: string) => void): string {
  const dir = join(cacheDir(), `node-${NODE_VERSION}-${target}`);
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  const name = `node-${target}`;
  const work = `${dir}.partial`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  log(`fetching ${name}@${NODE_VERSION} with npm pack`);
  execFileSync('npm', ['pack', `${name}@${NODE_VERSION}`, '--silent'], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${name}@${NODE_VERSION} left no tarball in ${work}`);
  execFileSync('tar', ['-xzf', tgz, '--strip-components=1'], { cwd: work });
  rmSync(join(work, tgz));
  if (!existsSync(join(work, 'bin', 'node'))) throw new Error(`${name}@${NODE_VERSION} has no bin/node`);
  renameSync(work, dir);
  return dir;
}
