import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ProcRoots, readSysAttr, sysPath } from './fs.ts';

/** /sys/devices/system/clocksource/clocksourceN: the clock sources the kernel may use, and the one it does. */
export interface Clocksource {
  device: string;
  available: string[];
  current: string;
}

export function readClocksources(roots: ProcRoots): Clocksource[] {
  const base = sysPath(roots, 'devices/system/clocksource');
  let names: string[];
  try {
    names = readdirSync(base);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: Clocksource[] = [];
  for (const n of names.filter((x) => /^clocksource\d+$/.test(x)).sort()) {
    const available = readSysAttr(join(base, n, 'available_clocksource'));
    const current = readSysAttr(join(base, n, 'current_clocksource'));
    if (available === undefined || current === undefined) continue;
    out.push({ device: n.slice('clocksource'.length), available: available.split(/\s+/).filter(Boolean), current });
  }
  return out;
}
