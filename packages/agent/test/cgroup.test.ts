import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureRoots } from '../../../testing/procfs-fixtures.ts';
import { detectCgroupLayout, parseFlatKeyed, parseLimit, parsePids, parseProcCgroup, workingSet } from '../src/procfs/cgroup.ts';
import { parseBlkioV1, readCgroupV1 } from '../src/procfs/cgroup-v1.ts';
import { parseCpuMax, parseIoStat, readCgroupV2, weightToShares } from '../src/procfs/cgroup-v2.ts';

const v2 = fixtureRoots('cgroup-v2');
const v1 = fixtureRoots('cgroup-v1');
const WEB = '4b5e57f6eb2f42b9039b3d1e13929295f231749c510cbe341cd68036d9af97e2';
const PAUSED = 'a7a9dc5bcf71adb2edc202814060a5ab6fca515382e9f1133dcc47d52d9090a2';

describe('cgroup file parsers', () => {
  it('flat keyed files, skipping what is not `key number`', () => {
    const m = parseFlatKeyed('usage_usec 10\nuser_usec 7\n\ngarbage\nsome avg10=0.00\n');
    expect([...m]).toEqual([
      ['usage_usec', 10],
      ['user_usec', 7],
    ]);
  });

  it('limits: max, v1 sentinels and -1 mean none', () => {
    expect(parseLimit('max\n')).toBeUndefined();
    expect(parseLimit('9223372036854771712\n')).toBeUndefined();
    expect(parseLimit('-1')).toBeUndefined();
    expect(parseLimit('134217728\n')).toBe(134217728);
    expect(parseLimit(undefined)).toBeUndefined();
  });

  it('cpu.max and cpu.weight', () => {
    expect(parseCpuMax('50000 100000\n')).toEqual({ quotaUs: 50000, periodUs: 100000 });
    expect(parseCpuMax('max 100000\n')).toEqual({ quotaUs: undefined, periodUs: 100000 });
    expect(weightToShares(1)).toBe(2);
    expect(weightToShares(10000)).toBe(262144);
    expect(weightToShares(100)).toBe(2597);
  });

  it('io.stat: a device per line, bytes and operations by cAdvisor operation name', () => {
    const d = parseIoStat('8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n259:1 rbytes=5 wbytes=6\nbad line\n');
    expect(d).toEqual([
      { major: 8, minor: 0, bytes: { Read: 1459200, Write: 314773504, Discard: 0 }, ops: { Read: 192, Write: 353, Discard: 0 } },
      { major: 259, minor: 1, bytes: { Read: 5, Write: 6 }, ops: {} },
    ]);
  });

  it('blkio (v1): ops by device, the Total lines dropped', () => {
    const m = parseBlkioV1('8:0 Read 10\n8:0 Write 20\n8:0 Total 30\n8:16 Read 1\nTotal 31\n');
    expect(m.get('8:0')).toEqual({ Read: 10, Write: 20 });
    expect(m.get('8:16')).toEqual({ Read: 1 });
    expect(parseBlkioV1('Total 0\n').size).toBe(0);
  });

  it('/proc/<pid>/cgroup for v1, v2 and hybrid lines', () => {
    expect(
      parseProcCgroup('12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n0::/system.slice/docker-abc.scope\n'),
    ).toEqual([
      { hierarchy: 12, controllers: ['pids'], path: '/docker/abc' },
      { hierarchy: 4, controllers: ['cpu', 'cpuacct'], path: '/docker/abc' },
      { hierarchy: 1, controllers: ['name=systemd'], path: '/x' },
      { hierarchy: 0, controllers: [], path: '/system.slice/docker-abc.scope' },
    ]);
  });

  it('pids and the working set', () => {
    expect(parsePids('12\n13\n\n')).toEqual([12, 13]);
    expect(parsePids(undefined)).toEqual([]);
    expect(workingSet(100, 30)).toBe(70);
    expect(workingSet(100, 300)).toBe(0);
    expect(workingSet(100, undefined)).toBe(100);
  });
});

describe('cgroup v2 on a fixture tree', () => {
  it('detects the unified hierarchy', async () => {
    expect(await detectCgroupLayout(v2)).toEqual({ version: 2, root: join(v2.sys, 'fs/cgroup') });
  });

  it('reads a limited, busy container as cAdvisor would', async () => {
    const s = await readCgroupV2(join(v2.sys, 'fs/cgroup'), `/system.slice/docker-${WEB}.scope`);
    expect(s.cpu).toEqual({
      usageSeconds: 48.213579,
      userSeconds: 40.112233,
      systemSeconds: 8.101346,
      periods: 3120,
      throttledPeriods: 1418,
      throttledSeconds: 70.211456,
      quotaUs: 50000,
      periodUs: 100000,
      shares: 2597,
    });
    expect(s.memory).toEqual({
      usage: 73998336,
      workingSet: 73998336 - 12582912,
      rss: 52428800,
      cache: 18874368,
      mappedFile: 4194304,
      swap: 0,
      failcnt: 7,
      maxUsage: 80740352,
      oomKills: 1,
      pgfault: 24567,
      pgmajfault: 12,
      limit: 134217728,
      swapLimit: undefined,
      reservation: 0,
    });
    expect(s.io).toHaveLength(2);
    expect(s.io[0]).toMatchObject({ major: 8, minor: 0, bytes: { Read: 1459200, Write: 314773504 }, ops: { Read: 192, Write: 353 } });
    expect(s.pids).toEqual({ current: 3, limit: 512 });
    expect(s.frozen).toBe(false);
    expect(s.procs).toEqual([4242, 4301, 4302]);
  });

  it('reads a paused container without limits', async () => {
    const s = await readCgroupV2(join(v2.sys, 'fs/cgroup'), `/system.slice/docker-${PAUSED}.scope`);
    expect(s.frozen).toBe(true);
    expect(s.memory?.limit).toBeUndefined();
    expect(s.cpu?.quotaUs).toBeUndefined();
    expect(s.pids).toEqual({ current: 1, limit: undefined });
    expect(s.io).toEqual([]);
  });

  it('a cgroup that is gone reads as empty, not as an error', async () => {
    const s = await readCgroupV2(join(v2.sys, 'fs/cgroup'), '/system.slice/docker-gone.scope');
    expect(s).toEqual({ io: [], procs: [] });
  });
});

describe('cgroup v1 on a fixture tree', () => {
  it('detects one directory per hierarchy, cpu and cpuacct through their symlinks', async () => {
    const layout = await detectCgroupLayout(v1);
    expect(layout?.version).toBe(1);
    if (layout?.version !== 1) return;
    const base = join(v1.sys, 'fs/cgroup');
    expect(layout.controllers.get('cpuacct')).toBe(join(base, 'cpuacct'));
    expect(layout.controllers.get('memory')).toBe(join(base, 'memory'));
    expect(layout.controllers.get('blkio')).toBe(join(base, 'blkio'));
  });

  it('reads a Docker container: cpuacct in USER_HZ, swap from memsw, throttle blkio when CFQ is empty', async () => {
    const layout = await detectCgroupLayout(v1);
    if (layout?.version !== 1) throw new Error('expected v1');
    const s = await readCgroupV1(layout.controllers, `/docker/${WEB}`);
    expect(s.cpu).toEqual({
      usageSeconds: 13.372899533,
      userSeconds: 13.19,
      systemSeconds: 0.17,
      periods: 268,
      throttledPeriods: 266,
      throttledSeconds: 13.045567074,
      quotaUs: 50000,
      periodUs: 100000,
      shares: 1024,
    });
    expect(s.memory).toMatchObject({
      usage: 43421696,
      workingSet: 43421696 - 41943040,
      rss: 53248,
      cache: 41947136,
      swap: 0,
      failcnt: 3,
      maxUsage: 44040192,
      oomKills: 0,
      limit: 67108864,
      swapLimit: 134217728,
      reservation: undefined,
    });
    expect(s.io).toEqual([
      {
        major: 8,
        minor: 0,
        bytes: { Read: 1459200, Write: 314773504, Sync: 300000000, Async: 16232704, Discard: 0 },
        ops: { Read: 192, Write: 353, Sync: 300, Async: 245, Discard: 0 },
      },
    ]);
    expect(s.pids).toEqual({ current: 2, limit: undefined });
    expect(s.frozen).toBe(false);
    expect(s.procs).toEqual([4242, 4301]);
  });
});
