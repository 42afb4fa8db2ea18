import { type Host, realHost } from './platform/host.ts';
import { writeLoad } from './platform/portable.ts';
import { type Collector, defineCollector } from './registry.ts';

export const darwinLoad = (host: Host): Collector => ({ update: (out) => writeLoad(out, host.loadavg()) });

export default defineCollector({
  name: 'loadavg',
  defaultEnabled: true,
  description: 'Load averages over 1, 5 and 15 minutes, from node:os.',
  create: () => darwinLoad(realHost),
});
