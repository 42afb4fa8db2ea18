/**
 * Disk health from smartmontools' `smartctl --json`, named as prometheus-community's
 * smartctl_exporter names it (smartctl_device, smartctl_device_smart_status,
 * smartctl_device_temperature, smartctl_device_attribute for ATA, the NVMe health log's fields),
 * with the same `device` label (the name without /dev/). Devices come from `smartctl --scan-open`;
 * each is read at most once per `interval` (smartctl_exporter's default, 60 s) and the figures
 * in between are the last ones: a SMART read wakes a disk's firmware and can take a second.
 */
import type { MetricWriter } from '../metrics.ts';
import { NoDataError } from '../procfs/fs.ts';
import { runTool } from './platform/tool.ts';
import { defineCollector } from './registry.ts';

interface ScanDevice {
  name: string;
  type: string;
}

/** `smartctl --scan-open --json`: the devices that opened, with the type to read them as. */
export function parseSmartScan(text: string): ScanDevice[] {
  const doc = JSON.parse(text) as { devices?: { name?: unknown; type?: unknown }[] };
  return (doc.devices ?? [])
    .filter((d): d is { name: string; type: string } => typeof d.name === 'string' && typeof d.type === 'string')
    .map((d) => ({ name: d.name, type: d.type }));
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** What one device's `smartctl --json -a` says, or undefined when it holds no SMART data. */
export interface SmartReport {
  device: string;
  info: Record<string, string>;
  exitStatus: number;
  passed: number | undefined;
  temperature: number | undefined;
  powerOnSeconds: number | undefined;
  powerCycles: number | undefined;
  capacityBytes: number | undefined;
  attributes: {
    id: number;
    name: string;
    flagsShort: string;
    flagsLong: string;
    value: number;
    worst: number;
    thresh: number;
    raw: number;
  }[];
  /** The NVMe health log's fields, by smartctl_exporter's metric name. */
  nvme: Map<string, number>;
}

const NVME_FIELDS: [string, string, string, number][] = [
  ['critical_warning', 'smartctl_device_critical_warning', 'NVMe critical warning bits (0: none).', 1],
  ['available_spare', 'smartctl_device_available_spare', 'NVMe spare capacity left, in percent.', 1],
  [
    'available_spare_threshold',
    'smartctl_device_available_spare_threshold',
    'NVMe spare capacity below which the drive warns, in percent.',
    1,
  ],
  ['percentage_used', 'smartctl_device_percentage_used', "NVMe estimate of the drive's life used, in percent (may pass 100).", 1],
  ['media_errors', 'smartctl_device_media_errors', 'NVMe unrecovered data integrity errors.', 1],
  ['num_err_log_entries', 'smartctl_device_num_err_log_entries', 'NVMe error log entries over the life of the controller.', 1],
  // Data units are thousands of 512-byte blocks.
  ['data_units_read', 'smartctl_device_bytes_read', 'Bytes read, from the NVMe data units.', 512_000],
  ['data_units_written', 'smartctl_device_bytes_written', 'Bytes written, from the NVMe data units.', 512_000],
  ['unsafe_shutdowns', 'smartctl_device_unsafe_shutdowns', 'NVMe power losses without a shutdown notice.', 1],
];
const NVME_HELP = new Map(NVME_FIELDS.map(([, metric, help]) => [metric, help]));

/** ATA attribute flags as smartctl's brief format shows them (POSRCK) and their long names. */
function attributeFlags(flags: Json): { short: string; long: string } {
  const bits: [string, string, string][] = [
    ['prefailure', 'P', 'prefailure'],
    ['updated_online', 'O', 'updated_online'],
    ['performance', 'S', 'performance'],
    ['error_rate', 'R', 'error_rate'],
    ['event_count', 'C', 'event_count'],
    ['auto_keep', 'K', 'auto_keep'],
  ];
  return {
    short: bits.map(([k, c]) => (flags[k] ? c : '-')).join(''),
    long: bits
      .filter(([k]) => flags[k])
      .map(([, , l]) => l)
      .join(','),
  };
}

export function parseSmartDevice(text: string): SmartReport | undefined {
  const doc = JSON.parse(text) as Json;
  const dev = obj(doc.device);
  const name = str(dev.name).replace(/^\/dev\//, '');
  const status = obj(doc.smart_status);
  const table = Array.isArray(obj(doc.ata_smart_attributes).table) ? (obj(doc.ata_smart_attributes).table as unknown[]) : [];
  const health = obj(doc.nvme_smart_health_information_log);
  // A device smartctl could open but that has no SMART (a virtual disk, a USB bridge it cannot pass through).
  if (!name || (typeof status.passed !== 'boolean' && table.length === 0 && Object.keys(health).length === 0)) return undefined;
  const poh = obj(doc.power_on_time);
  const hours = num(poh.hours);
  const report: SmartReport = {
    device: name,
    info: {
      device: name,
      interface: str(dev.type),
      protocol: str(dev.protocol),
      model_family: str(doc.model_family),
      model_name: str(doc.model_name),
      serial_number: str(doc.serial_number),
      firmware_version: str(doc.firmware_version),
    },
    exitStatus: num(obj(doc.smartctl).exit_status) ?? 0,
    passed: typeof status.passed === 'boolean' ? Number(status.passed) : undefined,
    temperature: num(obj(doc.temperature).current),
    powerOnSeconds: hours === undefined ? undefined : hours * 3600 + (num(poh.minutes) ?? 0) * 60,
    powerCycles: num(doc.power_cycle_count),
    capacityBytes: num(obj(doc.user_capacity).bytes) ?? num(doc.nvme_total_capacity),
    attributes: [],
    nvme: new Map(),
  };
  for (const row of table) {
    const a = obj(row);
    const flags = attributeFlags(obj(a.flags));
    const id = num(a.id);
    const raw = num(obj(a.raw).value);
    if (id === undefined || raw === undefined) continue;
    report.attributes.push({
      id,
      name: str(a.name),
      flagsShort: flags.short,
      flagsLong: flags.long,
      value: num(a.value) ?? 0,
      worst: num(a.worst) ?? 0,
      thresh: num(a.thresh) ?? 0,
      raw,
    });
  }
  for (const [field, metric, , scale] of NVME_FIELDS) {
    const v = num(health[field]);
    if (v !== undefined) report.nvme.set(metric, v * scale);
  }
  return report;
}

export function writeSmartReports(out: MetricWriter, reports: SmartReport[]): void {
  for (const r of reports) {
    const device = { device: r.device };
    out.gauge('smartctl_device', 'A device smartctl reads; always 1.', 1, r.info);
    out.gauge('smartctl_device_smartctl_exit_status', "smartctl's exit status bits for the device (0: all well).", r.exitStatus, device);
    if (r.passed !== undefined)
      out.gauge('smartctl_device_smart_status', 'SMART overall-health self-assessment: 1 passed, 0 failed.', r.passed, device);
    if (r.temperature !== undefined)
      out.gauge('smartctl_device_temperature', 'Device temperature in degrees Celsius.', r.temperature, {
        ...device,
        temperature_type: 'current',
      });
    if (r.powerOnSeconds !== undefined)
      out.counter('smartctl_device_power_on_seconds', 'Time the device has been powered on.', r.powerOnSeconds, device);
    if (r.powerCycles !== undefined)
      out.counter('smartctl_device_power_cycle_count', 'Times the device was powered on.', r.powerCycles, device);
    if (r.capacityBytes !== undefined) out.gauge('smartctl_device_capacity_bytes', 'Device capacity in bytes.', r.capacityBytes, device);
    for (const a of r.attributes) {
      const labels = {
        ...device,
        attribute_flags_long: a.flagsLong,
        attribute_flags_short: a.flagsShort,
        attribute_id: String(a.id),
        attribute_name: a.name,
      };
      const help = 'An ATA SMART attribute: its normalised value, worst, threshold and raw value.';
      out.gauge('smartctl_device_attribute', help, a.value, { ...labels, attribute_value_type: 'value' });
      out.gauge('smartctl_device_attribute', help, a.worst, { ...labels, attribute_value_type: 'worst' });
      out.gauge('smartctl_device_attribute', help, a.thresh, { ...labels, attribute_value_type: 'thresh' });
      out.gauge('smartctl_device_attribute', help, a.raw, { ...labels, attribute_value_type: 'raw' });
    }
    for (const [metric, v] of r.nvme) out.gauge(metric, NVME_HELP.get(metric) ?? metric, v, device);
  }
}

/** Bit 0: the command line did not parse; bit 1: the device did not open. Higher bits are about the disk's health. */
const UNREADABLE = 0b11;

export default defineCollector({
  name: 'smart',
  defaultEnabled: true,
  description:
    'Disk health from smartctl --json: SMART status, temperature, power-on time, ATA attributes, NVMe health (smartctl_exporter names).',
  options: ({ z, duration }) =>
    z
      .object({
        /** The smartctl to run: a name looked up in PATH, or a path. */
        command: z.string().min(1).default('smartctl'),
        /** How often devices are read; scrapes in between get the last figures. */
        interval: duration().default(60_000),
        /** Devices to read instead of those `smartctl --scan-open` finds, comma-separated (`/dev/sda,/dev/nvme0`). */
        devices: z.string().default(''),
      })
      .strict(),
  create: (_config, opts) => {
    let last: { atMs: number; reports: SmartReport[] } | undefined;
    /** Devices smartctl listed but could not open: as a user without root, every one of them. */
    let unopened: string[] = [];
    async function read(signal: AbortSignal): Promise<SmartReport[]> {
      const listed = opts.devices
        .split(',')
        .map((d) => d.trim())
        .filter(Boolean);
      const devices = listed.length
        ? listed.map((name) => ({ name, type: 'auto' }))
        : parseSmartScan((await runTool(opts.command, ['--scan-open', '--json'], signal)).stdout);
      const reports: SmartReport[] = [];
      unopened = [];
      for (const d of devices) {
        // --nocheck=standby: a disk that sleeps is left asleep (smartctl exits 2, and it is skipped this time).
        const r = await runTool(opts.command, ['--json', '-a', '--nocheck=standby', '-d', d.type, d.name], signal);
        if (r.code & UNREADABLE || !r.stdout.trim()) {
          unopened.push(d.name);
          continue;
        }
        const report = parseSmartDevice(r.stdout);
        if (report) reports.push(report);
      }
      return reports;
    }
    return {
      async update(out, { signal }) {
        if (!last || Date.now() - last.atMs >= opts.interval) {
          const reports = await read(signal);
          // Checked on the first read only: a disk that later fails to answer is news, not absence.
          if (!last && reports.length === 0) {
            throw new NoDataError(
              unopened.length
                ? `no SMART-capable device readable: smartctl could not open ${unopened.join(', ')} (the agent needs root, or CAP_SYS_RAWIO, and CAP_SYS_ADMIN for NVMe)`
                : 'no SMART-capable device (smartctl --scan-open found none that reports SMART)',
            );
          }
          last = { atMs: Date.now(), reports };
        }
        writeSmartReports(out, last.reports);
      },
    };
  },
});
