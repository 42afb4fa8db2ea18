import type { Labels, Sample } from '@falconet/protocol';
import type { Collection } from './collection.ts';
import type { MetricFamily } from './metrics.ts';

/**
 * Derives the host summary the server shows at a glance (CPU %, memory %, rates) from two
 * consecutive collections. These `falconet_*` gauges travel in reports; /metrics stays pure
 * node_exporter, where Prometheus derives the same from the counters.
 */
export const SUMMARY_METRICS = {
  cpuUsage: 'falconet_cpu_usage_percent',
  memoryUsed: 'falconet_memory_used_percent',
  swapUsed: 'falconet_swap_used_percent',
  diskUsed: 'falconet_disk_used_percent',
  netRx: 'falconet_network_receive_bytes_per_second',
  netTx: 'falconet_network_transmit_bytes_per_second',
  diskRead: 'falconet_disk_read_bytes_per_second',
  diskWrite: 'falconet_disk_written_bytes_per_second',
  uptime: 'falconet_uptime_seconds',
  cpuCount: 'falconet_cpu_count',
} as const;

function family(c: Collection, name: string): MetricFamily | undefined {
  return c.families.find((f) => f.name === name);
}

function single(c: Collection, name: string): number | undefined {
  return family(c, name)?.metrics[0]?.value;
}

function sum(c: Collection, name: string, where: (l: Labels) => boolean = () => true): number | undefined {
  const f = family(c, name);
  if (!f) return undefined;
  let total = 0;
  for (const m of f.metrics) if (where(m.labels)) total += m.value;
  return total;
}

/** Every network device but loopback, whose traffic never leaves the host. */
const notLoopbackDevice = (l: Labels) => l.device !== 'lo';
const BUSY_MODES = new Set(['user', 'nice', 'system', 'irq', 'softirq', 'steal']);

export class HostSummary {
  #prev: Collection | undefined;

  derive(cur: Collection): Sample[] {
    const out: Sample[] = [];
    const ts = cur.timestampMs;
    const push = (name: string, value: number | undefined) => {
      if (value !== undefined && Number.isFinite(value)) out.push({ name, labels: {}, value, timestampMs: ts });
    };
    const prev = this.#prev;
    this.#prev = cur;

    const memTotal = single(cur, 'node_memory_MemTotal_bytes');
    const memAvail = single(cur, 'node_memory_MemAvailable_bytes');
    if (memTotal && memAvail !== undefined) push(SUMMARY_METRICS.memoryUsed, (100 * (memTotal - memAvail)) / memTotal);
    const swapTotal = single(cur, 'node_memory_SwapTotal_bytes');
    const swapFree = single(cur, 'node_memory_SwapFree_bytes');
    if (swapTotal !== undefined && swapFree !== undefined) {
      push(SUMMARY_METRICS.swapUsed, swapTotal > 0 ? (100 * (swapTotal - swapFree)) / swapTotal : 0);
    }
    const root = (l: Labels) => l.mountpoint === '/';
    const size = sum(cur, 'node_filesystem_size_bytes', root);
    const free = sum(cur, 'node_filesystem_free_bytes', root);
    const avail = sum(cur, 'node_filesystem_avail_bytes', root);
    if (size && free !== undefined && avail !== undefined) {
      const used = size - free;
      push(SUMMARY_METRICS.diskUsed, used + avail > 0 ? (100 * used) / (used + avail) : 0);
    }
    const boot = single(cur, 'node_boot_time_seconds');
    if (boot) push(SUMMARY_METRICS.uptime, ts / 1000 - boot);
    const cpus = family(cur, 'node_cpu_seconds_total');
    if (cpus) push(SUMMARY_METRICS.cpuCount, new Set(cpus.metrics.map((m) => m.labels.cpu)).size);

    if (!prev) return out;
    const dt = (ts - prev.timestampMs) / 1000;
    if (!(dt > 0)) return out;
    const rate = (name: string, where?: (l: Labels) => boolean) => {
      const a = sum(prev, name, where);
      const b = sum(cur, name, where);
      // A counter that went down was reset (reboot, interface re-created): no rate this round.
      return a === undefined || b === undefined || b < a ? undefined : (b - a) / dt;
    };
    const busyNow = sum(cur, 'node_cpu_seconds_total', (l) => BUSY_MODES.has(l.mode ?? ''));
    const busyPrev = sum(prev, 'node_cpu_seconds_total', (l) => BUSY_MODES.has(l.mode ?? ''));
    const allNow = sum(cur, 'node_cpu_seconds_total');
    const allPrev = sum(prev, 'node_cpu_seconds_total');
    if (busyNow !== undefined && busyPrev !== undefined && allNow !== undefined && allPrev !== undefined && allNow > allPrev) {
      push(SUMMARY_METRICS.cpuUsage, Math.min(100, Math.max(0, (100 * (busyNow - busyPrev)) / (allNow - allPrev))));
    }
    push(SUMMARY_METRICS.netRx, rate('node_network_receive_bytes_total', notLoopbackDevice));
    push(SUMMARY_METRICS.netTx, rate('node_network_transmit_bytes_total', notLoopbackDevice));
    push(SUMMARY_METRICS.diskRead, rate('node_disk_read_bytes_total'));
    push(SUMMARY_METRICS.diskWrite, rate('node_disk_written_bytes_total'));
    return out;
  }
}
