import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProcRoots, readKernelFileOptional, readOptional, sysPath } from './fs.ts';

/**
 * What one cgroup holds, the same shape for cgroup v1 and v2, in the units Prometheus wants
 * (seconds, bytes). A field is undefined when the kernel or controller does not provide it.
 */
export interface CgroupStats {
  cpu?: CgroupCpu;
  memory?: CgroupMemory;
  /** Per block device, read/write bytes and operations. */
  io: CgroupIoDevice[];
  pids?: { current: number; limit: number | undefined };
  /** True when the cgroup is frozen (`docker pause`). */
  frozen?: boolean;
  /** The processes in the cgroup itself, in the kernel's order. */
  procs: number[];
}

export interface CgroupCpu {
  usageSeconds: number;
  userSeconds?: number;
  systemSeconds?: number;
  periods?: number;
  throttledPeriods?: number;
  throttledSeconds?: number;
  /** CFS quota and period in microseconds; quota undefined means no limit. */
  quotaUs?: number;
  periodUs?: number;
  /** cgroup v1 cpu.shares, or v2 cpu.weight converted to shares as cAdvisor does. */
  shares?: number;
}

export interface CgroupMemory {
  usage: number;
  /** Usage minus inactive file pages: what the kernel cannot easily reclaim (cAdvisor, docker stats). */
  workingSet: number;
  rss?: number;
  cache?: number;
  mappedFile?: number;
  swap?: number;
  /** Times usage hit the limit (v1 memory.failcnt, v2 memory.events `max`). */
  failcnt?: number;
  maxUsage?: number;
  oomKills?: number;
  pgfault?: number;
  pgmajfault?: number;
  /** undefined means no limit. */
  limit: number | undefined;
  swapLimit?: number | undefined;
  reservation?: number | undefined;
}

export interface CgroupIoDevice {
  major: number;
  minor: number;
  /** Bytes by operation as cAdvisor names them: Read, Write, and where the kernel has them Sync, Async, Discard. */
  bytes: Record<string, number>;
  ops: Record<string, number>;
}

/** Where the cgroup hierarchies of this host are mounted. */
export type CgroupLayout =
  | { version: 2; root: string }
  | {
      version: 1;
      /** Controller name (`cpu`, `cpuacct`, `memory`, `blkio`, `pids`, `freezer`) to its hierarchy's root. */
      controllers: Map<string, string>;
    };

/**
 * A value at or above this is "no limit": v1 writes PAGE_COUNTER_MAX (9223372036854771712)
 * and some runtimes write 2^63-1 rounded to pages.
 */
const UNLIMITED = 2 ** 62;

/**
 * Finds the cgroup mounts under `<sys>/fs/cgroup`: a unified v2 tree when the root has
 * cgroup.controllers, else one directory per v1 hierarchy (`cpu,cpuacct` serves both). A hybrid
 * host keeps its controllers on v1, so v1 wins when both exist.
 */
export async function detectCgroupLayout(roots: ProcRoots): Promise<CgroupLayout | undefined> {
  const base = sysPath(roots, 'fs/cgroup');
  let names: string[];
  try {
    names = await readdir(base);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (names.includes('cgroup.controllers')) return { version: 2, root: base };
  const controllers = new Map<string, string>();
  for (const name of names.sort()) {
    const dir = join(base, name);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    for (const c of name.split(',')) {
      // A single-controller directory (or its symlink) is preferred over the combined one.
      if (!controllers.has(c) || !name.includes(',')) controllers.set(c, dir);
    }
  }
  if (controllers.has('memory') || controllers.has('cpuacct') || controllers.has('cpu')) return { version: 1, controllers };
  if (names.includes('unified')) {
    const unified = join(base, 'unified');
    if ((await readOptional(join(unified, 'cgroup.controllers'))) !== undefined) return { version: 2, root: unified };
  }
  return undefined;
}

/** The directory whose subtree discovery walks: v2's root, or one v1 hierarchy every container is in. */
export function cgroupWalkRoot(layout: CgroupLayout): string | undefined {
  if (layout.version === 2) return layout.root;
  for (const c of ['cpuacct', 'cpu', 'memory', 'pids']) {
    const dir = layout.controllers.get(c);
    if (dir) return dir;
  }
  return undefined;
}

/** One line of /proc/<pid>/cgroup: `hierarchy-id:controller,list:/path`. */
export interface ProcCgroupEntry {
  hierarchy: number;
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a <= 0 || b < 0) continue;
    const hierarchy = Number(line.slice(0, a));
    if (!Number.isInteger(hierarchy)) continue;
    const list = line.slice(a + 1, b);
    out.push({ hierarchy, controllers: list ? list.split(',') : [], path: line.slice(b + 1) });
  }
  return out;
}

/** `key value` lines (memory.stat, cpu.stat, cpuacct.stat, memory.events, pids.events). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const v = Number(line.slice(sp + 1).trim());
    if (Number.isFinite(v)) out.set(line.slice(0, sp), v);
  }
  return out;
}

/** A single number, or `max` (v2) / a huge v1 sentinel / -1, which all mean "no limit" (undefined). */
export function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === 'max' || t === '') return undefined;
  const v = Number(t);
  if (!Number.isFinite(v) || v < 0 || v >= UNLIMITED) return undefined;
  return v;
}

export function parseNumber(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text.trim());
  return Number.isFinite(v) ? v : undefined;
}

/** cgroup.procs: one pid a line. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const pid = Number(line);
    if (line && Number.isInteger(pid) && pid > 0) out.push(pid);
  }
  return out;
}

export function workingSet(usage: number, inactiveFile: number | undefined): number {
  // As cAdvisor: usage minus inactive file pages, never below zero.
  if (inactiveFile === undefined) return usage;
  return usage > inactiveFile ? usage - inactiveFile : 0;
}

/** Reads a cgroup file, tolerating the errors of a cgroup that vanished while being read. */
export async function readCgroupFile(dir: string, file: string): Promise<string | undefined> {
  try {
    // cgroupfs files are generated by the kernel from memory, like procfs: read in place, without
    // four thread-pool round trips (open, fstat, read, close) per file.
    return readKernelFileOptional(join(dir, file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENODEV/EINVAL: a controller file the kernel refuses to read for this cgroup.
    if (code === 'ENODEV' || code === 'EINVAL' || code === 'EOPNOTSUPP') return undefined;
    throw err;
  }
}
