import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultRouteInterface, globalAddresses } from '../../../testing/host-network.ts';
import { tempDir } from '../../../testing/processes.ts';
import { describeHost, type HostNetwork, hostAddresses, isHostAddress, refreshAddresses, writeFileAtomic } from '../src/identity.ts';

/** An interface entry as os.networkInterfaces() gives it; only the address matters here. */
function addr(address: string, internal = false): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return {
    address,
    netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.255.0',
    family: v6 ? 'IPv6' : 'IPv4',
    mac: '02:00:00:00:00:01',
    internal,
    cidr: `${address}/${v6 ? 64 : 24}`,
    ...(v6 ? { scopeid: 0 } : {}),
  } as NetworkInterfaceInfo;
}

const LO = [addr('127.0.0.1', true), addr('::1', true)];

/** A host whose interfaces and routes the test writes; `routes` maps a destination to the source the kernel would pick. */
function network(interfaces: Record<string, NetworkInterfaceInfo[]>, routes: Record<string, string> = {}) {
  const asked: string[] = [];
  const net: HostNetwork = {
    interfaces: () => interfaces,
    routeSource: async (host) => {
      asked.push(host);
      return routes[host];
    },
  };
  return { net, asked };
}

const SERVER = { host: '10.1.0.9', port: 7071 };
const LOCAL_SERVER = { host: '127.0.0.1', port: 7071 };

describe('which addresses name the host', () => {
  it.each([
    ['10.0.0.5', true],
    ['192.0.2.2', true],
    ['2001:db8::5', true],
    ['fd00::2', true],
    ['127.0.0.1', false],
    ['127.1.2.3', false],
    ['::1', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.5', true],
    ['0.0.0.0', false],
    ['::', false],
    ['fe80::fc:ff:fe00:1', false],
    ['fe80::1%eth0', false],
    ['169.254.20.10', false],
    ['not an address', false],
  ])('%s: %s', (ip, expected) => {
    expect(isHostAddress(ip)).toBe(expected);
  });
});

describe("the agent's addresses", () => {
  const host = {
    lo: [...LO, addr('10.9.9.9', true)],
    eth0: [addr('10.1.0.5'), addr('2001:db8::5'), addr('fe80::fc:ff:fe00:1')],
    docker0: [addr('172.17.0.1'), addr('fe80::42:acff:fe11:1')],
    veth1a2b: [addr('fe80::b0c1:2ff:fe03:405')],
    nodelocaldns: [addr('169.254.20.10')],
    bond0: [addr('10.1.0.5')],
  };

  it('ips: every address that names the host, once, without loopback or link-local; a service address on lo counts, last', async () => {
    const { net } = network(host);
    expect((await hostAddresses(net)).ips).toEqual(['10.1.0.5', '2001:db8::5', '172.17.0.1', '10.9.9.9']);
  });

  it("primaryIp: the route towards the server's source, and nothing else asked", async () => {
    const { net, asked } = network(host, { [SERVER.host]: '10.1.0.5', '192.0.2.1': '172.17.0.1' });
    expect((await hostAddresses(net, SERVER)).primaryIp).toBe('10.1.0.5');
    expect(asked).toEqual([SERVER.host]);
  });

  it("a server on loopback: the default route's source, not 127.0.0.1", async () => {
    const { net, asked } = network(host, { [LOCAL_SERVER.host]: '127.0.0.1', '192.0.2.1': '10.1.0.5' });
    expect(await hostAddresses(net, LOCAL_SERVER)).toEqual({
      ips: ['10.1.0.5', '2001:db8::5', '172.17.0.1', '10.9.9.9'],
      primaryIp: '10.1.0.5',
    });
    // Answered by the default route: the IPv6 one is not asked.
    expect(asked).toEqual(['127.0.0.1', '192.0.2.1']);
    // ::1 and an IPv4-mapped loopback alike.
    expect((await hostAddresses(network(host, { '::1': '::1', '192.0.2.1': '10.1.0.5' }).net, { host: '::1', port: 7071 })).primaryIp).toBe(
      '10.1.0.5',
    );
    expect(
      (await hostAddresses(network(host, { [LOCAL_SERVER.host]: '::ffff:127.0.0.1', '192.0.2.1': '10.1.0.5' }).net, LOCAL_SERVER))
        .primaryIp,
    ).toBe('10.1.0.5');
  });

  it('a server reached over a link-local address: the default route, which names the host to others', async () => {
    const { net } = network(host, { 'fe80::1': 'fe80::fc:ff:fe00:1', '192.0.2.1': '10.1.0.5' });
    expect((await hostAddresses(net, { host: 'fe80::1', port: 7071 })).primaryIp).toBe('10.1.0.5');
  });

  it("no IPv4 default route: IPv6's", async () => {
    const { net, asked } = network(host, { '2001:db8::1': '2001:db8::5' });
    expect((await hostAddresses(net, LOCAL_SERVER)).primaryIp).toBe('2001:db8::5');
    expect(asked).toEqual(['127.0.0.1', '192.0.2.1', '2001:db8::1']);
  });

  it('no server and no default route: the first interface address that names the host', async () => {
    const { net } = network({ lo: LO, eth0: [addr('fe80::1'), addr('192.168.7.20'), addr('fd00::7')] });
    expect(await hostAddresses(net)).toEqual({ ips: ['192.168.7.20', 'fd00::7'], primaryIp: '192.168.7.20' });
  });

  it("no route at all: an interface's address before a service address on lo", async () => {
    const { net } = network({ lo: [...LO, addr('10.9.9.9', true)], eth0: [addr('192.168.7.20')] });
    expect(await hostAddresses(net, LOCAL_SERVER)).toEqual({ ips: ['192.168.7.20', '10.9.9.9'], primaryIp: '192.168.7.20' });
  });

  it('127.0.0.1 only when the host has nothing else', async () => {
    const { net } = network({ lo: LO, eth0: [addr('fe80::1')] }, { [LOCAL_SERVER.host]: '127.0.0.1' });
    expect(await hostAddresses(net, LOCAL_SERVER)).toEqual({ ips: [], primaryIp: '127.0.0.1' });
  });
});

describe('addresses read again while the agent runs', () => {
  it('a network that came up after the start replaces 127.0.0.1; unchanged addresses are no change', async () => {
    const interfaces: Record<string, NetworkInterfaceInfo[]> = { lo: LO };
    const routes: Record<string, string> = { [LOCAL_SERVER.host]: '127.0.0.1' };
    const { net } = network(interfaces, routes);
    const identity = await describeHost(tempDir('falconet-identity-'), LOCAL_SERVER, net);
    expect(identity).toMatchObject({ ips: [], primaryIp: '127.0.0.1' });
    expect(await refreshAddresses(identity, LOCAL_SERVER, net)).toBe(false);

    interfaces.eth0 = [addr('192.168.7.20')];
    routes['192.0.2.1'] = '192.168.7.20';
    expect(await refreshAddresses(identity, LOCAL_SERVER, net)).toBe(true);
    expect(identity).toMatchObject({ ips: ['192.168.7.20'], primaryIp: '192.168.7.20' });
    expect(await refreshAddresses(identity, LOCAL_SERVER, net)).toBe(false);

    // A new lease: another address, the primary with it.
    interfaces.eth0 = [addr('192.168.7.31')];
    routes['192.0.2.1'] = '192.168.7.31';
    expect(await refreshAddresses(identity, LOCAL_SERVER, net)).toBe(true);
    expect(identity).toMatchObject({ ips: ['192.168.7.31'], primaryIp: '192.168.7.31' });
  });
});

describe("this machine's own interfaces, with the server on loopback", () => {
  it('names the host by an address of its own, not 127.0.0.1, when it has one', async (ctx) => {
    const byInterface = globalAddresses();
    if (byInterface === undefined) return ctx.skip();
    const reference = [...byInterface.values()].flat();
    const id = await describeHost(tempDir('falconet-identity-'), LOCAL_SERVER);
    expect(new Set(id.ips)).toEqual(new Set(reference));
    if (reference.length === 0) return expect(id.primaryIp).toBe('127.0.0.1');
    expect(id.primaryIp).not.toBe('127.0.0.1');
    const dev = defaultRouteInterface();
    // With a default route, an address of its interface; without one, the first of the host's.
    expect(dev ? byInterface.get(dev) : id.ips.slice(0, 1)).toContain(id.primaryIp);
  });
});

describe('files the agent replaces whole', () => {
  it('on a full disk: the old content stays, no partial temporary file is left, and the error says ENOSPC', () => {
    // A real 64 KiB tmpfs (root, as CI runs), filled but for a few bytes.
    const dir = tempDir('falconet-atomic-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    try {
      const file = join(dir, 'jobs.json');
      writeFileAtomic(file, '{"old":true}\n');
      try {
        writeFileSync(join(dir, 'filler'), Buffer.alloc(1024 * 1024));
      } catch {
        // Filled to the last block.
      }
      expect(() => writeFileAtomic(file, 'x'.repeat(256 * 1024))).toThrow(/ENOSPC/);
      expect(readFileSync(file, 'utf8')).toBe('{"old":true}\n');
      expect(readdirSync(dir).sort()).toEqual(['filler', 'jobs.json']);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});
