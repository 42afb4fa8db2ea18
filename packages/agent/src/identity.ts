import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { arch, hostname, type NetworkInterfaceInfo, networkInterfaces, platform, release, uptime } from 'node:os';
import { join } from 'node:path';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import { readOptional } from './procfs/fs.ts';

export interface AgentIdentity {
  agentId: string;
  hostname: string;
  ips: string[];
  primaryIp: string;
  os: string;
  kernel: string;
  arch: string;
  platform: string;
  bootTimeMs: number;
}

/** Writes a file so a crash leaves either the old or the new content, never half of one. */
export function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      writeFileSync(fd, data);
      // On disk before it takes the old file's place: a crash leaves the old file or the new, whole.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    // A full disk leaves a partial temporary file behind otherwise, holding what little space is left.
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The agent's stable id: made once and kept in the data directory. */
export function loadAgentId(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const file = join(dataDir, 'agent-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9._-]{1,128}$/.test(id)) return id;
  } catch {
    // first start
  }
  const id = randomUUID();
  writeFileAtomic(file, `${id}\n`);
  return id;
}

/** The local address of the route towards `host`: a connected UDP socket sends nothing. */
export async function routeSourceAddress(host: string, port: number): Promise<string | undefined> {
  const family = host.includes(':') ? 'udp6' : 'udp4';
  const sock = createSocket(family);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(port, host, () => resolve());
    });
    return sock.address().address;
  } catch {
    return undefined;
  } finally {
    sock.close();
  }
}

/** The host's network as the agent's identity reads it; tests give their own. */
export interface HostNetwork {
  interfaces(): NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** The local address the kernel would send from towards host:port; undefined without a route. */
  routeSource(host: string, port: number): Promise<string | undefined>;
}

const SYSTEM_NETWORK: HostNetwork = { interfaces: networkInterfaces, routeSource: routeSourceAddress };

/** Documentation ranges, which no network should hold: the route towards them is the default route. */
const DEFAULT_ROUTE_PROBES = ['192.0.2.1', '2001:db8::1'];

/**
 * Addresses that do not tell hosts apart: loopback, unspecified, and link-local. Link-local is
 * left out in both families: every IPv6 interface has an fe80:: address (one per veth on a
 * container host), none is reachable beyond its link or dialled without a zone, and a 169.254
 * address such as node-local DNS's is the same on every node. A user looking a host up by address
 * wants the ones other machines reach it at.
 */
const NOT_A_HOST_ADDRESS = new BlockList();
NOT_A_HOST_ADDRESS.addSubnet('127.0.0.0', 8, 'ipv4');
NOT_A_HOST_ADDRESS.addSubnet('169.254.0.0', 16, 'ipv4');
NOT_A_HOST_ADDRESS.addAddress('0.0.0.0', 'ipv4');
NOT_A_HOST_ADDRESS.addAddress('::1', 'ipv6');
NOT_A_HOST_ADDRESS.addAddress('::', 'ipv6');
NOT_A_HOST_ADDRESS.addSubnet('fe80::', 10, 'ipv6');

/** Whether an address names this host to others (IPv4-mapped IPv6 is judged as the IPv4 it maps). */
export function isHostAddress(address: string): boolean {
  const ip = address.split('%')[0] as string;
  const family = isIP(ip);
  if (family === 0) return false;
  return !NOT_A_HOST_ADDRESS.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The host's addresses for its identity: `ips`, every address of its interfaces that names it
 * (isHostAddress; by address, so a service address on `lo` counts), and `primaryIp`, the one the
 * server most likely sees: the source of the route towards the server, unless that is loopback
 * (a server on the same host) or another address that names no host, then the source of the
 * default route (IPv4 first), then the first of `ips`, and 127.0.0.1 only on a host with nothing else.
 */
export async function hostAddresses(
  net: HostNetwork,
  server?: { host: string; port: number },
): Promise<{ ips: string[]; primaryIp: string }> {
  const entries = Object.values(net.interfaces()).flatMap((addrs) => addrs ?? []);
  // A service address on the loopback interface last, so it is the primary only on a host with nothing else.
  const ordered = [...entries.filter((a) => !a.internal), ...entries.filter((a) => a.internal)];
  const ips = [...new Set(ordered.map((a) => a.address))].filter(isHostAddress);
  const targets = [...(server ? [server] : []), ...DEFAULT_ROUTE_PROBES.map((host) => ({ host, port: 9 }))];
  for (const t of targets) {
    const source = await net.routeSource(t.host, t.port);
    if (source !== undefined && isHostAddress(source)) return { ips, primaryIp: source };
  }
  return { ips, primaryIp: ips[0] ?? '127.0.0.1' };
}

/** How often a running agent reads its addresses again (and before every connection to the server). */
export const ADDRESS_CHECK_MS = 60_000;

/**
 * Reads the host's addresses again into `identity`; true when they changed. An agent started
 * before its network was up registered 127.0.0.1 and would keep it; one whose address changed
 * (DHCP, a laptop on another network) would keep the old one.
 */
export async function refreshAddresses(
  identity: AgentIdentity,
  server?: { host: string; port: number },
  network: HostNetwork = SYSTEM_NETWORK,
): Promise<boolean> {
  const { ips, primaryIp } = await hostAddresses(network, server);
  if (primaryIp === identity.primaryIp && ips.length === identity.ips.length && ips.every((ip, i) => identity.ips[i] === ip)) {
    return false;
  }
  identity.ips = ips;
  identity.primaryIp = primaryIp;
  return true;
}

async function osName(procRoot: string): Promise<string> {
  const text = (await readOptional(join(procRoot, '..', 'etc', 'os-release'))) ?? (await readOptional('/etc/os-release'));
  const m = text && /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
  return m?.[1] ?? platform();
}

export async function describeHost(
  dataDir: string,
  server?: { host: string; port: number },
  network: HostNetwork = SYSTEM_NETWORK,
): Promise<AgentIdentity> {
  const { ips, primaryIp } = await hostAddresses(network, server);
  return {
    agentId: loadAgentId(dataDir),
    hostname: hostname(),
    ips,
    primaryIp,
    os: await osName('/proc'),
    kernel: release(),
    arch: arch(),
    platform: platform(),
    bootTimeMs: Math.round(Date.now() - uptime() * 1000),
  };
}
