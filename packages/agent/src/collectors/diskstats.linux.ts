import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  DISKSTATS_SECTOR_BYTES,
  type DiskStats,
  parseDiskstats,
  parseUdevProperties,
  procPath,
  readKernelFileOptional,
  readRequired,
  rootfsPath,
} from '../procfs/index.ts';
import { deviceFilter } from './filters.ts';
import { defineCollector } from './registry.ts';

type Counter = [name: string, help: string, value: (d: DiskStats) => number | undefined];

const ms = (v: number | undefined) => (v === undefined ? undefined : v / 1000);

const COUNTERS: Counter[] = [
  ['node_disk_reads_completed_total', 'Reads completed.', (d) => d.readsCompleted],
  ['node_disk_reads_merged_total', 'Adjacent reads merged into one.', (d) => d.readsMerged],
  ['node_disk_read_bytes_total', 'Bytes read.', (d) => d.sectorsRead * DISKSTATS_SECTOR_BYTES],
  ['node_disk_read_time_seconds_total', 'Seconds spent by all reads.', (d) => ms(d.readTimeMs)],
  ['node_disk_writes_completed_total', 'Writes completed.', (d) => d.writesCompleted],
  ['node_disk_writes_merged_total', 'Adjacent writes merged into one.', (d) => d.writesMerged],
  ['node_disk_written_bytes_total', 'Bytes written.', (d) => d.sectorsWritten * DISKSTATS_SECTOR_BYTES],
  ['node_disk_write_time_seconds_total', 'Seconds spent by all writes.', (d) => ms(d.writeTimeMs)],
  ['node_disk_io_time_seconds_total', 'Seconds the device had I/O in flight.', (d) => ms(d.ioTimeMs)],
  [
    'node_disk_io_time_weighted_seconds_total',
    'Seconds of I/O in flight, weighted by the number of requests.',
    (d) => ms(d.weightedIoTimeMs),
  ],
  ['node_disk_discards_completed_total', 'Discards completed.', (d) => d.discardsCompleted],
  ['node_disk_discards_merged_total', 'Adjacent discards merged into one.', (d) => d.discardsMerged],
  ['node_disk_discarded_sectors_total', 'Sectors discarded.', (d) => d.sectorsDiscarded],
  ['node_disk_discard_time_seconds_total', 'Seconds spent by all discards.', (d) => ms(d.discardTimeMs)],
  ['node_disk_flush_requests_total', 'Flush requests completed.', (d) => d.flushesCompleted],
  ['node_disk_flush_requests_time_seconds_total', 'Seconds spent by all flush requests.', (d) => ms(d.flushTimeMs)],
];

/** udev properties behind node_disk_info's labels. */
const INFO_LABELS: [label: string, property: string][] = [
  ['model', 'ID_MODEL'],
  ['path', 'ID_PATH'],
  ['revision', 'ID_REVISION'],
  ['serial', 'ID_SERIAL_SHORT'],
  ['wwn', 'ID_WWN'],
];

export default defineCollector({
  name: 'diskstats',
  defaultEnabled: true,
  description: 'Block device I/O counters from /proc/diskstats, with udev model and serial.',
  // node_exporter 1.5's default: partitions, RAM and loop devices are left out.
  options: ({ deviceFilterOptions }) => deviceFilterOptions('^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$'),
  create: (_config, options) => {
    const accept = deviceFilter(options.device_include, options.device_exclude);
    return {
      update(out, { roots }) {
        const disks = parseDiskstats(readRequired(procPath(roots, 'diskstats'))).filter((d) => accept(d.device));
        const udevDir = rootfsPath(roots, 'run/udev/data');
        // Without udev (containers, minimal VMs) there is no database: skip one failing open per disk.
        const hasUdev = statSync(udevDir, { throwIfNoEntry: false }) !== undefined;
        for (const d of disks) {
          const device = d.device;
          const udevText = hasUdev ? readKernelFileOptional(join(udevDir, `b${d.major}:${d.minor}`)) : undefined;
          const udev = udevText ? parseUdevProperties(udevText) : new Map<string, string>();
          const labels: Record<string, string> = { device, major: String(d.major), minor: String(d.minor) };
          for (const [label, prop] of INFO_LABELS) labels[label] = udev.get(prop) ?? '';
          out.gauge('node_disk_info', 'Identity of a block device (udev model, serial, path); always 1.', 1, labels);
          if (udev.has('DM_NAME')) {
            out.gauge('node_disk_device_mapper_info', 'Device-mapper names of a block device; always 1.', 1, {
              device,
              lv_layer: udev.get('DM_LV_LAYER') ?? '',
              lv_name: udev.get('DM_LV_NAME') ?? '',
              name: udev.get('DM_NAME') ?? '',
              uuid: udev.get('DM_UUID') ?? '',
              vg_name: udev.get('DM_VG_NAME') ?? '',
            });
          }
          const rpm = udev.get('ID_ATA_ROTATION_RATE_RPM');
          if (rpm !== undefined && Number.isFinite(Number(rpm))) {
            out.gauge('node_disk_ata_rotation_rate_rpm', 'Rotation rate of an ATA disk; 0 for solid state.', Number(rpm), { device });
          }
          const wc = udev.get('ID_ATA_FEATURE_SET_WRITE_CACHE');
          if (wc !== undefined)
            out.gauge('node_disk_ata_write_cache', 'Whether an ATA disk has a write cache.', wc === '1' ? 1 : 0, { device });
          const wce = udev.get('ID_ATA_FEATURE_SET_WRITE_CACHE_ENABLED');
          if (wce !== undefined) {
            out.gauge('node_disk_ata_write_cache_enabled', 'Whether the write cache of an ATA disk is on.', wce === '1' ? 1 : 0, {
              device,
            });
          }
          out.gauge('node_disk_io_now', 'I/Os in flight right now.', d.ioInProgress, { device });
        }
        for (const [name, help, value] of COUNTERS) {
          for (const d of disks) {
            const v = value(d);
            if (v !== undefined) out.counter(name, help, v, { device: d.device });
          }
        }
      },
    };
  },
});
