import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listKernelDir, type ProcRoots, readSysAttr, readSysNumber, sysPath } from './fs.ts';

/** CPU directories under /sys/devices/system/cpu (`cpu0`, `cpu1`, ...), sorted by number. */
export function listCpuDirs(roots: ProcRoots): { cpu: string; dir: string }[] {
  const base = sysPath(roots, 'devices/system/cpu');
  let names: string[];
  try {
    names = readdirSync(base);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => /^cpu\d+$/.test(n))
    .map((n) => ({ cpu: n.slice(3), dir: join(base, n) }))
    .sort((a, b) => Number(a.cpu) - Number(b.cpu));
}

/** cpufreq of one CPU, frequencies in kHz as the kernel writes them. */
export interface CpuFreq {
  cpu: string;
  curKHz?: number;
  minKHz?: number;
  maxKHz?: number;
  scalingCurKHz?: number;
  scalingMinKHz?: number;
  scalingMaxKHz?: number;
  governor?: string;
  availableGovernors?: string[];
}

/** Whether the kernel has cpufreq policies at all; without them no CPU has a cpufreq directory. */
function hasCpufreq(roots: ProcRoots): boolean {
  try {
    return listKernelDir(sysPath(roots, 'devices/system/cpu/cpufreq')).some((n) => n.startsWith('policy'));
  } catch {
    return false;
  }
}

export function readCpuFreq(roots: ProcRoots): CpuFreq[] {
  const out: CpuFreq[] = [];
  if (!hasCpufreq(roots)) return out;
  for (const { cpu, dir } of listCpuDirs(roots)) {
    const f = join(dir, 'cpufreq');
    const governor = readSysAttr(join(f, 'scaling_governor'));
    const freq: CpuFreq = {
      cpu,
      curKHz: readSysNumber(join(f, 'cpuinfo_cur_freq')),
      minKHz: readSysNumber(join(f, 'cpuinfo_min_freq')),
      maxKHz: readSysNumber(join(f, 'cpuinfo_max_freq')),
      scalingCurKHz: readSysNumber(join(f, 'scaling_cur_freq')),
      scalingMinKHz: readSysNumber(join(f, 'scaling_min_freq')),
      scalingMaxKHz: readSysNumber(join(f, 'scaling_max_freq')),
    };
    if (Object.values(freq).every((v) => v === undefined || v === cpu) && governor === undefined) continue;
    if (governor !== undefined) {
      freq.governor = governor;
      freq.availableGovernors = (readSysAttr(join(f, 'scaling_available_governors')) ?? governor).split(/\s+/).filter(Boolean);
    }
    out.push(freq);
  }
  return out;
}

/** Thermal throttling events of one CPU with its place in the topology. */
export interface CpuThrottle {
  cpu: string;
  packageId: string;
  coreId: string;
  coreThrottles?: number;
  packageThrottles?: number;
}

export function readCpuThrottles(roots: ProcRoots): CpuThrottle[] {
  const out: CpuThrottle[] = [];
  // The thermal throttling driver adds its directory to every CPU or to none: look at cpu0
  // before listing and failing two opens per CPU on machines without it.
  if (!statSync(sysPath(roots, 'devices/system/cpu/cpu0/thermal_throttle'), { throwIfNoEntry: false })) return out;
  for (const { cpu, dir } of listCpuDirs(roots)) {
    const core = readSysNumber(join(dir, 'thermal_throttle/core_throttle_count'));
    const pkg = readSysNumber(join(dir, 'thermal_throttle/package_throttle_count'));
    if (core === undefined && pkg === undefined) continue;
    const packageId = readSysAttr(join(dir, 'topology/physical_package_id'));
    const coreId = readSysAttr(join(dir, 'topology/core_id'));
    if (packageId === undefined || coreId === undefined) continue;
    out.push({ cpu, packageId, coreId, coreThrottles: core, packageThrottles: pkg });
  }
  return out;
}

/** /proc/cpuinfo, one record per logical CPU (x86 layout: `processor`, `vendor_id`, `model name`, ...). */
export function parseCpuinfo(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  let cur: Map<string, string> | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'processor') {
      cur = new Map();
      out.push(cur);
    }
    cur?.set(key, value);
  }
  return out;
}
