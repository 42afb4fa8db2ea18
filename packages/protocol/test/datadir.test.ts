import { chmodSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { logDataDirCheck, secureDataDir } from '../src/datadir.ts';

const mode = (p: string) => statSync(p).mode & 0o7777;

describe.skipIf(process.platform === 'win32')('owner-only data directories', () => {
  it('makes a missing directory 0700 from the start', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'falconet-datadir-')), 'a', 'data');
    const check = secureDataDir(dir, () => true);
    expect(check).toEqual({ created: true, corrected: [], failed: [] });
    expect(mode(dir)).toBe(0o700);
  });

  it('closes what the program owns and leaves the rest alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'falconet-datadir-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'samples', 'parts'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'meta.db'), 'x', { mode: 0o644 });
    writeFileSync(join(dir, 'samples', 'parts', 'raw-1.part'), 'x', { mode: 0o640 });
    writeFileSync(join(dir, 'samples', 'series.log'), 'x', { mode: 0o600 });
    writeFileSync(join(dir, 'notes.txt'), 'not ours', { mode: 0o644 });
    // A link out of the directory is not followed: what it points at is not ours to change.
    const outside = join(mkdtempSync(join(tmpdir(), 'falconet-outside-')), 'f');
    writeFileSync(outside, 'x', { mode: 0o644 });
    symlinkSync(outside, join(dir, 'samples', 'link'));

    const check = secureDataDir(dir, (name) => name === 'meta.db' || name === 'samples');
    expect(check.failed).toEqual([]);
    expect(check.corrected.map((c) => [c.path.slice(dir.length), c.was, c.now]).sort()).toEqual(
      [
        ['', '0755', '0700'],
        ['/meta.db', '0644', '0600'],
        ['/samples', '0755', '0700'],
        ['/samples/parts', '0755', '0700'],
        ['/samples/parts/raw-1.part', '0640', '0600'],
      ].sort(),
    );
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'meta.db'))).toBe(0o600);
    expect(mode(join(dir, 'samples', 'parts', 'raw-1.part'))).toBe(0o600);
    expect(mode(join(dir, 'notes.txt'))).toBe(0o644);
    expect(mode(outside)).toBe(0o644);

    // Nothing left to do the second time.
    expect(secureDataDir(dir, () => true).corrected.map((c) => c.path)).toEqual([join(dir, 'notes.txt')]);
    expect(secureDataDir(dir, () => true).corrected).toEqual([]);

    const warnings: { obj: object; msg: string }[] = [];
    logDataDirCheck(dir, check, { warn: (obj, msg) => warnings.push({ obj, msg }) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      msg: 'data directory: files others could read, now owner-only',
      obj: { dataDir: dir, corrected: expect.arrayContaining([`${join(dir, 'meta.db')} 0644 -> 0600`]) },
    });
  });

  it('does not close a shared sticky directory, and says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'falconet-datadir-'));
    chmodSync(dir, 0o1777);
    const check = secureDataDir(dir, () => true);
    expect(mode(dir)).toBe(0o1777);
    expect(check.failed).toEqual([{ path: dir, mode: '01777', reason: expect.stringMatching(/sticky bit/) }]);
  });

  it('refuses a data directory that is a file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'falconet-datadir-')), 'data');
    writeFileSync(file, '');
    expect(() => secureDataDir(file, () => true)).toThrow(`${file}: the data directory is not a directory`);
  });
});
