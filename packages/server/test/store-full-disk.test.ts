import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, pb, type Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { LogFilter } from '../src/logs/query.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { readSegment } from '../src/store/embedded/wal.ts';
import { StoreUnwritableError } from '../src/store/types.ts';

const SERIES = 200;
/** Report k is stamped BASE + k s. */
const BASE = Date.now() - 3_600_000;

function report(k: number): Sample[] {
  return Array.from({ length: SERIES }, (_, s) => ({
    name: 'full_test',
    labels: { s: String(s) },
    value: k + s / 1000,
    timestampMs: BASE + k * 1000,
  }));
}

/** Polls `cond` until true; the limit only guards against hanging, no speed is asserted. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const free = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

// A real full filesystem: a small tmpfs the test mounts (root only, as on the CI machines).
describe.skipIf(process.getuid?.() !== 0)('embedded store on a disk that fills', () => {
  let mnt: string;
  beforeAll(() => {
    mnt = tempDir('falconet-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });

  it('refuses writes while full, keeps what it acknowledged, and takes writes again once there is room', async () => {
    const dir = join(mnt, 'samples');
    const filler = join(mnt, 'filler');
    const warnings: string[] = [];
    const infos: string[] = [];
    const log = { info: (_: object, m: string) => infos.push(m), warn: (_: object, m: string) => warnings.push(m), error() {} };
    const opts = { dir, log, spaceCheckMs: 50, reserveBytes: 1024 * 1024, headMaxSamples: 1_000_000 };
    let store = await EmbeddedStore.open(opts);
    const acked: number[] = [];
    let k = 1;
    for (; k <= 5; k++) {
      await store.appendReport('a1', k, report(k));
      acked.push(k);
    }
    // Leave about 100 kB: a few reports of 200 samples (about 4 kB of log each) fit, then one is torn.
    mkdirSync(mnt, { recursive: true });
    writeFileSync(filler, Buffer.alloc(Math.max(0, free(mnt) - 100 * 1024)));
    let refused: unknown;
    for (; k < 1000; k++) {
      try {
        await store.appendReport('a1', k, report(k));
        acked.push(k);
      } catch (err) {
        refused = err;
        break;
      }
    }
    expect(refused).toBeInstanceOf(StoreUnwritableError);
    const message = store.unwritable() ?? '';
    expect(message).toMatch(new RegExp(`^server data directory is full: \\d+ bytes free on ${dir}$`));
    expect((await store.stats()).unwritable).toBe(message);
    // Refused again, whatever the sequence, and the refused report was not taken.
    await expect(store.appendReport('a1', k, report(k))).rejects.toBeInstanceOf(StoreUnwritableError);
    expect(await store.lastSeq('a1')).toBe(acked.at(-1));
    expect(warnings.some((w) => /data directory is full/.test(w))).toBe(true);
    // Reads go on while full.
    const [s0] = await store.querySeries({ agentId: 'a1', name: 'full_test', labels: { s: '0' }, fromMs: 0, toMs: Date.now() });
    for (const seq of acked) expect(s0?.points.some(([t]) => t === BASE + seq * 1000)).toBe(true);

    rmSync(filler);
    await until(() => store.unwritable() === undefined, 'the store to take writes again');
    expect(infos).toContain('store takes writes again: its data directory has room');
    // A frame the full disk tore (when the refused write got part way) was cut off on reopening:
    // every log segment is whole to its end.
    for (const f of readdirSync(join(dir, 'wal'))) {
      const { validBytes, size } = readSegment(join(dir, 'wal', f));
      expect(validBytes, f).toBe(size);
    }
    // The refused report and later ones go in now; an acknowledged one is a duplicate.
    for (let j = k; j < k + 5; j++) {
      expect(await store.appendReport('a1', j, report(j))).toEqual({ duplicate: false });
      acked.push(j);
    }
    expect(await store.appendReport('a1', 1, report(1))).toEqual({ duplicate: true });
    await store.close();

    // After a restart: every acknowledged report, each sample once, and the log replays cleanly.
    store = await EmbeddedStore.open({ dir });
    try {
      const series = await store.querySeries({ agentId: 'a1', name: 'full_test', fromMs: 0, toMs: Date.now() });
      expect(series.length).toBe(SERIES);
      let count = 0;
      let sum = 0;
      for (const s of series) {
        const times = s.points.map(([t]) => t);
        expect(new Set(times).size).toBe(times.length);
        count += s.points.length;
        for (const [, v] of s.points) sum += v;
      }
      const want = acked.reduce((n, seq) => n + report(seq).reduce((x, smp) => x + smp.value, 0), 0);
      expect(count).toBe(acked.length * SERIES);
      expect(sum).toBeCloseTo(want, 6);
      expect(await store.lastSeq('a1')).toBe(acked.at(-1));
      expect(readdirSync(join(dir, 'wal')).length).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('the log store refuses a batch the full disk cut short, keeps the lines it acknowledged, and takes the next once there is room', async () => {
    const dir = join(mnt, 'logs');
    const filler = join(mnt, 'filler-logs');
    const T0 = Date.now() - 60_000;
    const lines = (k: number) =>
      Array.from({ length: 50 }, (_, i) =>
        pb.LogRecord.fromPartial({
          timeMs: T0 + k,
          observedMs: T0 + k,
          source: 'app',
          level: LogLevel.LOG_LEVEL_INFO,
          message: `report ${k} line ${i} ${'x'.repeat(200)}`,
        }),
      );
    let store = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0 });
    const acked: number[] = [];
    let k = 1;
    for (; k <= 3; k++) {
      await store.appendReport('a1', 'h1', k, lines(k));
      acked.push(k);
    }
    writeFileSync(filler, Buffer.alloc(Math.max(0, free(mnt) - 64 * 1024)));
    let refused: unknown;
    for (; k < 1000; k++) {
      try {
        await store.appendReport('a1', 'h1', k, lines(k));
        acked.push(k);
      } catch (err) {
        refused = err;
        break;
      }
    }
    expect(refused).toBeInstanceOf(StoreUnwritableError);
    expect((refused as Error).message).toMatch(/^server log store is full: ENOSPC/);
    expect(await store.lastSeq('a1')).toBe(acked.at(-1));
    rmSync(filler);
    expect((await store.appendReport('a1', 'h1', k, lines(k))).duplicate).toBe(false);
    acked.push(k);
    await store.close();
    store = await EmbeddedLogStore.open({ dir, retentionMs: 0, maxBytes: 0 });
    try {
      const got: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.search({ filter: new LogFilter(''), fromMs: 0, toMs: Date.now() }, 500, cursor);
        got.push(...page.lines.map((l) => l.record.message));
        cursor = page.cursor;
      } while (cursor);
      const have = new Set(got.map((m) => Number(/^report (\d+)/.exec(m)?.[1])));
      expect(acked.filter((a) => !have.has(a))).toEqual([]);
      expect(got.length).toBe(acked.length * 50);
      expect(new Set(got).size).toBe(got.length);
      expect(await store.lastSeq('a1')).toBe(k);
    } finally {
      await store.close();
    }
  });
});
