import type { StatsFs } from 'node:fs';
import type { CpuInfo } from 'node:os';
import type { MetricWriter } from '../../metrics.ts';

/**
 * Collector bodies shared by macOS and Windows, over node:os figures. Linux has richer sources in
 * /proc and does not use these.
 */

/** os.cpus() times are milliseconds; `sys` is node_exporter's `system`. */
export function writeCpuTimes(out: MetricWriter, cpus: CpuInfo[], modes: readonly ('user' | 'nice' | 'sys' | 'idle' | 'irq')[]): void {
  cpus.forEach((c, i) => {
    for (const m of modes) {
      out.counter('node_cpu_seconds_total', 'Seconds the CPUs spent in each mode.', c.times[m] / 1000, {
        cpu: String(i),
        mode: m === 'sys' ? 'system' : m,
      });
    }
  });
}

export function writeMemory(out: MetricWriter, total: number, free: number): void {
  out.gauge('node_memory_total_bytes', 'Physical memory in bytes.', total);
  out.gauge('node_memory_free_bytes', 'Physical memory not in use, in bytes.', free);
}

export function writeLoad(out: MetricWriter, load: number[]): void {
  out.gauge('node_load1', 'Load average over the last minute.', load[0] ?? 0);
  out.gauge('node_load5', 'Load average over the last 5 minutes.', load[1] ?? 0);
  out.gauge('node_load15', 'Load average over the last 15 minutes.', load[2] ?? 0);
}

export function writeBootTime(out: MetricWriter, nowMs: number, uptimeSeconds: number): void {
  out.gauge('node_boot_time_seconds', 'When the system booted, in seconds since the epoch.', Math.round(nowMs / 1000 - uptimeSeconds));
}

export interface PortableMount {
  device: string;
  mountPoint: string;
  fsType: string;
  readOnly: boolean;
}

export function writeFilesystem(out: MetricWriter, m: PortableMount, st: StatsFs | undefined): void {
  const labels = { device: m.device, fstype: m.fsType, mountpoint: m.mountPoint };
  out.gauge('node_filesystem_device_error', 'Whether statfs() failed or hung for this mount.', st ? 0 : 1, labels);
  out.gauge('node_filesystem_readonly', 'Whether the file system is mounted read-only.', m.readOnly ? 1 : 0, labels);
  if (!st) return;
  out.gauge('node_filesystem_size_bytes', 'File system size in bytes.', st.blocks * st.bsize, labels);
  out.gauge('node_filesystem_free_bytes', 'Free bytes, including those reserved for root.', st.bfree * st.bsize, labels);
  out.gauge('node_filesystem_avail_bytes', 'Bytes available to unprivileged users.', st.bavail * st.bsize, labels);
  out.gauge('node_filesystem_files', 'Inodes in total.', st.files, labels);
  out.gauge('node_filesystem_files_free', 'Free inodes.', st.ffree, labels);
}

/** Per-interface counters as the portable netdev collectors know them. */
export interface PortableNetDev {
  device: string;
  receive: Partial<Record<'bytes' | 'packets' | 'errs' | 'drop', number>>;
  transmit: Partial<Record<'bytes' | 'packets' | 'errs' | 'drop' | 'colls', number>>;
}

export function writeNetDev(out: MetricWriter, devs: PortableNetDev[]): void {
  for (const dir of ['receive', 'transmit'] as const) {
    for (const key of ['bytes', 'packets', 'errs', 'drop', 'colls'] as const) {
      for (const d of devs) {
        const v = (d[dir] as Record<string, number | undefined>)[key];
        if (v !== undefined)
          out.counter(`node_network_${dir}_${key}_total`, `Network ${key} ${dir === 'receive' ? 'received' : 'transmitted'}.`, v, {
            device: d.device,
          });
      }
    }
  }
}
