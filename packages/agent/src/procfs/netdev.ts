import { fields } from './fs.ts';
/** /proc/net/dev: two header lines, then `iface: 8 receive counters 8 transmit counters`. */
export const NETDEV_RECEIVE = ['bytes', 'packets', 'errs', 'drop', 'fifo', 'frame', 'compressed', 'multicast'] as const;
export const NETDEV_TRANSMIT = ['bytes', 'packets', 'errs', 'drop', 'fifo', 'colls', 'carrier', 'compressed'] as const;

export interface NetDevStats {
  device: string;
  receive: Record<(typeof NETDEV_RECEIVE)[number], number>;
  transmit: Record<(typeof NETDEV_TRANSMIT)[number], number>;
}

export function parseNetDev(text: string): NetDevStats[] {
  const out: NetDevStats[] = [];
  for (const line of text.split('\n')) {
    const colon = line.lastIndexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const device = line.slice(0, colon).trim();
    const nums = fields(line.slice(colon + 1)).map(Number);
    if (!device || nums.length < 16) continue;
    const receive = {} as NetDevStats['receive'];
    const transmit = {} as NetDevStats['transmit'];
    NETDEV_RECEIVE.forEach((k, i) => {
      receive[k] = nums[i] as number;
    });
    NETDEV_TRANSMIT.forEach((k, i) => {
      transmit[k] = nums[i + 8] as number;
    });
    out.push({ device, receive, transmit });
  }
  return out;
}
