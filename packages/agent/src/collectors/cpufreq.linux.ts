import { readCpuFreq } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

type Field = [name: string, help: string, key: 'curKHz' | 'minKHz' | 'maxKHz' | 'scalingCurKHz' | 'scalingMinKHz' | 'scalingMaxKHz'];

const FIELDS: Field[] = [
  ['node_cpu_frequency_hertz', 'Current CPU frequency as the hardware reports it.', 'curKHz'],
  ['node_cpu_frequency_min_hertz', 'Lowest frequency the CPU can run at.', 'minKHz'],
  ['node_cpu_frequency_max_hertz', 'Highest frequency the CPU can run at.', 'maxKHz'],
  ['node_cpu_scaling_frequency_hertz', 'Current CPU frequency as the scaling driver sets it.', 'scalingCurKHz'],
  ['node_cpu_scaling_frequency_min_hertz', 'Lowest frequency the scaling governor may choose.', 'scalingMinKHz'],
  ['node_cpu_scaling_frequency_max_hertz', 'Highest frequency the scaling governor may choose.', 'scalingMaxKHz'],
];

export default defineCollector({
  name: 'cpufreq',
  defaultEnabled: true,
  description: 'CPU frequencies and scaling governors from /sys/devices/system/cpu/cpu*/cpufreq.',
  create: () => ({
    update(out, { roots }) {
      const cpus = readCpuFreq(roots);
      for (const [name, help, key] of FIELDS) {
        for (const c of cpus) {
          const khz = c[key];
          if (khz !== undefined) out.gauge(name, help, khz * 1000, { cpu: c.cpu });
        }
      }
      for (const c of cpus) {
        for (const g of c.availableGovernors ?? []) {
          out.gauge('node_cpu_scaling_governor', 'Governors the CPU may use; 1 for the one in use.', g === c.governor ? 1 : 0, {
            cpu: c.cpu,
            governor: g,
          });
        }
      }
    },
  }),
});
