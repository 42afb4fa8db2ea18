/**
 * A real Docker engine for the container tests: its own socket, data root and exec root under
 * a temp dir, no registry (the image is imported from the host's static busybox), stopped and
 * removed after. As in ../shared/RECIPES.md.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
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
  /**
   * Stops the daemon (its containers stop with it; with SIGKILL nothing is shut down in order) and
   * starts it again on the same socket and data, after `whileDown` when given.
   */
  restart(opts?: { signal?: NodeJS.Signals; whileDown?: () => Promise<void> }): Promise<void>;
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
  const halt = async (signal: NodeJS.Signals = 'SIGTERM') => {
    // The containerd this dockerd started outlives a SIGKILL; a dockerd started while it lingers
    // times out on it. A crash here takes the daemon's own containerd with it (the containers' shims stay).
    let containerd = 0;
    if (signal === 'SIGKILL') containerd = Number(readFileSync(join(dir, 'exec/containerd/containerd.pid'), 'utf8').trim());
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    if (containerd > 0) {
      try {
        process.kill(containerd, 'SIGKILL');
      } catch {
        // already gone
      }
      const alive = () => {
        try {
          // A zombie waiting for its new parent to reap it counts as gone.
          return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${containerd}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      while (alive()) await new Promise((r) => setTimeout(r, 50));
      // dockerd takes a pid file naming a zombie for a containerd still running.
      rmSync(join(dir, 'exec/containerd/containerd.pid'), { force: true });
    }
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
    async restart(opts = {}) {
      await halt(opts.signal);
      await opts.whileDown?.();
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
      await killLeftovers(dir);
      // dockerd leaves its default network namespace mounted under the exec root after it exits, and a
      // SIGKILLed one its data root's bind mount as well: everything under dir, deepest first.
      const mounts = readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${dir}/`))
        .sort()
        .reverse();
      for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/**
 * After a SIGKILLed dockerd (and its containerd) the containers' shims, or the containers' own
 * processes under init, outlive the daemon that forgot them: a test that restarted one would leave
 * `yes` loops burning CPU for the rest of the run. Kills every process in one of this engine's
 * containers' cgroups (their ids are the directories under the data root) and every shim naming it.
 */
async function killLeftovers(dir: string): Promise<void> {
  let ids: string[] = [];
  try {
    ids = readdirSync(join(dir, 'data', 'containers'));
  } catch {
    return;
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (ids.some((id) => cgroup.includes(id)) || (cmdline.includes('containerd-shim') && cmdline.includes(dir)))
        process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  // Their cgroups outlive them too, and every later agent on the host would report them as
  // containers: removed once empty (v1 controllers and v2 alike).
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers')
    ? ['/sys/fs/cgroup']
    : readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c));
  const left = roots.flatMap((r) => ids.flatMap((id) => [join(r, 'docker', id), join(r, 'system.slice', `docker-${id}.scope`)]));
  for (let attempt = 0; attempt < 20; attempt++) {
    let busy = false;
    for (const cg of left) {
      try {
        rmdirSync(cg);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EBUSY') busy = true;
      }
    }
    if (!busy) return;
    await new Promise((r) => setTimeout(r, 100));
  }
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
