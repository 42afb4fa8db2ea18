import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureRoots } from '../../../testing/procfs-fixtures.ts';
import {
  cleanHwmonName,
  countArpEntries,
  countTcpStates,
  explodeSensorFilename,
  listNetClass,
  NetClassDirs,
  parseConntrackStat,
  parseCpuinfo,
  parseFileNr,
  parseInterrupts,
  parseNetstat,
  parseOsRelease,
  parsePidStat,
  parsePosixZone,
  parsePressure,
  parseSchedstat,
  parseSingleNumber,
  parseSnmp6,
  parseSockstat,
  parseSoftnet,
  parseStat,
  parseUdevProperties,
  parseVmstat,
  readAttributes,
  readClocksources,
  readCpuFreq,
  readCpuThrottles,
  readHwmon,
  readKernelFile,
  readNetClassIface,
  readSysAttr,
  readThermal,
  SOFTIRQ_VECTORS,
  sumUdpQueues,
  tzifFooter,
  zoneAbbreviation,
} from '../src/procfs/index.ts';

const basic = fixtureRoots('basic');

describe('small /proc files', () => {
  it('vmstat keeps the kernel order', () => {
    expect(parseVmstat('nr_free_pages 123\npgfault 9\nbogus\n')).toEqual([
      ['nr_free_pages', 123],
      ['pgfault', 9],
    ]);
  });

  it('file-nr, and single numbers name the file when wrong', () => {
    expect(parseFileNr('1024\t0\t2466181\n')).toEqual({ allocated: 1024, maximum: 2466181 });
    expect(() => parseFileNr('x')).toThrow(/file-nr/);
    expect(parseSingleNumber('256\n', 'entropy_avail')).toBe(256);
    expect(() => parseSingleNumber('', '/proc/sys/kernel/random/entropy_avail')).toThrow(/entropy_avail: expected a number/);
  });

  it('pressure: some and full, totals in microseconds; a line without total is an error', () => {
    const p = parsePressure('some avg10=1.00 avg60=2.00 avg300=3.00 total=175374214\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n');
    expect(p.some?.totalMicroseconds).toBe(175374214);
    expect(p.full?.avg10).toBe(0);
    expect(() => parsePressure('some avg10=1.00 avg60=2.00 avg300=3.00\n')).toThrow(/lacks a numeric total/);
  });

  it('stat: softirq vectors in the kernel order, intr total only', () => {
    const s = parseStat('intr 100 1 2 3\nsoftirq 55 1 2 3 4 5 6 7 8 9 10\n');
    expect(s.intr).toBe(100);
    expect(s.softirqs?.length).toBe(SOFTIRQ_VECTORS.length);
    expect(s.softirqs?.[3]).toBe(4);
  });
});

describe('network tables', () => {
  it('netstat and snmp: header and value lines in pairs', () => {
    const f = parseNetstat('TcpExt: SyncookiesSent ListenDrops\nTcpExt: 1 7\nIpExt: InOctets\nIpExt: 99\n');
    expect(f).toEqual([
      { protocol: 'TcpExt', name: 'SyncookiesSent', value: 1 },
      { protocol: 'TcpExt', name: 'ListenDrops', value: 7 },
      { protocol: 'IpExt', name: 'InOctets', value: 99 },
    ]);
    expect(() => parseNetstat('TcpExt: A B\nTcpExt: 1\n')).toThrow(/line 2: TcpExt has 2 field names but 1 values/);
    expect(() => parseNetstat('TcpExt: A\nIpExt: 1\n')).toThrow(/same protocol/);
    expect(() => parseNetstat('TcpExt: A\n')).toThrow(/in pairs/);
  });

  it('snmp6: the protocol is the name up to its 6', () => {
    expect(parseSnmp6('Ip6InReceives                   \t1\nUdpLite6InErrors 4\nIcmp6OutMsgs 3\n')).toEqual([
      { protocol: 'Ip6', name: 'InReceives', value: 1 },
      { protocol: 'UdpLite6', name: 'InErrors', value: 4 },
      { protocol: 'Icmp6', name: 'OutMsgs', value: 3 },
    ]);
  });

  it('sockstat: used sockets apart, fields per protocol; odd field counts are errors', () => {
    const s = parseSockstat('sockets: used 174\nTCP: inuse 42 orphan 0 tw 41 alloc 45 mem 268\nFRAG: inuse 0 memory 0\n');
    expect(s.used).toBe(174);
    expect(s.protocols[0]).toEqual({
      protocol: 'TCP',
      fields: [
        ['inuse', 42],
        ['orphan', 0],
        ['tw', 41],
        ['alloc', 45],
        ['mem', 268],
      ],
    });
    expect(() => parseSockstat('TCP: inuse 4 mem\n')).toThrow(/line 1: TCP has an odd number/);
    expect(() => parseSockstat('TCP: inuse x\n')).toThrow(/inuse is "x"/);
  });

  it('softnet: CPU column on new kernels, row number on old ones', () => {
    const rows = parseSoftnet(
      '00000010 00000002 00000001 0 0 0 0 0 0 0 0 0 00000000 0 0\n00000020 00000000 00000009 0 0 0 0 0 0 0 0 0 00000003 0 0\n',
    );
    expect(rows).toEqual([
      { cpu: '0', processed: 16, dropped: 2, timeSqueezed: 1 },
      { cpu: '3', processed: 32, dropped: 0, timeSqueezed: 9 },
    ]);
    expect(parseSoftnet('0000000a 00000000 00000003 0 0 0 0 0 0 0\n0000000b 0 0 0 0 0 0 0 0 0\n').map((r) => r.cpu)).toEqual(['0', '1']);
  });

  it('conntrack statistics: hexadecimal, summed over CPUs', () => {
    const sums = parseConntrackStat('entries  found invalid\n00000021  00000010 00000005\n00000021  00000001 00000002\n');
    expect(sums.get('found')).toBe(17);
    expect(sums.get('invalid')).toBe(7);
    expect(() => parseConntrackStat('a b\n1\n')).toThrow(/line 2: 1 values for 2 fields/);
    expect(() => parseConntrackStat('a\nzz\n')).toThrow(/not hexadecimal/);
  });

  it('tcp states, udp queues and arp entries', () => {
    const counts = new Map<string, number>();
    countTcpStates('sl local rem st\n 0: 0100007F:71F5 00000000:0000 0A 0\n 1: x y 01 0\n 2: x y 01 0\n 3: x y 0C 0\n', counts);
    expect(Object.fromEntries(counts)).toEqual({ listen: 1, established: 2, new_syn_recv: 1 });
    expect(sumUdpQueues('sl local rem st tx:rx\n 0: a b 07 00000100:00000010 x\n 1: a b 07 00000001:00000000 x\n')).toEqual({
      tx: 257,
      rx: 16,
    });
    const arp = countArpEntries(
      'IP address HW type Flags HW address Mask Device\n1.1.1.1 0x1 0x2 aa:bb * eth0\n1.1.1.2 0x1 0x2 aa:bc * eth0\n2.2.2.2 0x1 0x2 aa:bd * br-1\n',
    );
    expect(Object.fromEntries(arp)).toEqual({ eth0: 2, 'br-1': 1 });
    expect(() => countArpEntries('IP address\n1.1.1.1 eth0\n')).toThrow(/line 2: expected 6 columns/);
  });

  it('interrupts: numbered lines split controller and devices, named ones keep their text, ERR/MIS skipped', () => {
    const i = parseInterrupts(
      '           CPU0       CPU1\n  0:         16          0   IO-APIC   2-edge      timer\nNMI:  3  4   Non-maskable interrupts\nERR:          0\n',
    );
    expect(i.cpus).toEqual(['0', '1']);
    expect(i.lines).toEqual([
      { name: '0', info: 'IO-APIC', devices: '2-edge timer', counts: [16, 0] },
      { name: 'NMI', info: 'Non-maskable interrupts', devices: '', counts: [3, 4] },
    ]);
  });

  it('schedstat: running and waiting nanoseconds and timeslices per CPU', () => {
    expect(parseSchedstat('version 15\ntimestamp 1\ncpu0 0 0 0 0 0 0 2000 500 10\ndomain0 3 0\n')).toEqual([
      { cpu: '0', runningNanoseconds: 2000, waitingNanoseconds: 500, timeslices: 10 },
    ]);
    expect(() => parseSchedstat('cpu0 1 2\n')).toThrow(/"cpu0" has 2 fields/);
  });
});

describe('identity files', () => {
  it('os-release: quotes and escapes', () => {
    const os = parseOsRelease('# comment\nNAME="Fedora \\"Linux\\""\nID=fedora\nVERSION_ID=\'39\'\n\nBROKEN\n');
    expect(os.get('NAME')).toBe('Fedora "Linux"');
    expect(os.get('ID')).toBe('fedora');
    expect(os.get('VERSION_ID')).toBe('39');
    expect(os.has('BROKEN')).toBe(false);
  });

  it('udev properties', () => {
    expect(Object.fromEntries(parseUdevProperties('S:disk/by-id/x\nE:ID_MODEL=Samsung\nE:ID_WWN=0x5002\n'))).toEqual({
      ID_MODEL: 'Samsung',
      ID_WWN: '0x5002',
    });
  });

  it('pid stat with a command holding spaces and parentheses', () => {
    expect(parsePidStat('42 (my (odd) proc) R 1 42 42 0 -1 4194304 100 0 0 0 5 6 0 0 20 0 2 0 100 1 2\n')).toEqual({
      state: 'R',
      numThreads: 2,
    });
    expect(() => parsePidStat('garbage')).toThrow(/unexpected stat/);
  });

  it('cpuinfo records', () => {
    const c = parseCpuinfo('processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: Y\n');
    expect(c.map((r) => r.get('model name'))).toEqual(['X', 'Y']);
  });

  it('time zones from the POSIX rule of a TZif footer', () => {
    const cet = parsePosixZone('CET-1CEST,M3.5.0,M10.5.0/3');
    expect(cet).toEqual({ std: 'CET', stdOffsetSeconds: 3600, dst: 'CEST' });
    expect(zoneAbbreviation(cet as NonNullable<typeof cet>, 3600)).toBe('CET');
    expect(zoneAbbreviation(cet as NonNullable<typeof cet>, 7200)).toBe('CEST');
    expect(parsePosixZone('<+0530>-5:30')).toEqual({ std: '+0530', stdOffsetSeconds: 19800 });
    expect(parsePosixZone('EST5EDT,M3.2.0,M11.1.0')?.stdOffsetSeconds).toBe(-18000);
    const file = Buffer.concat([Buffer.from('TZif2'), Buffer.alloc(60), Buffer.from('\nUTC0\n')]);
    expect(tzifFooter(file)).toBe('UTC0');
    expect(tzifFooter(Buffer.from('not a zone file at all, no magic here............'))).toBeUndefined();
  });
});

describe('sysfs trees', () => {
  it('reads kernel files whole, larger than the read buffer too', () => {
    expect(readKernelFile(join(basic.proc, 'net/netstat'))).toContain('TcpExt:');
    expect(readSysAttr(join(basic.sys, 'class/net/eth0/mtu'))).toBe('1500');
    expect(readSysAttr(join(basic.sys, 'class/net/veth4b09a1f/carrier'))).toBeUndefined();
  });

  it('net class: interfaces through their symlinks, bonding_masters is not one, unreadable attributes absent', () => {
    const names = listNetClass(basic);
    expect(names).toEqual(['enp0s31f6', 'eth0', 'lo', 'veth4b09a1f']);
    const dirs = new NetClassDirs();
    const eth0 = readNetClassIface(basic, 'eth0', dirs);
    expect(eth0).toMatchObject({
      name: 'eth0',
      operState: 'up',
      flags: 4099,
      devId: 0,
      speed: 1000,
      mtu: 1500,
      address: '52:54:00:12:34:56',
    });
    const veth = readNetClassIface(basic, 'veth4b09a1f', dirs);
    expect(veth.carrier).toBeUndefined();
    expect(veth.ifAlias).toBe('container link');
    expect(readNetClassIface(basic, 'enp0s31f6', dirs)).toMatchObject({ nameAssignType: 4, speed: -1, carrier: 0 });
    // Without the native helpers, the same through one read per attribute.
    expect(readNetClassIface(basic, 'eth0', new NetClassDirs(), readAttributes)).toEqual(eth0);
    expect(readNetClassIface(basic, 'veth4b09a1f', undefined, readAttributes)).toEqual(veth);
    // The resolved directory is kept; when it disappears (a rename), the link is resolved again.
    expect(dirs.resolve(basic, 'eth0')).toMatch(/devices\/pci0000:00\/0000:00:03.0\/net\/eth0$/);
  });

  it('cpufreq, thermal throttling and clock sources', () => {
    const f = readCpuFreq(basic);
    expect(f[1]).toMatchObject({ cpu: '1', curKHz: 1800001, governor: 'powersave', availableGovernors: ['performance', 'powersave'] });
    expect(readCpuThrottles(basic)).toEqual([
      { cpu: '0', packageId: '0', coreId: '0', coreThrottles: 5, packageThrottles: 12 },
      { cpu: '1', packageId: '0', coreId: '1', coreThrottles: 6, packageThrottles: 12 },
    ]);
    expect(readClocksources(basic)).toEqual([{ device: '0', available: ['tsc', 'hpet', 'acpi_pm'], current: 'tsc' }]);
    const none = fixtureRoots('old-kernel');
    expect(readCpuFreq(none)).toEqual([]);
    expect(readCpuThrottles(none)).toEqual([]);
    expect(readClocksources(none)).toEqual([]);
  });

  it('hwmon: stable chip names from the device path, sensors grouped by number', async () => {
    expect(explodeSensorFilename('temp1_crit_alarm')).toEqual({ type: 'temp', num: '1', property: 'crit_alarm' });
    expect(explodeSensorFilename('beep_enable')).toEqual({ type: 'beep_enable', num: '', property: '' });
    expect(explodeSensorFilename('pwm1')).toEqual({ type: 'pwm', num: '1', property: '' });
    expect(cleanHwmonName('Package id 0')).toBe('package_id_0');
    const chips = await readHwmon(basic);
    expect(chips.map((c) => [c.chip, c.chipName])).toEqual([
      ['platform_coretemp_0', 'coretemp'],
      ['platform_nct6775_656', 'nct6779'],
    ]);
    expect(chips[0]?.sensors.get('temp1')?.get('label')).toBe('Package id 0');
    expect(chips[1]?.sensors.get('fan1')?.get('input')).toBe('1180');
  });

  it('thermal zones and cooling devices', async () => {
    const t = await readThermal(basic);
    expect(t.zones).toEqual([
      { zone: '0', type: 'x86_pkg_temp', milliCelsius: 45000 },
      { zone: '1', type: 'acpitz', milliCelsius: 27800 },
    ]);
    expect(t.cooling).toEqual([{ name: '0', type: 'Processor', curState: 0, maxState: 3 }]);
  });
});
