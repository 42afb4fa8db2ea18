import type { MetricWriter } from '../metrics.ts';
import { cleanHwmonName, explodeSensorFilename, type HwmonChip, readHwmon } from '../procfs/index.ts';
import { deviceFilter } from './filters.ts';
import { defineCollector } from './registry.ts';

const POWER_WATT = new Set([
  'cap',
  'cap_hyst',
  'cap_max',
  'cap_min',
  'input',
  'input_highest',
  'input_lowest',
  'average',
  'average_highest',
  'average_lowest',
  'average_max',
  'average_min',
  'crit',
  'max',
]);
const FAN_RPM = new Set(['input', 'min', 'max', 'target', 'div']);

/**
 * Maps one sensor property to node_exporter's hwmon metric: sysfs reports millivolts, millidegrees,
 * milliamperes and microwatts; the metrics carry base units in their names.
 */
export function hwmonMetric(
  type: string,
  property: string,
  hasBareValue: boolean,
  raw: number,
): { name: string; help: string; value: number; kind: 'gauge' | 'counter' } | undefined {
  let name = `node_hwmon_${type}`;
  if (property === 'input') {
    if (hasBareValue) name += '_input';
  } else if (property !== '') name += `_${cleanHwmonName(property)}`;
  if (property === 'fault' || property === 'alarm') return { name, help: `Sensor ${property} flag (${type}).`, value: raw, kind: 'gauge' };
  if (property === 'beep') return { name: `${name}_enabled`, help: `Whether the sensor beeps (${type}).`, value: raw, kind: 'gauge' };
  if (type === 'in' || type === 'cpu')
    return { name: `${name}_volts`, help: `Voltage sensor (${property || 'input'}).`, value: raw / 1000, kind: 'gauge' };
  if (type === 'temp' && property !== 'type') {
    return { name: `${name}_celsius`, help: `Temperature sensor (${property || 'input'}).`, value: raw / 1000, kind: 'gauge' };
  }
  if (type === 'curr') return { name: `${name}_amps`, help: `Current sensor (${property || 'input'}).`, value: raw / 1000, kind: 'gauge' };
  if (type === 'energy') return { name: `${name}_joule_total`, help: 'Energy used.', value: raw / 1e6, kind: 'counter' };
  if (type === 'power' && property === 'accuracy') return { name, help: 'Power sensor accuracy.', value: raw / 1e6, kind: 'gauge' };
  if (type === 'power' && (property === '' || POWER_WATT.has(property))) {
    return { name: `${name}_watt`, help: `Power sensor (${property || 'input'}).`, value: raw / 1e6, kind: 'gauge' };
  }
  if (type === 'power' && (property === 'average_interval' || property === 'average_interval_max' || property === 'average_interval_min')) {
    return { name: `${name}_seconds`, help: 'Power averaging interval.', value: raw / 1000, kind: 'gauge' };
  }
  if (type === 'humidity') return { name, help: `Humidity sensor in percent (${property || 'input'}).`, value: raw / 1000, kind: 'gauge' };
  if (type === 'fan' && FAN_RPM.has(property)) return { name: `${name}_rpm`, help: `Fan speed (${property}).`, value: raw, kind: 'gauge' };
  return { name, help: `Hardware sensor ${type} property ${property || 'value'}.`, value: raw, kind: 'gauge' };
}

export function writeHwmonChip(out: MetricWriter, chip: HwmonChip): void {
  if (chip.chipName) {
    out.gauge('node_hwmon_chip_names', 'Human-readable name of a sensor chip; always 1.', 1, { chip: chip.chip, chip_name: chip.chipName });
  }
  for (const [sensor, props] of [...chip.sensors].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const parts = explodeSensorFilename(sensor);
    if (!parts) continue;
    const labels = { chip: chip.chip, sensor };
    const label = props.get('label');
    if (label !== undefined) {
      out.gauge('node_hwmon_sensor_label', 'The label the driver gives a sensor; always 1.', 1, {
        ...labels,
        label: cleanHwmonName(label),
      });
    }
    const bare = props.get('');
    if (parts.type === 'beep_enable') {
      out.gauge('node_hwmon_beep_enabled', 'Whether the chip beeps on alarms.', bare === '1' ? 1 : 0, labels);
      continue;
    }
    if (parts.type === 'vrm') {
      if (bare !== undefined && Number.isFinite(Number(bare))) {
        out.gauge('node_hwmon_voltage_regulator_version', 'Voltage regulator module version.', Number(bare), labels);
      }
      continue;
    }
    if (parts.type === 'update_interval') {
      if (bare !== undefined && Number.isFinite(Number(bare))) {
        out.gauge('node_hwmon_update_interval_seconds', 'How often the chip updates its readings.', Number(bare) / 1000, labels);
      }
      continue;
    }
    for (const [property, text] of props) {
      if (property === 'label') continue;
      const raw = Number(text);
      if (text === '' || !Number.isFinite(raw)) continue;
      const m = hwmonMetric(parts.type, property, props.has(''), raw);
      if (m) out.add(m.name, m.help, m.kind, m.value, labels);
    }
  }
}

export default defineCollector({
  name: 'hwmon',
  defaultEnabled: true,
  description: 'Hardware sensors (temperatures, voltages, fans, power) from /sys/class/hwmon.',
  options: ({ z, pattern }) => z.object({ chip_include: pattern().default(''), chip_exclude: pattern().default('') }).strict(),
  create: (_config, options) => {
    const accept = deviceFilter(options.chip_include, options.chip_exclude);
    return {
      async update(out, { roots }) {
        for (const chip of await readHwmon(roots)) {
          if (accept(chip.chip)) writeHwmonChip(out, chip);
        }
      },
    };
  },
});
