import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { arch, hostname, networkInterfaces, platform, release, uptime } from 'node:os';
import { join } from 'node:path';
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
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The agent's stable id: made once and kept in the data directory. */
export function loadAgentId(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
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

function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal) out.push(a.address);
  }
  return out;
}

async function osName(procRoot: string): Promise<string> {
  const text = (await readOptional(join(procRoot, '..', 'etc', 'os-release'))) ?? (await readOptional('/etc/os-release'));
  const m = text && /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
  return m?.[1] ?? platform();
}

export async function describeHost(dataDir: string, server?: { host: string; port: number }): Promise<AgentIdentity> {
  const ips = interfaceAddresses();
  const primaryIp =
    (server && (await routeSourceAddress(server.host, server.port))) ?? (await routeSourceAddress('192.0.2.1', 9)) ?? ips[0] ?? '127.0.0.1';
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
