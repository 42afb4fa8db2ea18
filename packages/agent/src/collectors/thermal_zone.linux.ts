import { readThermal } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'thermal_zone',
  defaultEnabled: true,
  description: 'Thermal zone temperatures and cooling device states from /sys/class/thermal.',
  create: () => ({
    async update(out, { roots }) {
      const { zones, cooling } = await readThermal(roots);
      for (const z of zones)
        out.gauge('node_thermal_zone_temp', 'Temperature of the thermal zone in degrees Celsius.', z.milliCelsius / 1000, {
          type: z.type,
          zone: z.zone,
        });
      for (const c of cooling)
        out.gauge('node_cooling_device_cur_state', 'Current throttle state of the cooling device.', c.curState, {
          name: c.name,
          type: c.type,
        });
      for (const c of cooling)
        out.gauge('node_cooling_device_max_state', 'Highest throttle state of the cooling device.', c.maxState, {
          name: c.name,
          type: c.type,
        });
    },
  }),
});
