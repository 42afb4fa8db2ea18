import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type AttributeReader,
  defaultRoots,
  NetClassDirs,
  openKernelFiles,
  procPath,
  readAttributes,
  readKernelFile,
  readNetClassIface,
  rootfsPath,
  sysPath,
} from '../src/procfs/index.ts';

const openFds = () => readdirSync('/proc/self/fd').length;

afterEach(() => openKernelFiles.clear());

describe('kernel files kept open between reads', () => {
  it('reads a procfs file afresh through the descriptor it keeps', async () => {
    const before = openKernelFiles.size;
    const first = readKernelFile('/proc/uptime');
    expect(openKernelFiles.size).toBe(before + 1);
    const fds = openFds();
    await new Promise((r) => setTimeout(r, 30));
    const second = readKernelFile('/proc/uptime');
    // No new descriptor for the second read, and the kernel generated the file again.
    expect(openFds()).toBe(fds);
    expect(Number(second.split(' ')[0])).toBeGreaterThan(Number(first.split(' ')[0]));
  });

  // Files the kernel writes in one show(), read once without the read at their end that would only
  // answer 0; the same text as `cat`, which reads on to 0 (values that move aside).
  it.each([
    ['/proc/meminfo'],
    ['/proc/stat'],
    ['/proc/loadavg'],
    ['/proc/net/netstat'],
    ['/proc/net/snmp'],
    ['/proc/net/snmp6'],
    ['/proc/net/sockstat'],
    ['/proc/sys/fs/file-nr'],
    ['/proc/self/limits'],
    ['/proc/pressure/cpu'],
  ])('reads %s whole in one read', (path) => {
    let cat: string;
    try {
      cat = execFileSync('cat', [path], { encoding: 'utf8' });
    } catch {
      return; // not on this kernel
    }
    const shape = (text: string) =>
      text.split('\n').map((line) =>
        line
          .split(/\s+/)
          .filter((w) => !/^[-0-9./]+$/.test(w))
          // key=value figures (/proc/pressure/*: avg10=.. total=..) change between reads too
          .map((w) => w.replace(/=.*$/, '='))
          .join(' '),
      );
    for (let read = 0; read < 3; read++) expect(shape(readKernelFile(path, true))).toEqual(shape(cat));
  });

  it('reads a long seq_file whole every time', () => {
    const whole = execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }).length;
    for (let i = 0; i < 3; i++) expect(readKernelFile('/proc/1/mountinfo').length).toBeGreaterThan(whole / 2);
    expect(readKernelFile('/proc/1/mountinfo')).toBe(readKernelFile('/proc/1/mountinfo'));
  });

  it('never keeps a file of an ordinary filesystem: a replaced fixture is read as it is now', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernel-files-'));
    try {
      const file = join(dir, 'stat');
      writeFileSync(file, 'old\n');
      const before = openKernelFiles.size;
      expect(readKernelFile(file)).toBe('old\n');
      expect(openKernelFiles.size).toBe(before);
      writeFileSync(`${file}.new`, 'new\n');
      renameSync(`${file}.new`, file);
      expect(readKernelFile(file)).toBe('new\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('joins paths under a root as path.join does', () => {
    const roots = { proc: '/proc', sys: '/sys/', rootfs: '/' };
    expect(procPath(roots, 'net/netstat')).toBe('/proc/net/netstat');
    expect(procPath(roots, '1', 'mounts')).toBe('/proc/1/mounts');
    expect(sysPath(roots, 'class/net', 'eth0')).toBe('/sys/class/net/eth0');
    expect(rootfsPath(roots, 'etc/os-release')).toBe('/etc/os-release');
    expect(procPath(roots)).toBe('/proc');
    for (const parts of [['..', 'etc'], ['/abs'], ['a/', 'b'], ['a//b'], ['']])
      expect(procPath(roots, ...parts)).toBe(join('/proc', ...parts));
    expect(procPath({ ...roots, proc: '/host/../proc' }, 'stat')).toBe('/proc/stat');
  });

  it('closes what it keeps when told to forget a directory', () => {
    readKernelFile('/proc/self/stat');
    readKernelFile('/proc/self/statm');
    const fds = openFds();
    openKernelFiles.forgetUnder('/proc/self');
    expect(openFds()).toBe(fds - 2);
  });
});

// Interfaces are made with iproute2 (ifb devices need no peer); the test is skipped where the
// process may not create links.
const suffix = String(process.pid % 100000);
const A = `fnA${suffix}`;
const B = `fnB${suffix}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
let canMakeLinks = true;
try {
  ip('link', 'add', A, 'type', 'ifb');
} catch {
  canMakeLinks = false;
}

describe.skipIf(!canMakeLinks)('a renamed network interface (real ifb links)', () => {
  afterAll(() => {
    for (const n of [A, B]) {
      try {
        ip('link', 'del', n);
      } catch {
        // not there
      }
    }
  });

  // Through the native helpers' per-interface descriptors, and through the generic kept files.
  it.each<[string, AttributeReader | undefined]>([
    ['native', undefined],
    ['javascript', readAttributes],
  ])('is read under its new name, and a new interface under the old name is read as itself (%s)', (_, read) => {
    try {
      ip('link', 'add', A, 'type', 'ifb');
    } catch {
      // made above for the first case
    }
    ip('link', 'set', A, 'mtu', '1400');
    // The directory's inode is checked at most once a second; the clock steps a second per read.
    let clock = 0;
    const dirs = new NetClassDirs(() => (clock += 1000));
    expect(readNetClassIface(defaultRoots, A, dirs, read).mtu).toBe(1400);
    expect(readNetClassIface(defaultRoots, A, dirs, read).mtu).toBe(1400);

    ip('link', 'set', A, 'name', B);
    ip('link', 'add', A, 'type', 'ifb');
    ip('link', 'set', A, 'mtu', '1300');
    expect(readNetClassIface(defaultRoots, A, dirs, read).mtu).toBe(1300);
    expect(readNetClassIface(defaultRoots, B, dirs, read).mtu).toBe(1400);

    // A change made through a kept descriptor's device shows on the next read.
    ip('link', 'set', B, 'mtu', '1280');
    expect(readNetClassIface(defaultRoots, B, dirs, read).mtu).toBe(1280);

    ip('link', 'del', B);
    expect(readNetClassIface(defaultRoots, B, dirs, read).mtu).toBeUndefined();
    ip('link', 'del', A);
  });
});
