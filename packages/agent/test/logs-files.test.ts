import {
  appendFileSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { LogLevel, type pb } from '@falconet/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { logsSchema } from '../src/logs/config.ts';
import { LineRun } from '../src/logs/plain.ts';
import { PositionStore } from '../src/logs/positions.ts';
import { LogShipper } from '../src/logs/shipper.ts';

/** Stands in for the report stream: numbers batches and keeps them, as the spool would. */
class Sink {
  seq = 0;
  batches: pb.LogBatch[] = [];
  failNext = 0;
  async enqueueLogs(batch: pb.LogBatch, before: (seq: number) => Promise<void>): Promise<void> {
    const seq = ++this.seq;
    await before(seq);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full (test)');
    }
    this.batches.push(structuredClone({ records: batch.records, dropped: batch.dropped }));
  }
  get records(): pb.LogRecord[] {
    return this.batches.flatMap((b) => b.records);
  }
  messages(stream?: string): string[] {
    return this.records.filter((r) => stream === undefined || r.stream === stream).map((r) => r.message);
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(source: Record<string, unknown> = {}, more: Record<string, unknown> = {}) {
  const dir = tempDir('falconet-logs-');
  const logDir = join(dir, 'var');
  const state = join(dir, 'state');
  mkdirSync(logDir);
  const config = logsSchema.parse({
    sources: [{ name: 'app', include: [join(logDir, '*.log')], ...source }],
    scan_interval: '100ms',
    rotate_wait: '500ms',
    partial_line_timeout: '400ms',
    batch: { max_wait: '50ms', max_lines: 100 },
    ...more,
  });
  const sink = new Sink();
  const shippers: LogShipper[] = [];
  const start = async () => {
    const s = new LogShipper({ config, dir: state, sink, spoolLastSeq: sink.seq, log: pino({ level: 'silent' }) });
    shippers.push(s);
    await s.start();
    return s;
  };
  cleanups.push(async () => {
    for (const s of shippers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, logDir, state, sink, start };
}

const numbered = (prefix: string, from: number, to: number) => {
  let s = '';
  for (let i = from; i <= to; i++) s += `${prefix} ${i}\n`;
  return s;
};
const expectNumbered = (got: string[], prefix: string, from: number, to: number) =>
  expect(got).toEqual(Array.from({ length: to - from + 1 }, (_, i) => `${prefix} ${from + i}`));

describe('file source', () => {
  it('reads files matching the globs, finds new ones while running, leaves out excluded and .gz files', async () => {
    const t = setup({ exclude: ['**/skip-*.log'] });
    writeFileSync(join(t.logDir, 'a.log'), numbered('a', 1, 50));
    writeFileSync(join(t.logDir, 'skip-me.log'), 'nope\n');
    writeFileSync(join(t.logDir, 'old.log.gz'), 'compressed\n');
    writeFileSync(join(t.logDir, 'other.txt'), 'not matched\n');
    await t.start();
    await eventually(() => t.sink.records.length >= 50);
    writeFileSync(join(t.logDir, 'b.log'), numbered('b', 1, 20));
    appendFileSync(join(t.logDir, 'a.log'), numbered('a', 51, 60));
    await eventually(() => t.sink.records.length >= 80);
    expectNumbered(t.sink.messages(join(t.logDir, 'a.log')), 'a', 1, 60);
    expectNumbered(t.sink.messages(join(t.logDir, 'b.log')), 'b', 1, 20);
    expect(t.sink.records.some((r) => /nope|compressed|not matched/.test(r.message))).toBe(false);
    expect(t.sink.records[0]).toMatchObject({ source: 'app', offset: 0 });
    expect(t.sink.records[1]?.offset).toBe('a 1\n'.length);
  }, 60_000);

  it('rename rotation: the old file is read to its end (lines written after the rename too), then the new one', async () => {
    const t = setup();
    const path = join(t.logDir, 'app.log');
    const fd = openSync(path, 'a');
    writeSync(fd, numbered('l', 1, 300));
    await t.start();
    await eventually(() => t.sink.records.length >= 300);
    writeSync(fd, numbered('l', 301, 400));
    renameSync(path, join(t.logDir, 'app.log.1'));
    // The writer has not reopened yet: these land in the renamed file.
    writeSync(fd, numbered('l', 401, 450));
    closeSync(fd);
    writeFileSync(path, numbered('l', 451, 600));
    await eventually(() => t.sink.records.length >= 600);
    expectNumbered(t.sink.messages(), 'l', 1, 600);
  }, 60_000);

  it('copytruncate: after the truncation the file is read from 0; nothing is repeated', async () => {
    const t = setup();
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, numbered('c', 1, 200));
    await t.start();
    await eventually(() => t.sink.records.length >= 200);
    copyFileSync(path, join(t.logDir, 'app.log.1'));
    truncateSync(path, 0);
    appendFileSync(path, numbered('c', 201, 230));
    await eventually(() => t.sink.records.length >= 230);
    expectNumbered(t.sink.messages(), 'c', 1, 230);
  }, 60_000);

  it('copytruncate where the new content outgrows the old position before the check: told by the first bytes', async () => {
    const t = setup();
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, numbered('old', 1, 10));
    const s = await t.start();
    await eventually(() => t.sink.records.length >= 10);
    await s.stop();
    // While the agent is away: truncated and written past the old length with other lines.
    writeFileSync(path, numbered('new', 1, 40));
    await t.start();
    await eventually(() => t.sink.records.length >= 50);
    expectNumbered(t.sink.messages().slice(10), 'new', 1, 40);
  }, 60_000);

  it('truncation while stopped: read from the start; resuming otherwise repeats nothing', async () => {
    const t = setup();
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, numbered('x', 1, 100));
    let s = await t.start();
    await eventually(() => t.sink.records.length >= 100);
    await s.stop();
    appendFileSync(path, numbered('x', 101, 120));
    s = await t.start();
    await eventually(() => t.sink.records.length >= 120);
    await s.stop();
    expectNumbered(t.sink.messages(), 'x', 1, 120);
    // Now cut to fewer bytes than were read, with the same first line.
    writeFileSync(path, numbered('x', 1, 3));
    await t.start();
    await eventually(() => t.sink.records.length >= 123);
    expectNumbered(t.sink.messages().slice(120), 'x', 1, 3);
  }, 60_000);

  it('a file rotated away while stopped is found by its inode and read to its end', async () => {
    const t = setup();
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, numbered('r', 1, 50));
    const s = await t.start();
    await eventually(() => t.sink.records.length >= 50);
    await s.stop();
    appendFileSync(path, numbered('r', 51, 70));
    renameSync(path, join(t.logDir, 'app.log.1'));
    writeFileSync(path, numbered('r', 71, 90));
    await t.start();
    await eventually(() => t.sink.records.length >= 90);
    expect([...t.sink.messages()].sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)))).toEqual(
      Array.from({ length: 90 }, (_, i) => `r ${i + 1}`),
    );
    expect(new Set(t.sink.messages()).size).toBe(90);
    // Records of the renamed file still name the file it was written as.
    expect(new Set(t.sink.records.map((r) => r.stream))).toEqual(new Set([path]));
  }, 60_000);

  it('deletion while reading: the open file is read to its end', async () => {
    const t = setup({}, { batch: { max_wait: '50ms', max_lines: 10 } });
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, numbered('d', 1, 5000));
    await t.start();
    await eventually(() => t.sink.records.length >= 1);
    rmSync(path);
    await eventually(() => t.sink.records.length >= 5000);
    expectNumbered(t.sink.messages(), 'd', 1, 5000);
  }, 60_000);

  it('a last line without newline goes after the timeout; a line longer than the limit is split and marked', async () => {
    const t = setup({}, { max_line_bytes: '1KiB' });
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, `first\n${'y'.repeat(2500)}\nno newline yet`);
    await t.start();
    await eventually(() => t.sink.messages().includes('no newline yet'));
    const recs = t.sink.records;
    expect(recs.map((r) => r.message.length)).toEqual([5, 1024, 1024, 452, 14]);
    expect(recs.map((r) => r.fields.truncated ?? '')).toEqual(['', 'true', 'true', 'true', '']);
    appendFileSync(path, ' and more\n');
    await eventually(() => t.sink.records.length >= 6);
    expect(t.sink.messages().at(-1)).toBe(' and more');
  }, 60_000);

  it('multiline events keep their first line offset; the read position never passes an unfinished event', async () => {
    const t = setup({ multiline: { start: '^\\d{4}-', timeout: '300ms' } });
    const path = join(t.logDir, 'app.log');
    writeFileSync(path, '2026-01 one\n  at a\n  at b\n2026-02 two\n');
    const s = await t.start();
    await eventually(() => t.sink.records.length >= 2);
    expect(t.sink.messages()).toEqual(['2026-01 one\n  at a\n  at b', '2026-02 two']);
    expect(t.sink.records[1]?.offset).toBe('2026-01 one\n  at a\n  at b\n'.length);
    await s.stop();
  }, 60_000);

  it('a batch that cannot be spooled is tried again, nothing lost or doubled', async () => {
    const t = setup();
    t.sink.failNext = 2;
    writeFileSync(join(t.logDir, 'app.log'), numbered('f', 1, 30));
    await t.start();
    await eventually(() => t.sink.records.length >= 30);
    expectNumbered(t.sink.messages(), 'f', 1, 30);
  }, 60_000);

  it('rate limit drops are counted in the next batch and in the stats', async () => {
    const t = setup({ rate_limit: { lines_per_second: 0.001, burst: 10 } });
    writeFileSync(join(t.logDir, 'app.log'), numbered('r', 1, 30));
    const s = await t.start();
    await eventually(() => s.stats.sources[0]?.readLines === 30 && t.sink.records.length === 10);
    await eventually(() => t.sink.batches.reduce((n, b) => n + (b.dropped.app ?? 0), 0) === 20 || undefined);
    expect(s.stats.sources[0]).toMatchObject({ readLines: 30, shippedLines: 10, dropped: { rate_limit: 20 } });
  }, 60_000);
});

describe('lines shipped as read', () => {
  /** Lines of every kind the byte-level path treats apart: CRLF, empty, long, cut, level words, non-ASCII, bad UTF-8. */
  function trickyBytes(): Buffer {
    const parts: (string | Buffer)[] = [];
    for (let i = 0; i < 3000; i++) {
      const k = i % 13;
      if (k === 0) parts.push(`${i} plain line\n`);
      else if (k === 1) parts.push(`${i} crlf line with ERROR inside\r\n`);
      else if (k === 2) parts.push('\n');
      else if (k === 3) parts.push(`${i} ${'x'.repeat(600)} WARN past 512 bytes\n`);
      else if (k === 4) parts.push(`${i} ${'é'.repeat(200)} INFO within 512 characters, not bytes\n`);
      else if (k === 5) parts.push(`${i} ${'y'.repeat(1500)} cut at the 1 KiB limit DEBUG\n`);
      else if (k === 6) parts.push(`${i} ERRORS INFOX xWARN _DEBUG_ are no level words; FATAL is\n`);
      else if (k === 7)
        parts.push(Buffer.concat([Buffer.from(`${i} bad utf-8 `), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(' CRIT\n')]));
      else if (k === 8) parts.push(`${i} 🦅 emoji TRACE\r\n`);
      else if (k === 9) parts.push('\r\n');
      else parts.push(`${i} level=info lower-case words are no level words\n`);
    }
    parts.push('last line without newline NOTICE');
    return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  }

  it('makes the records the general path makes of the same bytes', async () => {
    const bytes = trickyBytes();
    const shipped = async (source: Record<string, unknown>) => {
      const t = setup(source, { max_line_bytes: '1KiB', batch: { max_wait: '50ms', max_lines: 700, max_bytes: '64KiB' } });
      // Written in pieces, so reads end inside lines and inside UTF-8 sequences.
      const path = join(t.logDir, 'app.log');
      writeFileSync(path, '');
      await t.start();
      for (let at = 0; at < bytes.length; at += 77_777) appendFileSync(path, bytes.subarray(at, at + 77_777));
      await eventually(() => t.sink.records.some((r) => r.message.startsWith('last line')) || undefined, 30_000);
      return t.sink.records.map(({ timeMs, observedMs, stream, ...r }) => r);
    };
    const runs = vi.spyOn(LineRun.prototype, 'write');
    const asRead = await shipped({});
    expect(runs).toHaveBeenCalled();
    runs.mockClear();
    // A redaction rule that matches nothing: the same records, made the general way.
    const general = await shipped({ redact: [{ pattern: 'matches nothing \\d{40}' }] });
    expect(runs).not.toHaveBeenCalled();
    runs.mockRestore();
    expect(asRead.length).toBeGreaterThan(2500);
    expect(asRead).toEqual(general);
    expect(asRead.filter((r) => r.level !== LogLevel.LOG_LEVEL_UNSPECIFIED).length).toBeGreaterThan(1000);
    expect(asRead.some((r) => r.fields.truncated === 'true')).toBe(true);
  }, 60_000);
});

describe('read positions', () => {
  const pos = (offset: number) => ({ source: 's', stream: '/a', path: '/a', dev: 1, ino: 2, fp: 'f', fpLen: 1, offset });

  it('take the pending positions only when the spool got their batch', async () => {
    const dir = tempDir('falconet-pos-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'positions.json');
    const a = new PositionStore(file);
    await a.load(0);
    await a.savePending(7, [pos(100)]);
    a.commit();
    await a.savePending(9, [pos(200)]);
    // Killed here: batch 9 may or may not be in the spool.
    expect((await new PositionStore(file).load(8))[0]?.offset).toBe(100);
    // That decision is written down: a later report numbered past 9 does not change it.
    expect((await new PositionStore(file).load(50))[0]?.offset).toBe(100);
    await a.savePending(9, [pos(200)]);
    expect((await new PositionStore(file).load(9))[0]?.offset).toBe(200);
  });

  it('refuses a damaged positions file, naming it', async () => {
    const dir = tempDir('falconet-pos-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'positions.json');
    writeFileSync(file, '{"version":1,"comm');
    await expect(new PositionStore(file).load(0)).rejects.toThrow(`log read positions in ${file} are unreadable`);
    expect(readFileSync(file, 'utf8')).toBe('{"version":1,"comm');
  });
});
