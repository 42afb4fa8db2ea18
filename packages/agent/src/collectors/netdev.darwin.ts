import { deviceFilter } from './filters.ts';
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
  create: ({ collector_options: options }) =>
    darwinNetDev(realHost, deviceFilter(options.netdev.device_include, options.netdev.device_exclude)),
});
