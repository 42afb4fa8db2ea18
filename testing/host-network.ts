/**
 * This machine's addresses and default route as iproute2 reports them: the reference the
 * agent's own reading of its interfaces (os.networkInterfaces, route lookups) is held to.
 */
import { execFileSync } from 'node:child_process';

interface IpAddr {
  local: string;
  scope: string;
}

interface IpLink {
  ifname: string;
  addr_info?: IpAddr[];
}

function ipJson<T>(...args: string[]): T | undefined {
  try {
    return JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8' })) as T;
  } catch {
    return undefined;
  }
}

/** Addresses of global scope by interface (neither loopback nor link-local), or undefined without `ip`. */
export function globalAddresses(): Map<string, string[]> | undefined {
  const links = ipJson<IpLink[]>('addr', 'show');
  if (!links) return undefined;
  return new Map(links.map((l) => [l.ifname, (l.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => a.local)]));
}

/** The interface of the IPv4 default route, else of the IPv6 one. */
export function defaultRouteInterface(): string | undefined {
  for (const family of ['-4', '-6']) {
    const dev = ipJson<{ dev?: string }[]>(family, 'route', 'show', 'default')?.[0]?.dev;
    if (dev) return dev;
  }
  return undefined;
}
