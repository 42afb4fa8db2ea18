import { deviceFilter } from './filters.ts';
import type { NetdevOptions } from './netdev.linux.ts';
import { type Host, realHost } from './platform/host.ts';
import { writeNetDev } from './platform/portable.ts';
import { parseNetshSubinterfaces } from './platform/win32.ts';
import { type Collector, defineCollector } from './registry.ts';

export const win32NetDev = (host: Host, accept: (device: string) => boolean = () => true): Collector => ({
  async update(out, { signal }) {
    const devs = parseNetshSubinterfaces(await host.run('netsh', ['interface', 'ipv4', 'show', 'subinterfaces'], signal)).filter((d) =>
      accept(d.device),
    );
    writeNetDev(out, devs);
    for (const d of devs) out.gauge('node_network_mtu_bytes', 'Maximum transmission unit in bytes.', d.mtu, { device: d.device });
  },
});

export default defineCollector({
  name: 'netdev',
  defaultEnabled: true,
  description: 'Bytes in and out per interface from `netsh interface ipv4 show subinterfaces`.',
  // Declared in netdev.linux.ts, so the keys are the same on every platform.
  create: ({ collector_options }) => {
    const options = collector_options.netdev as NetdevOptions;
    return win32NetDev(realHost, deviceFilter(options.device_include, options.device_exclude));
  },
});
