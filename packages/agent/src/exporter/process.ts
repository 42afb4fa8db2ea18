import { readdirSync, statSync } from 'node:fs';
import type { MetricFamily } from '../metrics.ts';
import { MetricWriter } from '../metrics.ts';
import { readKernelFileOptional } from '../procfs/fs.ts';
import { USER_HZ } from '../procfs/stat.ts';

let page: number | undefined;

/** The page size, from the first mapping in /proc/self/smaps, read once. */
function pageBytes(): number {
  page ??= Number(/^KernelPageSize:\s+(\d+) kB/m.exec(readKernelFileOptional('/proc/self/smaps') ?? '')?.[1] ?? 4) * 1024;
  return page;
}

/**
 * Descriptors open in this process. Linux 6.2 and later give the count as the size of
 * /proc/self/fd, one stat() instead of listing a directory that holds every kernel file kept
 * open between scrapes; older kernels give 0 there, and the directory is listed. A listing
 * includes the descriptor it reads the directory through, which is not counted.
 */
function openFds(): number {
  const size = statSync('/proc/self/fd').size;
  return size > 0 ? size : readdirSync('/proc/self/fd').length - 1;
}

/** RLIMIT_INFINITY as Prometheus client libraries report an unlimited address space. */
const UNLIMITED = 2 ** 64;

const LIMITS = {
  addressSpace: /^Max address space\s+(\S+)/m,
  openFiles: /^Max open files\s+(\S+)/m,
};

function limit(limits: string, which: RegExp): number | undefined {
  const m = which.exec(limits);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? UNLIMITED : Number(m[1]);
}

/**
 * The exporter process's own standard metrics (process_*), which every Prometheus client library
 * exposes and dashboards chart as "exporter CPU / memory / file descriptors". Only on /metrics:
 * they describe the agent, not the host.
 */
export function processFamilies(startTimeSeconds: number): MetricFamily[] {
  const out = new MetricWriter();
  const cpuHelp = 'User and system CPU time the agent has used, in seconds.';
  out.gauge('process_start_time_seconds', 'When the agent started, in seconds since the epoch.', startTimeSeconds);
  const stat = process.platform === 'linux' ? readKernelFileOptional('/proc/self/stat', true) : undefined;
  if (!stat) {
    const cpu = process.cpuUsage();
    out.counter('process_cpu_seconds_total', cpuHelp, (cpu.user + cpu.system) / 1e6);
    out.gauge('process_resident_memory_bytes', 'Resident memory of the agent, in bytes.', process.memoryUsage.rss());
  } else {
    // One read for all three: utime and stime (fields 14, 15) in clock ticks, vsize (23) in bytes, rss (24) in pages.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.counter('process_cpu_seconds_total', cpuHelp, (Number(fields[11]) + Number(fields[12])) / USER_HZ);
    out.gauge('process_resident_memory_bytes', 'Resident memory of the agent, in bytes.', Number(fields[21]) * pageBytes());
    out.gauge('process_virtual_memory_bytes', 'Virtual memory size of the agent, in bytes.', Number(fields[20]));
  }
  if (process.platform === 'linux') {
    const limits = readKernelFileOptional('/proc/self/limits', true) ?? '';
    const maxAs = limit(limits, LIMITS.addressSpace);
    if (maxAs !== undefined) out.gauge('process_virtual_memory_max_bytes', 'Most virtual memory the agent may map, in bytes.', maxAs);
    try {
      out.gauge('process_open_fds', 'File descriptors the agent has open.', openFds());
    } catch {
      // /proc not mounted: the gauge is left out.
    }
    const maxFds = limit(limits, LIMITS.openFiles);
    if (maxFds !== undefined) out.gauge('process_max_fds', 'Most file descriptors the agent may open.', maxFds);
  }
  return out.families();
}
