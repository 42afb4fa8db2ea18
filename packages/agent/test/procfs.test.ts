import { describe, expect, it } from 'vitest';
import {
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  parseStat,
  parseUptime,
  unescapeMountField,
} from '../src/procfs/index.ts';

describe('parseStat', () => {
  it('reads per-CPU times in seconds and the kernel counters', () => {
    const s = parseStat('cpu  100 0 50 1000 5 0 1 0 0 0\ncpu0 100 0 50 1000 5 0 1 0 7 2\nctxt 42\nbtime 1700000000\nprocs_running 3\n');
    expect(s.cpus.get(0)).toMatchObject({ user: 1, system: 0.5, idle: 10, iowait: 0.05, guest: 0.07, guestNice: 0.02 });
    expect(s.ctxt).toBe(42);
    expect(s.btime).toBe(1_700_000_000);
    expect(s.procsRunning).toBe(3);
  });

  it('takes missing columns of an old kernel as zero', () => {
    const s = parseStat('cpu0 100 0 50 1000\n');
    expect(s.cpus.get(0)).toMatchObject({ user: 1, idle: 10, iowait: 0, steal: 0, guest: 0 });
  });

  it('keeps more than 64 CPUs apart', () => {
    const lines = Array.from({ length: 130 }, (_, i) => `cpu${i} ${i} 0 0 100 0 0 0 0 0 0`).join('\n');
    const s = parseStat(lines);
    expect(s.cpus.size).toBe(130);
    expect(s.cpus.get(129)?.user).toBeCloseTo(1.29);
  });
});

describe('parseMeminfo', () => {
  it('turns kB into bytes and keeps counts as they are', () => {
    const e = parseMeminfo('MemTotal:  1000 kB\nActive(anon):  10 kB\nHugePages_Total:   4\n');
    expect(e).toEqual([
      { key: 'MemTotal', value: 1_024_000, bytes: true },
      { key: 'Active(anon)', value: 10_240, bytes: true },
      { key: 'HugePages_Total', value: 4, bytes: false },
    ]);
  });
});

describe('parseLoadavg and parseUptime', () => {
  it('reads the three averages', () => {
    expect(parseLoadavg('0.20 0.18 0.12 1/80 11206\n')).toEqual({ load1: 0.2, load5: 0.18, load15: 0.12 });
  });
  it('names the file when its content is wrong', () => {
    expect(() => parseLoadavg('garbage')).toThrow(/\/proc\/loadavg/);
  });
  it('reads uptime', () => {
    expect(parseUptime('350735.47 234388.90\n').uptimeSeconds).toBe(350735.47);
  });
});

describe('parseMounts', () => {
  it('unescapes octal escapes in mount points', () => {
    expect(unescapeMountField('/mnt/with\\040space\\011tab\\134back')).toBe('/mnt/with space\ttab\\back');
    const [m] = parseMounts('/dev/sdb1 /mnt/with\\040space ext4 ro,relatime 0 0\n');
    expect(m).toEqual({ device: '/dev/sdb1', mountPoint: '/mnt/with space', fsType: 'ext4', options: ['ro', 'relatime'] });
  });
});

describe('parseDiskstats', () => {
  it('reads 11-, 15- and 17-counter lines', () => {
    const d = parseDiskstats(
      [
        '8 0 sda 1 2 3 4 5 6 7 8 9 10 11',
        '259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15',
        '253 0 dm-0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17',
      ].join('\n'),
    );
    expect(d[0]).toMatchObject({ device: 'sda', readsCompleted: 1, weightedIoTimeMs: 11 });
    expect(d[0]?.discardsCompleted).toBeUndefined();
    expect(d[1]).toMatchObject({ discardsCompleted: 12, discardTimeMs: 15 });
    expect(d[1]?.flushesCompleted).toBeUndefined();
    expect(d[2]).toMatchObject({ flushesCompleted: 16, flushTimeMs: 17 });
  });
});

describe('parseNetDev', () => {
  it('reads virtual and renamed interfaces', () => {
    const text = `Inter-|   Receive |  Transmit
 face |bytes packets|bytes
  eth0: 10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0
veth4b09a1f@if7: 5000 50 1 2 0 0 0 3 6000 60 0 0 0 0 0 0
`;
    const d = parseNetDev(text);
    expect(d.map((x) => x.device)).toEqual(['eth0', 'veth4b09a1f@if7']);
    expect(d[1]?.receive).toMatchObject({ bytes: 5000, errs: 1, drop: 2, multicast: 3 });
    expect(d[1]?.transmit.bytes).toBe(6000);
  });
});
