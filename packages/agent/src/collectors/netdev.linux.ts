import { NETDEV_RECEIVE, NETDEV_TRANSMIT, netClassDirsFor, parseNetDev, procPath, readRequired, readSysNumber } from '../procfs/index.ts';
import { deviceFilter } from './filters.ts';
import type { OptionKit } from './option-kit.ts';
import { defineCollector, type OptionsOf } from './registry.ts';

const HELP: Record<string, string> = {
  bytes: 'Bytes',
  packets: 'Packets',
  errs: 'Errors',
  drop: 'Packets dropped',
  fifo: 'FIFO overruns',
  frame: 'Framing errors',
  compressed: 'Compressed packets',
  multicast: 'Multicast packets',
  colls: 'Collisions',
  carrier: 'Carrier losses',
  nohandler: 'Packets no protocol handler took',
};

/** The netdev collector's options on every platform. */
const netdevOptions = ({ deviceFilterOptions }: OptionKit) => deviceFilterOptions('');

export type NetdevOptions = OptionsOf<typeof netdevOptions>;

export default defineCollector({
  name: 'netdev',
  defaultEnabled: true,
  description: 'Network interface counters from /proc/net/dev (and rx_nohandler from sysfs).',
  options: netdevOptions,
  create: (_config, options) => {
    const accept = deviceFilter(options.device_include, options.device_exclude);
    return {
      update(out, { roots }) {
        const devs = parseNetDev(readRequired(procPath(roots, 'net/dev'))).filter((d) => accept(d.device));
        for (const key of NETDEV_RECEIVE) {
          const name = `node_network_receive_${key}_total`;
          const help = `${HELP[key]} received.`;
          for (const d of devs) out.counter(name, help, d.receive[key], { device: d.device });
        }
        // Not in /proc/net/dev; node_exporter reads it over netlink, sysfs has the same counter.
        const dirs = netClassDirsFor(roots);
        for (const d of devs) {
          const v = readSysNumber(`${dirs.resolve(roots, d.device)}/statistics/rx_nohandler`);
          if (v !== undefined) out.counter('node_network_receive_nohandler_total', `${HELP.nohandler} received.`, v, { device: d.device });
        }
        for (const key of NETDEV_TRANSMIT) {
          const name = `node_network_transmit_${key}_total`;
          const help = `${HELP[key]} transmitted.`;
          for (const d of devs) out.counter(name, help, d.transmit[key], { device: d.device });
        }
      },
    };
  },
});
