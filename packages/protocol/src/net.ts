import { BlockList, isIP } from 'node:net';

/**
 * Which names and addresses never leave this machine: what the server answers without sign-in
 * before the first user, what an agent may dial in plaintext, where a tokenless agent may connect
 * from. One answer for every side, so none of them is more trusting than another.
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether an IP address is loopback: 127.0.0.0/8 or ::1, in any spelling (`0:0:0:0:0:0:0:1`),
 * and IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as the IPv4 address it maps. Names are not addresses.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether a host (a name or an address, an IPv6 one bracketed or not, no port) is `localhost` or a loopback address. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase() === 'localhost' || isLoopbackAddress(bare);
}

/** The host of `HOST:PORT` or `HOST` (a Host header, a peer): `[::1]:7070` is `::1`; text of another shape is returned as it is. */
export function hostOf(authority: string): string {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::\d*)?$/.exec(authority);
  return m ? ((m[1] ?? m[2]) as string) : authority;
}
