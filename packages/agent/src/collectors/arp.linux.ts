import { countArpEntries, procPath, readRequired } from '../procfs/index.ts';
import { deviceFilter } from './filters.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'arp',
  defaultEnabled: true,
  description: 'ARP cache entries per interface from /proc/net/arp.',
  options: ({ deviceFilterOptions }) => deviceFilterOptions(''),
  create: (_config, options) => {
    const accept = deviceFilter(options.device_include, options.device_exclude);
    return {
      update(out, { roots }) {
        for (const [device, n] of countArpEntries(readRequired(procPath(roots, 'net/arp')))) {
          if (accept(device)) out.gauge('node_arp_entries', 'ARP cache entries for this interface.', n, { device });
        }
      },
    };
  },
});
