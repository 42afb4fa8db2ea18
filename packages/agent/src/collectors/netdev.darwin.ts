import { deviceFilter } from './filters.ts';
import type { NetdevOptions } from './netdev.linux.ts';
import { parseNetstatIbn } from './platform/darwin.ts';
import { type Host, realHost } from './platform/host.ts';
import { writeNetDev } from './platform/portable.ts';
import { type Collector, defineCollector } from './registry.ts';

export const darwinNetDev = (host: Host, accept: (device: string) => boolean = () => true): Collector => ({
  async update(out, { signal }) {
    writeNetDev(
      out,
      parseNetstatIbn(await host.run('/usr/sbin/netstat', ['-ibnd'], signal)).filter((d) => accept(d.device)),
    );
  },
});

export default defineCollector({
  name: 'netdev',
  defaultEnabled: true,
  description: 'Network interface counters from `netstat -ibnd`.',
  // Declared in netdev.linux.ts, so the keys are the same on every platform.
  create: ({ collector_options }) => {
    const options = collector_options.netdev as NetdevOptions;
    return darwinNetDev(realHost, deviceFilter(options.device_include, options.device_exclude));
  },
});
