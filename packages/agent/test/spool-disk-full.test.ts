import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PayloadEncoding } from '@falconet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { capturedLog } from '../../../testing/log-capture.ts';
import type { SpooledReport } from '../src/transport/backlog.ts';
import { Spool } from '../src/transport/spool.ts';

// A real full disk: a small tmpfs (mounting needs root, as CI runs). No fake file system could
// show what write(2) really does when the room runs out mid-record.
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) execFileSync('umount', ['-l', m]);
});

function smallDisk(kib: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'falconet-spool-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Fills the disk under `dir` to the last byte with one file, then gives back `freePages` pages of it. */
function fill(dir: string, freePages = 0): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 << 10, 0x5a);
  let size = 0;
  for (const step of [64 << 10, 4096, 1]) {
    for (;;) {
      try {
        const n = writeSync(fd, chunk, 0, step);
        size += n;
        if (n < step) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        break;
      }
    }
  }
  closeSync(fd);
  if (freePages) truncateSync(file, Math.max(0, size - freePages * 4096));
  return file;
}

/** The spool's log lines, at info as the agent runs it. */
const capture = () => capturedLog<Record<string, unknown> & { msg: string }>('info');

/** Bytes that say which report they belong to and do not compress. */
function report(seq: number, size: number): SpooledReport {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (seq * 131 + i * 7 + (i >> 8)) & 255;
  return { seq, createdMs: Date.now(), sampleCount: 10, encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP, payload };
}

async function readAll(spool: Spool): Promise<SpooledReport[]> {
  const reader = spool.reader(0);
  const out: SpooledReport[] = [];
  for (let r = await reader.next(); r; r = await reader.next()) out.push(r);
  reader.close();
  return out;
}

const fullLines = (lines: Record<string, unknown>[]) => lines.filter((l) => String(l.msg).startsWith("the spool's disk"));

describe('Spool on a full disk (real tmpfs)', () => {
  it('drops its oldest reports to make room, counts them, logs once, and keeps every report it still holds intact', async () => {
    const disk = smallDisk(256);
    const dir = join(disk, 'spool');
    mkdirSync(dir);
    const { log, lines } = capture();
    const spool = await Spool.open({ dir, maxBytes: 64 << 20, maxAgeMs: 86_400_000, segmentBytes: 16 << 10, log });
    for (let seq = 1; seq <= 40; seq++) await spool.append([report(seq, 1500)]);
    // Leave one page: the next records are written in part (a short write) before the disk says ENOSPC.
    fill(disk, 1);
    for (let seq = 41; seq <= 200; seq++) await spool.append([report(seq, 3000)]);
    const s = spool.stats;
    expect(s.droppedByDiskFull).toBeGreaterThan(0);
    expect(s.pendingReports + s.droppedByDiskFull).toBe(200);
    expect(s.droppedSamples).toBe(s.droppedByDiskFull * 10);
    expect(spool.lastSeq).toBe(200);
    const held = await readAll(spool);
    expect(held.length).toBe(s.pendingReports);
    // What is left is the newest reports, in order, without a gap, each byte for byte as appended.
    expect(held.map((r) => r.seq)).toEqual(Array.from({ length: held.length }, (_, i) => 201 - held.length + i));
    for (const r of held) expect(r.payload.equals(report(r.seq, r.seq <= 40 ? 1500 : 3000).payload)).toBe(true);
    // One line when the disk filled up, not one per report or per segment dropped.
    expect(fullLines(lines).map((l) => l.msg)).toEqual([
      "the spool's disk is full (ENOSPC): dropping the oldest spooled reports to make room for new ones",
    ]);
    await spool.close();
    // Reopened: no torn tail left by the short writes, the same reports.
    const again = await Spool.open({ dir, maxBytes: 64 << 20, maxAgeMs: 86_400_000, segmentBytes: 16 << 10, log: capture().log });
    expect(again.stats.truncatedBytes).toBe(0);
    expect((await readAll(again)).map((r) => r.seq)).toEqual(held.map((r) => r.seq));
    await again.close();
    process.stderr.write(
      `spool-disk-full: 200 reports appended on a 256 KiB tmpfs, ${s.droppedByDiskFull} oldest dropped for room, ${held.length} held intact\n`,
    );
  });

  it('with nothing left to drop, counts each new report as dropped and spools again once there is room', async () => {
    const disk = smallDisk(128);
    const dir = join(disk, 'spool');
    mkdirSync(dir);
    const { log, lines } = capture();
    const spool = await Spool.open({ dir, maxBytes: 64 << 20, maxAgeMs: 86_400_000, segmentBytes: 16 << 10, log });
    const filler = fill(disk);
    for (let seq = 1; seq <= 30; seq++) await spool.append([report(seq, 1000)]);
    expect(spool.stats.droppedByDiskFull).toBe(30);
    expect(spool.stats.pendingReports).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.seg'))).toEqual([]);
    rmSync(filler);
    for (let seq = 31; seq <= 40; seq++) await spool.append([report(seq, 1000)]);
    expect((await readAll(spool)).map((r) => r.seq)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    expect(spool.stats.droppedByDiskFull).toBe(30);
    expect(fullLines(lines).map((l) => [l.msg, l.droppedReports])).toEqual([
      [
        "the spool's disk is full (ENOSPC) and the spool holds nothing more to drop: new reports are dropped until there is room",
        undefined,
      ],
      ["the spool's disk has room again: spooling resumed", 30],
    ]);
    await spool.close();
  });
});
