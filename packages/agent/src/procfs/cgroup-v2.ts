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

/** io.stat's keys as cAdvisor (through runc) names the operations. */
const IO_BYTES: Record<string, string> = { rbytes: 'Read', wbytes: 'Write', dbytes: 'Discard' };
const IO_OPS: Record<string, string> = { rios: 'Read', wios: 'Write', dios: 'Discard' };

/** io.stat: `major:minor key=value ...` a device per line. */
export function parseIoStat(text: string): CgroupIoDevice[] {
  const out: CgroupIoDevice[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!m) continue;
    const dev: CgroupIoDevice = { major: Number(m[1]), minor: Number(m[2]), bytes: {}, ops: {} };
    for (const kv of f.slice(1)) {
      const eq = kv.indexOf('=');
      const key = kv.slice(0, eq);
      const v = Number(kv.slice(eq + 1));
      if (eq <= 0 || !Number.isFinite(v)) continue;
      const byteOp = IO_BYTES[key];
      const opsOp = IO_OPS[key];
      if (byteOp) dev.bytes[byteOp] = v;
      else if (opsOp) dev.ops[opsOp] = v;
    }
    out.push(dev);
  }
  return out;
}

/** cpu.max: `$QUOTA $PERIOD`, quota `max` for no limit. */
export function parseCpuMax(text: string | undefined): { quotaUs: number | undefined; periodUs: number | undefined } {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  return { quotaUs: quota === 'max' ? undefined : parseNumber(quota), periodUs: parseNumber(period) };
}

/** cpu.weight (1..10000) back to v1 shares (2..262144), the inverse of runc's mapping, as cAdvisor reports it. */
export function weightToShares(weight: number): number {
  return Math.floor(2 + ((weight - 1) * 262142) / 9999);
}

async function readCpu(dir: string): Promise<CgroupCpu | undefined> {
  const [statText, max, weight] = await Promise.all([
    readCgroupFile(dir, 'cpu.stat'),
    readCgroupFile(dir, 'cpu.max'),
    readCgroupFile(dir, 'cpu.weight'),
  ]);
  if (statText === undefined) return undefined;
  const s = parseFlatKeyed(statText);
  const usage = s.get('usage_usec');
  if (usage === undefined) return undefined;
  const usec = (k: string) => {
    const v = s.get(k);
    return v === undefined ? undefined : v / 1e6;
  };
  const cpu: CgroupCpu = {
    usageSeconds: usage / 1e6,
    userSeconds: usec('user_usec'),
    systemSeconds: usec('system_usec'),
    periods: s.get('nr_periods'),
    throttledPeriods: s.get('nr_throttled'),
    throttledSeconds: usec('throttled_usec'),
  };
  const { quotaUs, periodUs } = parseCpuMax(max);
  if (quotaUs !== undefined) cpu.quotaUs = quotaUs;
  if (periodUs !== undefined) cpu.periodUs = periodUs;
  const w = parseNumber(weight);
  if (w !== undefined) cpu.shares = weightToShares(w);
  return cpu;
}

async function readMemory(dir: string): Promise<CgroupMemory | undefined> {
  const files = [
    'memory.current',
    'memory.stat',
    'memory.max',
    'memory.events',
    'memory.peak',
    'memory.swap.current',
    'memory.swap.max',
    'memory.low',
  ];
  const [current, statText, max, events, peak, swap, swapMax, low] = await Promise.all(files.map((f) => readCgroupFile(dir, f)));
  const usage = parseNumber(current);
  if (usage === undefined) return undefined;
  const stat = parseFlatKeyed(statText ?? '');
  const ev = parseFlatKeyed(events ?? '');
  const mem: CgroupMemory = {
    usage,
    workingSet: workingSet(usage, stat.get('inactive_file')),
    rss: stat.get('anon'),
    cache: stat.get('file'),
    mappedFile: stat.get('file_mapped'),
    swap: parseNumber(swap),
    // v2 has no failcnt; memory.events `max` counts the times usage ran into memory.max.
    failcnt: ev.get('max'),
    maxUsage: parseNumber(peak),
    oomKills: ev.get('oom_kill'),
    pgfault: stat.get('pgfault'),
    pgmajfault: stat.get('pgmajfault'),
    limit: parseLimit(max),
    swapLimit: parseLimit(swapMax),
    reservation: parseLimit(low),
  };
  return mem;
}

/** Reads one cgroup of the unified hierarchy; `path` is relative to its root. */
export async function readCgroupV2(root: string, path: string): Promise<CgroupStats> {
  const dir = join(root, path);
  const [cpu, memory, io, pidsCurrent, pidsMax, events, procs] = await Promise.all([
    readCpu(dir),
    readMemory(dir),
    readCgroupFile(dir, 'io.stat'),
    readCgroupFile(dir, 'pids.current'),
    readCgroupFile(dir, 'pids.max'),
    readCgroupFile(dir, 'cgroup.events'),
    readCgroupFile(dir, 'cgroup.procs'),
  ]);
  const stats: CgroupStats = { io: parseIoStat(io ?? ''), procs: parsePids(procs) };
  if (cpu) stats.cpu = cpu;
  if (memory) stats.memory = memory;
  const current = parseNumber(pidsCurrent);
  if (current !== undefined) stats.pids = { current, limit: parseLimit(pidsMax) };
  const frozen = events === undefined ? undefined : parseFlatKeyed(events).get('frozen');
  if (frozen !== undefined) stats.frozen = frozen === 1;
  return stats;
}
