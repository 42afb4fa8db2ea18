import type { MetricWriter } from '../metrics.ts';
import { listNetClass, type NetClassIface, netClassDirsFor, readNetClassIface } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

type Field = [suffix: string, help: string, type: 'gauge' | 'counter', value: (i: NetClassIface) => number | undefined];

const FIELDS: Field[] = [
  ['address_assign_type', 'How the hardware address was assigned (addr_assign_type).', 'gauge', (i) => i.addrAssignType],
  ['carrier', 'Whether the link has a carrier.', 'gauge', (i) => i.carrier],
  ['carrier_changes_total', 'Times the carrier changed.', 'counter', (i) => i.carrierChanges],
  ['carrier_up_changes_total', 'Times the carrier came up.', 'counter', (i) => i.carrierUpCount],
  ['carrier_down_changes_total', 'Times the carrier went down.', 'counter', (i) => i.carrierDownCount],
  ['device_id', 'Port number on a device with several ports (dev_id).', 'gauge', (i) => i.devId],
  ['dormant', 'Whether the interface is dormant.', 'gauge', (i) => i.dormant],
  ['flags', 'Interface flags (IFF_*) as a number.', 'gauge', (i) => i.flags],
  ['iface_id', 'Interface index (ifindex).', 'gauge', (i) => i.ifIndex],
  ['iface_link', 'Index of the interface this one is linked to (iflink).', 'gauge', (i) => i.ifLink],
  ['iface_link_mode', 'Link mode (link_mode).', 'gauge', (i) => i.linkMode],
  ['mtu_bytes', 'Maximum transmission unit in bytes.', 'gauge', (i) => i.mtu],
  ['name_assign_type', 'How the interface name was assigned (name_assign_type).', 'gauge', (i) => i.nameAssignType],
  ['net_dev_group', 'Network device group.', 'gauge', (i) => i.netDevGroup],
];

const TAIL: Field[] = [
  ['transmit_queue_length', 'Transmit queue length (tx_queue_len).', 'gauge', (i) => i.txQueueLen],
  ['protocol_type', 'Link layer type (ARPHRD_*).', 'gauge', (i) => i.type],
];

function writeFields(out: MetricWriter, fields: Field[], ifaces: NetClassIface[]): void {
  for (const [suffix, help, type, value] of fields) {
    for (const i of ifaces) {
      const v = value(i);
      if (v !== undefined) out.add(`node_network_${suffix}`, help, type, v, { device: i.name });
    }
  }
}

export default defineCollector({
  name: 'netclass',
  defaultEnabled: true,
  description: 'Network interface state and settings (up, carrier, MTU, speed) from /sys/class/net.',
  create: ({ collector_options: options }) => {
    const ignored = new RegExp(options.netclass.ignored_devices);
    const ignoreInvalidSpeed = options.netclass.ignore_invalid_speed;
    return {
      update(out, { roots }) {
        const names = listNetClass(roots).filter((n) => !ignored.test(n));
        const dirs = netClassDirsFor(roots);
        dirs.retain(roots, names);
        const ifaces = names.map((n) => readNetClassIface(roots, n, dirs));
        for (const i of ifaces) {
          out.gauge('node_network_up', 'Whether the operational state is "up".', i.operState === 'up' ? 1 : 0, { device: i.name });
        }
        for (const i of ifaces) {
          out.gauge('node_network_info', 'Addresses and state of the interface; always 1.', 1, {
            address: i.address ?? '',
            broadcast: i.broadcast ?? '',
            device: i.name,
            duplex: i.duplex ?? '',
            ifalias: i.ifAlias ?? '',
            operstate: i.operState ?? '',
          });
        }
        writeFields(out, FIELDS, ifaces);
        for (const i of ifaces) {
          if (i.speed === undefined || (i.speed < 0 && ignoreInvalidSpeed)) continue;
          // Mbit/s to bytes/s; -1 (unknown) comes out as -125000, as node_exporter reports it.
          out.gauge('node_network_speed_bytes', 'Link speed in bytes per second.', Math.trunc((i.speed * 1_000_000) / 8), {
            device: i.name,
          });
        }
        writeFields(out, TAIL, ifaces);
      },
    };
  },
});
