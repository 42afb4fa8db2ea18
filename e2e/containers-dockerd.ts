/**
 * A real Docker engine for the container tests: its own socket, data root and exec root under
 * a temp dir, no registry (the image is imported from the host's static busybox), stopped and
 * removed after. As in ../shared/RECIPES.md.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TEST_IMAGE = 'falconet-test/busybox:1';
const APPLETS = ['sh', 'sleep', 'yes', 'dd', 'cat', 'ip', 'ping', 'touch', 'true'];

export interface Dockerd {
  dir: string;
  socket: string;
  /** Runs the docker CLI against this engine; resolves with stdout. */
  docker(...args: string[]): Promise<string>;
  /** Stops the daemon (its containers stop with it) and starts it again on the same socket and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function busyboxPath(): string {
  for (const p of ['/usr/bin/busybox', '/bin/busybox']) if (existsSync(p)) return p;
  throw new Error('busybox not found: install busybox-static (see .ci/packages.sh)');
}

/**
 * `storageDriver`: vfs (the default) works everywhere; overlay2 makes image builds minutes faster
 * where the data root's file system allows it (the image tests ask for it and fall back to vfs).
 */
export async function startDockerd(options: { storageDriver?: 'vfs' | 'overlay2' } = {}): Promise<Dockerd> {
  // Short: a unix socket path must stay under 108 bytes.
  const dir = mkdtempSync('/tmp/falconet-dockerd-');
  const socket = join(dir, 'docker.sock');
  const logFd = openSync(join(dir, 'dockerd.log'), 'a');
  const docker = async (...args: string[]) => (await run('docker', ['-H', `unix://${socket}`, ...args], { maxBuffer: 16 << 20 })).stdout;
  let child: ChildProcess;
  let exited: Promise<void>;

  const launch = async () => {
    child = spawn(
      'dockerd',
      [
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        `--storage-driver=${options.storageDriver ?? 'vfs'}`,
        `--host=unix://${socket}`,
        `--data-root=${join(dir, 'data')}`,
        `--exec-root=${join(dir, 'exec')}`,
        `--pidfile=${join(dir, 'dockerd.pid')}`,
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
    const c = child;
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`dockerd exited with ${c.exitCode}; see ${join(dir, 'dockerd.log')}`);
      try {
        await docker('version', '--format', '{{.Server.Version}}');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const halt = async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  await launch();

  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'data']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync(busyboxPath(), join(rootfs, 'bin/busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
  await run('sh', ['-c', `tar -C "${rootfs}" -c . | docker -H "unix://${socket}" import - ${TEST_IMAGE}`]);

  return {
    dir,
    socket,
    docker,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      try {
        const ids = (await docker('ps', '-aq')).split('\n').filter(Boolean);
        if (ids.length) await docker('rm', '-f', ...ids);
      } catch {
        // dockerd already gone; kill below.
      }
      await halt();
      // dockerd leaves its default network namespace mounted under the exec root after it exits.
      await run('umount', ['-l', join(dir, 'exec/netns/default')]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** `12.5MiB` -> bytes, as the docker CLI prints sizes (binary units). */
export function parseDockerSize(s: string): number {
  const m = /^([\d.]+)\s*([KMGT]i)?B$/.exec(s.trim());
  if (!m) throw new Error(`not a docker size: "${s}"`);
  const mult = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * mult;
}

export interface DockerStatsRow {
  name: string;
  cpuPercent: number;
  memUsageBytes: number;
  memLimitBytes: number;
  memPercent: number;
}

/** `docker stats --no-stream`, the reference figures, and when the CLI returned them. */
export async function dockerStats(d: Dockerd): Promise<{ rows: Map<string, DockerStatsRow>; atMs: number }> {
  const out = await d.docker('stats', '--no-stream', '--format', '{{json .}}');
  const atMs = Date.now();
  const rows = new Map<string, DockerStatsRow>();
  for (const line of out.split('\n').filter(Boolean)) {
    const j = JSON.parse(line) as { Name: string; CPUPerc: string; MemUsage: string; MemPerc: string };
    const [usage, limit] = j.MemUsage.split(' / ') as [string, string];
    rows.set(j.Name, {
      name: j.Name,
      cpuPercent: Number.parseFloat(j.CPUPerc),
      memUsageBytes: parseDockerSize(usage),
      memLimitBytes: parseDockerSize(limit),
      memPercent: Number.parseFloat(j.MemPerc),
    });
  }
  return { rows, atMs };
}
