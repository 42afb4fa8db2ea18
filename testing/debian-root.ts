/**
 * Test support: a Debian bookworm root filesystem made by debootstrap from the machine's own
 * mirror, for the package, image and install-script tests (dpkg in a chroot, a base image imported
 * into dockerd as debian:bookworm-slim). Built once and cached under
 * $HOME/.cache/falconet-rootfs/<key>, keyed by suite, variant and extra packages; each test works on
 * a copy of its own (`copyDebianRoot`).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './processes.ts';

const run = promisify(execFile);

export interface DebianRootOptions {
  /** Packages debootstrap adds to the minbase variant (--include). */
  include?: readonly string[];
}

/** The machine's Debian mirror, as apt is configured (debootstrap needs no other network). */
function mirror(): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const uri = /^URIs:\s*(\S+)/m.exec(text)?.[1] ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text)?.[1];
    if (uri) return uri;
  }
  return 'http://deb.debian.org/debian';
}

/**
 * The cached root's path, made first if missing (about 25 s and 210 MB for minbase). A lock
 * directory keeps test files that ask at once from building it twice.
 */
export async function debianRoot(options: DebianRootOptions = {}): Promise<string> {
  const include = [...(options.include ?? [])].sort();
  const key = createHash('sha256')
    .update(`bookworm|minbase|${include.join(',')}`)
    .digest('hex')
    .slice(0, 12);
  const base = join(process.env.FALCONET_ROOTFS_CACHE ?? join(homedir(), '.cache', 'falconet-rootfs'));
  mkdirSync(base, { recursive: true });
  const dir = join(base, `bookworm-${key}`);
  const lock = `${dir}.lock`;
  for (;;) {
    if (existsSync(join(dir, '.falconet-complete'))) return dir;
    try {
      mkdirSync(lock);
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 15 * 60_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    try {
      const staging = `${dir}.partial`;
      rmSync(staging, { recursive: true, force: true });
      const args = ['--variant=minbase', ...(include.length ? [`--include=${include.join(',')}`] : []), 'bookworm', staging, mirror()];
      await run('debootstrap', args, { maxBuffer: 64 * 1024 * 1024 }).catch((err: Error & { stderr?: string }) => {
        throw new Error(`debootstrap ${args.join(' ')} failed: ${err.stderr?.slice(-2000) ?? err.message}`);
      });
      // Nothing in the root may reach a network or start services while packages install in it.
      writeFileSync(join(staging, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
      rmSync(dir, { recursive: true, force: true });
      renameSync(staging, dir);
      writeFileSync(join(dir, '.falconet-complete'), `${new Date().toISOString()} ${args.join(' ')}\n`);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** A private copy of the cached root in a temporary directory, for a test to change as it likes. */
export async function copyDebianRoot(options: DebianRootOptions = {}): Promise<string> {
  const source = await debianRoot(options);
  const target = join(tempDir('falconet-root-'), 'root');
  await run('cp', ['-a', source, target]);
  rmSync(join(target, '.falconet-complete'), { force: true });
  return target;
}

/**
 * Runs a command inside a root with chroot, with /proc, /sys and /dev mounted for its length
 * (dpkg's maintainer scripts and useradd need them) and unmounted after.
 */
export async function inRoot(root: string, command: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  const mounts: string[] = [];
  try {
    for (const [what, type] of [
      ['proc', 'proc'],
      ['sys', 'sysfs'],
    ] as const) {
      const at = join(root, what);
      mkdirSync(at, { recursive: true });
      await run('mount', ['-t', type, what, at]);
      mounts.push(at);
    }
    const dev = join(root, 'dev');
    await run('mount', ['--bind', '/dev', dev]);
    mounts.push(dev);
    const fullEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive', ...env };
    return await run('chroot', [root, ...command], { env: fullEnv, maxBuffer: 64 * 1024 * 1024 });
  } finally {
    for (const at of mounts.reverse()) await run('umount', ['-l', at]).catch(() => undefined);
  }
}
