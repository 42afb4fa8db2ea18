import { join } from 'node:path';
import { listKernelDir, type ProcRoots, readSysAttrAsync, sysPath } from './fs.ts';

/** /sys/class/thermal/thermal_zoneN: a temperature in millidegrees Celsius. */
export interface ThermalZone {
  zone: string;
  type: string;
  milliCelsius: number;
}

/** /sys/class/thermal/cooling_deviceN: a fan or throttling state, 0..max_state. */
export interface CoolingDevice {
  name: string;
  type: string;
  curState: number;
  maxState: number;
}

/** ACPI zones can take long to read, so these reads go through the thread pool, all at once. */
export async function readThermal(roots: ProcRoots): Promise<{ zones: ThermalZone[]; cooling: CoolingDevice[] }> {
  const base = sysPath(roots, 'class/thermal');
  // Listing sysfs is in-memory and quick; only the sensor reads below may be slow.
  const names = listKernelDir(base).sort();
  if (names.length === 0) return { zones: [], cooling: [] };
  const zones = await Promise.all(
    names
      .filter((n) => /^thermal_zone\d+$/.test(n))
      .map(async (n): Promise<ThermalZone | undefined> => {
        const [type, temp] = await Promise.all([readSysAttrAsync(join(base, n, 'type')), readSysAttrAsync(join(base, n, 'temp'))]);
        const milliCelsius = Number(temp);
        if (type === undefined || temp === undefined || temp === '' || !Number.isFinite(milliCelsius)) return undefined;
        return { zone: n.slice('thermal_zone'.length), type, milliCelsius };
      }),
  );
  const cooling = await Promise.all(
    names
      .filter((n) => /^cooling_device\d+$/.test(n))
      .map(async (n): Promise<CoolingDevice | undefined> => {
        const [type, cur, max] = await Promise.all(['type', 'cur_state', 'max_state'].map((f) => readSysAttrAsync(join(base, n, f))));
        if (type === undefined || cur === undefined || max === undefined) return undefined;
        const curState = Number(cur);
        const maxState = Number(max);
        if (!Number.isFinite(curState) || !Number.isFinite(maxState)) return undefined;
        return { name: n.slice('cooling_device'.length), type, curState, maxState };
      }),
  );
  return {
    zones: zones.filter((z): z is ThermalZone => z !== undefined),
    cooling: cooling.filter((c): c is CoolingDevice => c !== undefined),
  };
}
