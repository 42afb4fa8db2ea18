import { join } from 'node:path';
import {
  type CgroupCpu,
  type CgroupIoDevice,
  type CgroupMemory,
  type CgroupStats,
  parseFlatKeyed,
  parseLimit,
  parseNumber,
  parsePids,
  readCgroupFile,
  workingSet,
} from './cgroup.ts';

/** cpuacct.stat counts USER_HZ ticks, which is 100 on every Linux architecture. */
const USER_HZ = 100;

/**
 * blkio's `major:minor Op value` lines, ending with a `Total value` line. Ops are kept as the
 * kernel names them (Read, Write, Sync, Async, Discard); Total is dropped (it is their sum).
 */
export function parseBlkioV1(text: string): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3 || !/^\d+:\d+$/.test(f[0] as string)) continue;
    const op = f[1] as string;
    const v = Number(f[2]);
    if (op === 'Total' || !Number.isFinite(v)) continue;
    let dev = out.get(f[0] as string);
    if (!dev) {
      dev = {};
      out.set(f[0] as string, dev);
    }
    dev[op] = (dev[op] ?? 0) + v;
  }
  return out;
}

function mergeIo(bytes: Map<string, Record<string, number>>, ops: Map<string, Record<string, number>>): CgroupIoDevice[] {
  const out: CgroupIoDevice[] = [];
  for (const key of new Set([...bytes.keys(), ...ops.keys()])) {
    const [major, minor] = key.split(':').map(Number) as [number, number];
    out.push({ major, minor, bytes: bytes.get(key) ?? {}, ops: ops.get(key) ?? {} });
  }
  return out.sort((a, b) => a.major - b.major || a.minor - b.minor);
}

/**
 * The first blkio file pair that has entries: the CFQ files, then BFQ's, then the throttle
 * layer's, which counts every request whatever the scheduler (as runc reads them).
 */
const BLKIO_SOURCES = [
  ['blkio.io_service_bytes_recursive', 'blkio.io_serviced_recursive'],
  ['blkio.bfq.io_service_bytes_recursive', 'blkio.bfq.io_serviced_recursive'],
  ['blkio.throttle.io_service_bytes_recursive', 'blkio.throttle.io_serviced_recursive'],
] as const;

async function readBlkio(dir: string): Promise<CgroupIoDevice[]> {
  for (const [bytesFile, opsFile] of BLKIO_SOURCES) {
    const bytesText = await readCgroupFile(dir, bytesFile);
    if (bytesText === undefined) continue;
    const bytes = parseBlkioV1(bytesText);
    if (bytes.size === 0) continue;
    const ops = parseBlkioV1((await readCgroupFile(dir, opsFile)) ?? '');
    return mergeIo(bytes, ops);
  }
  return [];
}

async function readCpu(cpuDir: string | undefined, acctDir: string | undefined): Promise<CgroupCpu | undefined> {
  if (!acctDir) return undefined;
  const [usage, acctStat, cpuStat, quota, period, shares] = await Promise.all([
    readCgroupFile(acctDir, 'cpuacct.usage'),
    readCgroupFile(acctDir, 'cpuacct.stat'),
    cpuDir ? readCgroupFile(cpuDir, 'cpu.stat') : undefined,
    cpuDir ? readCgroupFile(cpuDir, 'cpu.cfs_quota_us') : undefined,
    cpuDir ? readCgroupFile(cpuDir, 'cpu.cfs_period_us') : undefined,
    cpuDir ? readCgroupFile(cpuDir, 'cpu.shares') : undefined,
  ]);
  const usageNs = parseNumber(usage);
  if (usageNs === undefined) return undefined;
  const cpu: CgroupCpu = { usageSeconds: usageNs / 1e9 };
  if (acctStat) {
    const s = parseFlatKeyed(acctStat);
    const user = s.get('user');
    const system = s.get('system');
    if (user !== undefined) cpu.userSeconds = user / USER_HZ;
    if (system !== undefined) cpu.systemSeconds = system / USER_HZ;
  }
  if (cpuStat) {
    const s = parseFlatKeyed(cpuStat);
    cpu.periods = s.get('nr_periods');
    cpu.throttledPeriods = s.get('nr_throttled');
    const ns = s.get('throttled_time');
    if (ns !== undefined) cpu.throttledSeconds = ns / 1e9;
  }
  const q = parseNumber(quota);
  if (q !== undefined && q > 0) cpu.quotaUs = q;
  cpu.periodUs = parseNumber(period);
  cpu.shares = parseNumber(shares);
  return cpu;
}

async function readMemory(dir: string | undefined): Promise<CgroupMemory | undefined> {
  if (!dir) return undefined;
  const files = [
    'memory.usage_in_bytes',
    'memory.stat',
    'memory.limit_in_bytes',
    'memory.failcnt',
    'memory.max_usage_in_bytes',
    'memory.memsw.usage_in_bytes',
    'memory.memsw.limit_in_bytes',
    'memory.soft_limit_in_bytes',
    'memory.oom_control',
  ] as const;
  const [usageText, statText, limit, failcnt, maxUsage, memswUsage, memswLimit, soft, oomControl] = await Promise.all(
    files.map((f) => readCgroupFile(dir, f)),
  );
  const usage = parseNumber(usageText);
  if (usage === undefined) return undefined;
  const stat = parseFlatKeyed(statText ?? '');
  // `total_*` include child cgroups, which is what a container's figures must cover.
  const pick = (key: string) => stat.get(`total_${key}`) ?? stat.get(key);
  const mem: CgroupMemory = {
    usage,
    workingSet: workingSet(usage, pick('inactive_file')),
    rss: pick('rss'),
    cache: pick('cache'),
    mappedFile: pick('mapped_file'),
    failcnt: parseNumber(failcnt),
    maxUsage: parseNumber(maxUsage),
    pgfault: pick('pgfault'),
    pgmajfault: pick('pgmajfault'),
    limit: parseLimit(limit),
    swapLimit: parseLimit(memswLimit),
    reservation: parseLimit(soft),
  };
  const memsw = parseNumber(memswUsage);
  // v1 has no swap figure of its own: memory+swap minus memory (as cAdvisor and runc do).
  if (memsw !== undefined) mem.swap = Math.max(0, memsw - usage);
  if (oomControl) mem.oomKills = parseFlatKeyed(oomControl).get('oom_kill');
  return mem;
}

/** Controller name -> hierarchy root, as `detectCgroupLayout` found them. */
export type V1Controllers = ReadonlyMap<string, string>;

/**
 * Reads one cgroup from every v1 hierarchy. `path` is relative to each hierarchy's root
 * (`/docker/<id>`); runtimes use the same path in every hierarchy.
 */
export async function readCgroupV1(controllers: V1Controllers, path: string): Promise<CgroupStats> {
  const at = (c: string) => {
    const root = controllers.get(c);
    return root ? join(root, path) : undefined;
  };
  const pidsDir = at('pids');
  const freezerDir = at('freezer');
  const blkioDir = at('blkio');
  const procsDir = at('pids') ?? at('memory') ?? at('cpuacct') ?? at('cpu');
  const [cpu, memory, io, pidsCurrent, pidsMax, freezer, procs] = await Promise.all([
    readCpu(at('cpu'), at('cpuacct') ?? at('cpu')),
    readMemory(at('memory')),
    blkioDir ? readBlkio(blkioDir) : [],
    pidsDir ? readCgroupFile(pidsDir, 'pids.current') : undefined,
    pidsDir ? readCgroupFile(pidsDir, 'pids.max') : undefined,
    freezerDir ? readCgroupFile(freezerDir, 'freezer.state') : undefined,
    procsDir ? readCgroupFile(procsDir, 'cgroup.procs') : undefined,
  ]);
  const stats: CgroupStats = { io, procs: parsePids(procs) };
  if (cpu) stats.cpu = cpu;
  if (memory) stats.memory = memory;
  const current = parseNumber(pidsCurrent);
  if (current !== undefined) stats.pids = { current, limit: parseLimit(pidsMax) };
  // FREEZING counts as frozen: the tasks are already stopped or stopping.
  if (freezer !== undefined) stats.frozen = freezer.trim() !== 'THAWED';
  return stats;
}
