import { type Host, realHost } from './platform/host.ts';
import { writeCpuTimes } from './platform/portable.ts';
import { type Collector, defineCollector } from './registry.ts';

export const darwinCpu = (host: Host): Collector => ({
  update: (out) => writeCpuTimes(out, host.cpus(), ['user', 'nice', 'sys', 'idle']),
});

export default defineCollector({
  name: 'cpu',
  defaultEnabled: true,
  description: 'Seconds each CPU spent in each mode, from node:os.',
  create: () => darwinCpu(realHost),
});
