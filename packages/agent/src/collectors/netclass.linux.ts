import type { MetricWriter } from '../metrics.ts';
import { listNetClass, type NetClassIface, netClassDirsFor, readNetClassIface } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

type Field = [name: string, help: string, type: 'gauge' | 'counter', value: (i: NetClassIface) => number | undefined];

const FIELDS: Field[] = [
  ['node_network_address_assign_type', 'How the hardware address was assigned (addr_assign_type).', 'gauge', (i) => i.addrAssignType],
  ['node_network_carrier', 'Whether the link has a carrier.', 'gauge', (i) => i.carrier],
  ['node_network_carrier_changes_total', 'Times the carrier changed.', 'counter', (i) => i.carrierChanges],
  ['node_network_carrier_up_changes_total', 'Times the carrier came up.', 'counter', (i) => i.carrierUpCount],
  ['node_network_carrier_down_changes_total', 'Times the carrier went down.', 'counter', (i) => i.carrierDownCount],
  ['node_network_device_id', 'Port number on a device with several ports (dev_id).', 'gauge', (i) => i.devId],
  ['node_network_dormant', 'Whether the interface is dormant.', 'gauge', (i) => i.dormant],
  ['node_network_flags', 'Interface flags (IFF_*) as a number.', 'gauge', (i) => i.flags],
  ['node_network_iface_id', 'Interface index (ifindex).', 'gauge', (i) => i.ifIndex],
  ['node_network_iface_link', 'Index of the interface this one is linked to (iflink).', 'gauge', (i) => i.ifLink],
  ['node_network_iface_link_mode', 'Link mode (link_mode).', 'gauge', (i) => i.linkMode],
  ['node_network_mtu_bytes', 'Maximum transmission unit in bytes.', 'gauge', (i) => i.mtu],
  ['node_network_name_assign_type', 'How the interface name was assigned (name_assign_type).', 'gauge', (i) => i.nameAssignType],
  ['node_network_net_dev_group', 'Network device group.', 'gauge', (i) => i.netDevGroup],
];

const TAIL: Field[] = [
  ['node_network_transmit_queue_length', 'Transmit queue length (tx_queue_len).', 'gauge', (i) => i.txQueueLen],
  ['node_network_protocol_type', 'Link layer type (ARPHRD_*).', 'gauge', (i) => i.type],
];

/** Indexed loops and one label object per interface: each for-of step allocates where the agent runs (no optimizing compiler). */
function writeFields(out: MetricWriter, fields: Field[], ifaces: NetClassIface[], labels: { device: string }[]): void {
  for (let f = 0; f < fields.length; f++) {
    // Read by index: destructuring an array goes through its iterator too.
    const field = fields[f] as Field;
    for (let n = 0; n < ifaces.length; n++) {
      const v = field[3](ifaces[n] as NetClassIface);
      if (v !== undefined) out.add(field[0], field[1], field[2], v, labels[n] as { device: string });
    }
  }
}

export default defineCollector({
  name: 'netclass',
  defaultEnabled: true,
  description: 'Network interface state and settings (up, carrier, MTU, speed) from /sys/class/net.',
  options: ({ z, pattern }) =>
    z.object({ ignored_devices: pattern().default('^$'), ignore_invalid_speed: z.boolean().default(false) }).strict(),
  create: (_config, options) => {
    const ignored = new RegExp(options.ignored_devices);
    const ignoreInvalidSpeed = options.ignore_invalid_speed;
    return {
      update(out, { roots }) {
        const names = listNetClass(roots).filter((n) => !ignored.test(n));
        const dirs = netClassDirsFor(roots);
        dirs.retain(roots, names);
        const ifaces = names.map((n) => readNetClassIface(roots, n, dirs));
        // Shared by the interface's series: label sets are only read once written.
        const labels = ifaces.map((i) => ({ device: i.name }));
        for (let n = 0; n < ifaces.length; n++) {
          const i = ifaces[n] as NetClassIface;
          out.gauge(
            'node_network_up',
            'Whether the operational state is "up".',
            i.operState === 'up' ? 1 : 0,
            labels[n] as { device: string },
          );
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
        writeFields(out, FIELDS, ifaces, labels);
        for (let n = 0; n < ifaces.length; n++) {
          const i = ifaces[n] as NetClassIface;
          if (i.speed === undefined || (i.speed < 0 && ignoreInvalidSpeed)) continue;
          // Mbit/s to bytes/s; -1 (unknown) comes out as -125000, as node_exporter reports it.
          out.gauge(
            'node_network_speed_bytes',
            'Link speed in bytes per second.',
            Math.trunc((i.speed * 1_000_000) / 8),
            labels[n] as { device: string },
          );
        }
        writeFields(out, TAIL, ifaces, labels);
      },
    };
  },
});
