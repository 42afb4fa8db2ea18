import { fields } from './fs.ts';
/** /proc/net/{tcp,tcp6,udp,udp6} socket tables and /proc/net/arp. */

/** TCP states by their number in the `st` column. */
export const TCP_STATES: Record<number, string> = {
  1: 'established',
  2: 'syn_sent',
  3: 'syn_recv',
  4: 'fin_wait1',
  5: 'fin_wait2',
  6: 'time_wait',
  7: 'close',
  8: 'close_wait',
  9: 'last_ack',
  10: 'listen',
  11: 'closing',
  12: 'new_syn_recv',
};

/** Counts sockets per state of one /proc/net/tcp(6) table into `counts`. */
export function countTcpStates(text: string, counts: Map<string, number>): void {
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const p = fields(lines[i] as string);
    if (p.length < 4) continue;
    const state = TCP_STATES[Number.parseInt(p[3] as string, 16)];
    if (state) counts.set(state, (counts.get(state) ?? 0) + 1);
  }
}

/** Sums the `tx_queue:rx_queue` column (hexadecimal bytes) of a /proc/net/udp(6) table. */
export function sumUdpQueues(text: string): { tx: number; rx: number } {
  let tx = 0;
  let rx = 0;
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const p = fields(lines[i] as string);
    if (p.length < 5) continue;
    const [t, r] = (p[4] as string).split(':');
    tx += Number.parseInt(t as string, 16) || 0;
    rx += Number.parseInt(r as string, 16) || 0;
  }
  return { tx, rx };
}

/** Counts ARP entries per device; the device is the last column. */
export function countArpEntries(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const p = fields(lines[i] as string);
    if (p.length === 0) continue;
    if (p[0] === 'IP') continue;
    if (p.length < 6) throw new Error(`line ${i + 1}: expected 6 columns, got ${p.length}`);
    const device = p[p.length - 1] as string;
    out.set(device, (out.get(device) ?? 0) + 1);
  }
  return out;
}
