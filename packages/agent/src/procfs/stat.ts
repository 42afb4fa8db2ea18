import { fields } from './fs.ts';
/** /proc/stat: per-CPU jiffies, context switches, forks, boot time, running and blocked tasks. */

/** The kernel's USER_HZ; fixed at 100 on every architecture Linux exports to user space. */
export const USER_HZ = 100;

export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guestNice: number;
}

export interface ProcStat {
  /** Totals over all CPUs (the `cpu` line), in seconds. */
  total: CpuTimes;
  /** Per CPU, keyed by CPU number, in seconds. */
  cpus: Map<number, CpuTimes>;
  intr?: number;
  ctxt?: number;
  btime?: number;
  processes?: number;
  procsRunning?: number;
  procsBlocked?: number;
  softirqTotal?: number;
  /** Per softirq vector, in the kernel's order (see SOFTIRQ_VECTORS). */
  softirqs?: number[];
}

/** The kernel's softirq vectors, in the order of the `softirq` line. */
export const SOFTIRQ_VECTORS = ['hi', 'timer', 'net_tx', 'net_rx', 'block', 'block_iopoll', 'tasklet', 'sched', 'hrtimer', 'rcu'] as const;

const CPU_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestNice'] as const;

function parseCpuTimes(parts: string[]): CpuTimes {
  const t = {} as CpuTimes;
  CPU_FIELDS.forEach((f, i) => {
    const raw = parts[i + 1];
    // Older kernels stop after fewer columns; the missing ones are zero.
    t[f] = raw === undefined ? 0 : Number(raw) / USER_HZ;
  });
  return t;
}

export function parseStat(text: string): ProcStat {
  const out: ProcStat = { total: parseCpuTimes([]), cpus: new Map() };
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space);
    if (key.startsWith('cpu')) {
      const parts = fields(line);
      if (key === 'cpu') out.total = parseCpuTimes(parts);
      else {
        const n = Number(key.slice(3));
        if (Number.isInteger(n)) out.cpus.set(n, parseCpuTimes(parts));
      }
      continue;
    }
    // `intr` carries one column per interrupt line (hundreds); only its total is needed here.
    const next = line.indexOf(' ', space + 1);
    const first = Number(line.slice(space + 1, next < 0 ? undefined : next));
    if (key === 'intr') out.intr = first;
    else if (key === 'ctxt') out.ctxt = first;
    else if (key === 'btime') out.btime = first;
    else if (key === 'processes') out.processes = first;
    else if (key === 'procs_running') out.procsRunning = first;
    else if (key === 'procs_blocked') out.procsBlocked = first;
    else if (key === 'softirq') {
      out.softirqTotal = first;
      out.softirqs = fields(line).slice(2).map(Number);
    }
  }
  return out;
}
