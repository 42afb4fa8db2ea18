import { type Host, realHost } from './platform/host.ts';
import { writeMemory } from './platform/portable.ts';
import { type Collector, defineCollector } from './registry.ts';

export const darwinMemory = (host: Host): Collector => ({
  update: (out) => writeMemory(out, host.totalmem(), host.freemem()),
});

export default defineCollector({
  name: 'meminfo',
  defaultEnabled: true,
  description: 'Total and free physical memory, from node:os.',
  create: () => darwinMemory(realHost),
});
