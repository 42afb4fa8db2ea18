import { type Host, realHost } from './platform/host.ts';
import { writeBootTime } from './platform/portable.ts';
import { type Collector, defineCollector } from './registry.ts';

export const darwinBootTime = (host: Host): Collector => ({
  update: (out) => writeBootTime(out, host.now(), host.uptime()),
});

export default defineCollector({
  name: 'boottime',
  defaultEnabled: true,
  description: 'When the system booted, from the uptime node:os reports.',
  create: () => darwinBootTime(realHost),
});
