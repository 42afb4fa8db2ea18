import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { PayloadEncoding, PayloadKind } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { capturedLog } from '../../../testing/log-capture.ts';
import type { SpooledReport } from '../src/transport/backlog.ts';
import { encodeRecord, Spool, type SpoolOptions } from '../src/transport/spool.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'falconet-spool-'));

/** The spool's log lines, at info as the agent runs it. */
const capture = () => capturedLog<Record<string, unknown> & { msg: string }>('info');

/** Payload bytes that say which report they belong to, so a mix-up cannot pass. */
function report(seq: number, size = 200, createdMs = Date.now()): SpooledReport {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (seq * 31 + i) & 255;
  return { seq, createdMs, sampleCount: 10, encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP, payload };
}

async function open(dir: string, more: Partial<SpoolOptions> = {}) {
  const { log, lines } = capture();
  const spool = await Spool.open({ dir, maxBytes: 1 << 20, maxAgeMs: 86_400_000, segmentBytes: 16 << 10, log, ...more });
  return { spool, lines };
}

async function readAll(spool: Spool, after = 0): Promise<SpooledReport[]> {
  const reader = spool.reader(after);
  const out: SpooledReport[] = [];
  for (let r = await reader.next(); r; r = await reader.next()) out.push(r);
  reader.close();
  return out;
}

const segments = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.seg'))
    .sort();

describe('Spool', () => {
  it('keeps reports in order across segments and reopening; acknowledged ones are gone', async () => {
    const dir = tmp();
    const { spool } = await open(dir);
    for (let seq = 1; seq <= 300; seq++) await spool.append([report(seq)]);
    expect(segments(dir).length).toBeGreaterThan(3);
    const all = await readAll(spool);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(all[41]?.payload.equals(report(42).payload)).toBe(true);

    spool.ack(150);
    await spool.close();
    const again = (await open(dir)).spool;
    expect(again.ackedSeq).toBe(150);
    expect(again.lastSeq).toBe(300);
    expect(again.stats.pendingReports).toBe(150);
    expect((await readAll(again, again.ackedSeq)).map((r) => r.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 151));
    // Segments wholly at or below the acknowledged sequence were deleted on open.
    expect(again.stats.bytes).toBeLessThan(statSum(dir) + 1);
    again.ack(300);
    await again.close();
    expect(segments(dir)).toEqual([]);
  });

  it('refuses a sequence that does not increase', async () => {
    const { spool } = await open(tmp());
    await spool.append([report(5)]);
    await expect(spool.append([report(5)])).rejects.toThrow(/not above the last one spooled \(5\)/);
    await spool.close();
  });

  it('a reader that caught up picks up reports appended later, across a segment roll', async () => {
    const { spool } = await open(tmp());
    const reader = spool.reader(0);
    expect(await reader.next()).toBeUndefined();
    const seen: number[] = [];
    for (let seq = 1; seq <= 200; seq++) {
      await spool.append([report(seq, 500)]);
      if (seq % 7 === 0) for (let r = await reader.next(); r; r = await reader.next()) seen.push(r.seq);
    }
    for (let r = await reader.next(); r; r = await reader.next()) seen.push(r.seq);
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    reader.close();
    await spool.close();
  });

  it('drops the oldest segments past max_bytes, counts and logs it; readers skip to what is left', async () => {
    const dir = tmp();
    const { spool, lines } = await open(dir, { maxBytes: 64 << 10, segmentBytes: 16 << 10 });
    const reader = spool.reader(0);
    for (let seq = 1; seq <= 400; seq++) await spool.append([report(seq, 1000)]);
    const s = spool.stats;
    expect(s.bytes).toBeLessThanOrEqual(64 << 10);
    expect(s.droppedBySize).toBeGreaterThan(300);
    expect(s.droppedSamples).toBe(s.droppedBySize * 10);
    expect(s.pendingReports + s.droppedBySize).toBe(400);
    expect(lines.some((l) => l.msg === 'spool is full: dropped its oldest unsent reports' && l.reason === 'size')).toBe(true);
    const rest = [];
    for (let r = await reader.next(); r; r = await reader.next()) rest.push(r.seq);
    expect(rest.length).toBe(s.pendingReports);
    expect(rest.at(-1)).toBe(400);
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
    reader.close();
    await spool.close();
  });

  it('drops reports older than max_age', async () => {
    let now = 1_000_000_000_000;
    const dir = tmp();
    const { spool, lines } = await open(dir, { maxAgeMs: 3_600_000, now: () => now });
    for (let seq = 1; seq <= 40; seq++) await spool.append([report(seq, 1000, now)]);
    now += 2 * 3_600_000;
    for (let seq = 41; seq <= 60; seq++) await spool.append([report(seq, 1000, now)]);
    expect(spool.stats.droppedByAge).toBeGreaterThan(0);
    expect((await readAll(spool))[0]?.seq).toBe(41);
    expect(lines.some((l) => l.reason === 'age')).toBe(true);
    await spool.close();
  });

  it('truncates a torn final record at any byte and keeps everything before it', async () => {
    const base = tmp();
    {
      const { spool } = await open(base);
      for (let seq = 1; seq <= 3; seq++) await spool.append([report(seq, 300)]);
      await spool.close();
    }
    const [seg] = segments(base);
    const full = statSync(join(base, seg as string)).size;
    const recordLen = encodeRecord(report(3, 300)).length;
    const keep = full - recordLen;
    for (let cut = keep + 1; cut < full; cut += 7) {
      const dir = tmp();
      cpSync(base, dir, { recursive: true });
      truncateSync(join(dir, seg as string), cut);
      const { spool, lines } = await open(dir);
      expect(spool.stats.truncatedBytes).toBe(cut - keep);
      expect(statSync(join(dir, seg as string)).size).toBe(keep);
      expect(lines.some((l) => String(l.msg).includes('torn or corrupt tail'))).toBe(true);
      // The spool goes on: new reports follow the survivors.
      await spool.append([report(4)]);
      expect((await readAll(spool)).map((r) => r.seq)).toEqual([1, 2, 4]);
      await spool.close();
    }
  });

  it('cuts a segment at a corrupt record and keeps the segments after it', async () => {
    const dir = tmp();
    {
      const { spool } = await open(dir, { segmentBytes: 4096 });
      for (let seq = 1; seq <= 30; seq++) await spool.append([report(seq, 900)]);
      await spool.close();
    }
    const segs = segments(dir);
    expect(segs.length).toBeGreaterThan(3);
    const first = join(dir, segs[0] as string);
    const bytes = readFileSync(first);
    const second = 8 + encodeRecord(report(1, 900)).length;
    bytes[second + 8 + 100] = (bytes[second + 8 + 100] ?? 0) ^ 0x55; // inside record 2's body
    writeFileSync(first, bytes);
    const { spool } = await open(dir, { segmentBytes: 4096 });
    const seqs = (await readAll(spool)).map((r) => r.seq);
    expect(seqs[0]).toBe(1);
    expect(seqs).not.toContain(2);
    expect(seqs.at(-1)).toBe(30);
    expect(spool.stats.truncatedBytes).toBeGreaterThan(0);
    await spool.close();
  });

  it('removes a file that is not a segment at all and an empty one', async () => {
    const dir = tmp();
    writeFileSync(join(dir, '00000000000000000001.seg'), 'garbage that is not a spool');
    writeFileSync(join(dir, '00000000000000000009.seg'), '');
    const { spool } = await open(dir);
    expect(spool.stats.segments).toBe(0);
    expect(segments(dir)).toEqual([]);
    await spool.append([report(10)]);
    expect((await readAll(spool)).map((r) => r.seq)).toEqual([10]);
    await spool.close();
  });
});

/**
 * A record exactly as spools before logs wrote it: a Report with fields 1-5 and no kind field at
 * all (written by hand, not through today's encoder, so the test holds whatever the encoder does).
 */
function oldRecord(seq: number, payload: Buffer, createdMs: number): Buffer {
  const w = new BinaryWriter();
  w.uint32(8).uint64(seq);
  w.uint32(16).int32(PayloadEncoding.PAYLOAD_ENCODING_GZIP);
  w.uint32(26).bytes(payload);
  w.uint32(32).uint32(10);
  w.uint32(40).int64(createdMs);
  const body = w.finish();
  const head = Buffer.alloc(8);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

describe('Spool report kinds', () => {
  it('reads a spool written before reports had a kind as samples, and goes on with logs after it', async () => {
    const dir = tmp();
    const payload = Buffer.from('old samples payload');
    const created = Date.now() - 1000;
    writeFileSync(
      join(dir, '00000000000000000001.seg'),
      Buffer.concat([Buffer.from('FNSPOOL1', 'latin1'), oldRecord(1, payload, created), oldRecord(2, payload, created)]),
    );
    const { spool } = await open(dir);
    expect(spool.lastSeq).toBe(2);
    await spool.append([{ ...report(3), kind: PayloadKind.PAYLOAD_KIND_LOGS, sampleCount: 7 }]);
    await spool.close();
    const { spool: again } = await open(dir);
    const all = await readAll(again);
    expect(all.map((r) => [r.seq, r.kind ?? PayloadKind.PAYLOAD_KIND_SAMPLES, r.sampleCount])).toEqual([
      [1, PayloadKind.PAYLOAD_KIND_SAMPLES, 10],
      [2, PayloadKind.PAYLOAD_KIND_SAMPLES, 10],
      [3, PayloadKind.PAYLOAD_KIND_LOGS, 7],
    ]);
    expect(all[0]?.payload).toEqual(payload);
    expect(all[0]?.createdMs).toBe(created);
    await again.close();
  });

  it('counts log records and samples apart when the spool drops reports', async () => {
    const dir = tmp();
    const { spool } = await open(dir, { maxBytes: 64 << 10, segmentBytes: 16 << 10 });
    for (let seq = 1; seq <= 400; seq++) {
      const r = report(seq, 1000);
      await spool.append([seq % 2 ? r : { ...r, kind: PayloadKind.PAYLOAD_KIND_LOGS, sampleCount: 3 }]);
    }
    const s = spool.stats;
    expect(s.droppedBySize).toBeGreaterThan(300);
    // Half of what was dropped were sample reports of 10, half log reports of 3 records.
    expect(s.droppedSamples + s.droppedLogRecords).toBeGreaterThan(0);
    expect(Math.abs(s.droppedSamples / 10 - s.droppedLogRecords / 3)).toBeLessThanOrEqual(s.droppedBySize / 8);
    expect(Math.round(s.droppedSamples / 10 + s.droppedLogRecords / 3)).toBe(s.droppedBySize);
    await spool.close();
  });
});

function statSum(dir: string): number {
  return segments(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}
