import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { listKernelDir, type ProcRoots, readSysAttrAsync, sysPath } from './fs.ts';

/** The sensor types hwmon(4) defines; other files in a hwmon directory are not sensors. */
const SENSOR_TYPES = new Set([
  'vrm',
  'beep_enable',
  'update_interval',
  'in',
  'cpu',
  'fan',
  'pwm',
  'temp',
  'curr',
  'power',
  'energy',
  'humidity',
  'intrusion',
]);

/** `temp1_input` -> type `temp`, number `1`, property `input`; `vrm` -> type `vrm`. */
export function explodeSensorFilename(file: string): { type: string; num: string; property: string } | undefined {
  const m = /^([^0-9]+?)([0-9]*)(?:_(.+))?$/.exec(file);
  if (!m) return undefined;
  let type = m[1] as string;
  let property = m[3] ?? '';
  // `beep_enable` and `update_interval` are whole types whose underscore is not a separator.
  if (!m[2] && !SENSOR_TYPES.has(type) && SENSOR_TYPES.has(`${type}_${property}`)) {
    type = `${type}_${property}`;
    property = '';
  }
  return { type, num: m[2] as string, property };
}

/** Lower case, anything but [a-z0-9:_] as `_`, no leading or trailing `_`. */
export function cleanHwmonName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9:_]/g, '_')
    .replace(/^_+|_+$/g, '');
}

export interface HwmonChip {
  /** Stable name from the device path, e.g. `platform_coretemp_0`. */
  chip: string;
  /** The driver's own name file, e.g. `coretemp`. */
  chipName?: string;
  /** sensor (`temp1`) -> property (`input`, `crit`, `label`, `` for a bare file) -> raw text. */
  sensors: Map<string, Map<string, string>>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Chip names follow the device's place in the bus (`platform_coretemp_0`), which survives reboots,
 * unlike the hwmonN numbering that follows the order modules were loaded in.
 */
async function chipName(dir: string): Promise<string | undefined> {
  try {
    const device = await realpath(join(dir, 'device'));
    const name = cleanHwmonName(basename(device));
    const type = cleanHwmonName(basename(dirname(device)));
    if (type && name) return `${type}_${name}`;
    if (name) return name;
  } catch {
    // No device link: fall back to the name file, then to hwmonN.
  }
  const own = await readSysAttrAsync(join(dir, 'name'));
  if (own && cleanHwmonName(own)) return cleanHwmonName(own);
  return cleanHwmonName(basename(await realpath(dir))) || undefined;
}

async function collectSensorFiles(dir: string, into: Map<string, Map<string, string>>): Promise<void> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return;
  }
  await Promise.all(
    files.map(async (file) => {
      const parts = explodeSensorFilename(file);
      if (!parts || !SENSOR_TYPES.has(parts.type)) return;
      let text: string | undefined;
      try {
        text = (await readFile(join(dir, file), 'utf8')).trim();
      } catch {
        // Unreadable sensors (EIO from an unplugged probe, write-only pwm controls) are skipped.
        return;
      }
      const sensor = `${parts.type}${parts.num}`;
      let props = into.get(sensor);
      if (!props) {
        props = new Map();
        into.set(sensor, props);
      }
      props.set(parts.property, text);
    }),
  );
}

export async function readHwmon(roots: ProcRoots): Promise<HwmonChip[]> {
  const base = sysPath(roots, 'class/hwmon');
  // Listing sysfs is in-memory and quick; only the sensor reads may be slow.
  const names = listKernelDir(base).sort();
  const chips = await Promise.all(
    names.map(async (n): Promise<HwmonChip | undefined> => {
      const dir = join(base, n);
      const chip = await chipName(dir);
      if (!chip) return undefined;
      const sensors = new Map<string, Map<string, string>>();
      await collectSensorFiles(dir, sensors);
      // Older drivers put their sensor files in the device directory instead.
      if (await exists(join(dir, 'device'))) await collectSensorFiles(join(dir, 'device'), sensors);
      const own = await readSysAttrAsync(join(dir, 'name'));
      const result: HwmonChip = { chip, sensors };
      if (own && cleanHwmonName(own)) result.chipName = cleanHwmonName(own);
      return result;
    }),
  );
  return chips.filter((c): c is HwmonChip => c !== undefined);
}
