import { type Host, realHost } from './platform/host.ts';
import { writeCpuTimes } from './platform/portable.ts';
import { type Collector, defineCollector } from './registry.ts';

// Windows has no nice time; interrupt time is reported apart from system time.
export const win32Cpu = (host: Host): Collector => ({
  update: (out) => writeCpuTimes(out, host.cpus(), ['user', 'sys', 'idle', 'irq']),
});

export default defineCollector({
  name: 'cpu',
  defaultEnabled: true,
  description: 'Seconds each CPU spent in each mode, from node:os.',
  create: () => win32Cpu(realHost),
});
