import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, type pb } from '@falconet/protocol';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { logsSchema } from '../src/logs/config.ts';
import { parseJournalLine } from '../src/logs/journal.ts';
import { LogShipper } from '../src/logs/shipper.ts';

/** Debian's systemd-journal-remote writes real journal files from the export format, no journald needed. */
const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';
const BOOT = '0123456789abcdef0123456789abcdef';

let mono = 0;
/** Appends `count` entries numbered from `from` to the journal directory, as a new journal file. */
function writeJournal(dir: string, name: string, from: number, count: number): void {
  let out = '';
  const t = Date.now() * 1000;
  for (let i = from; i < from + count; i++) {
    mono++;
    out +=
      `__REALTIME_TIMESTAMP=${t + i}\n__MONOTONIC_TIMESTAMP=${mono}\n_BOOT_ID=${BOOT}\nMESSAGE=entry ${i} password=hunter2\n` +
      `PRIORITY=${i % 8}\nSYSLOG_FACILITY=3\n_SYSTEMD_UNIT=demo-${i % 2}.service\nSYSLOG_IDENTIFIER=demo\n_PID=42\n_HOSTNAME=h1\n\n`;
  }
  const exportFile = join(dir, `${name}.export`);
  writeFileSync(exportFile, out);
  execFileSync('sh', ['-c', `${JOURNAL_REMOTE} -o ${join(dir, 'journal', `${name}.journal`)} - < ${exportFile}`], { stdio: 'ignore' });
}

class Sink {
  seq = 0;
  records: pb.LogRecord[] = [];
  async enqueueLogs(batch: pb.LogBatch, before: (seq: number) => Promise<void>): Promise<void> {
    await before(++this.seq);
    this.records.push(...structuredClone(batch.records));
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('journald source', () => {
  it('reads journal entries with their time, priority and fields; follows new ones; resumes after its cursor', async () => {
    const dir = tempDir('falconet-journal-');
    mkdirSync(join(dir, 'journal'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeJournal(dir, 'a', 1, 20);
    const config = logsSchema.parse({
      sources: [
        {
          name: 'journal',
          type: 'journald',
          journal_directory: join(dir, 'journal'),
          labels: ['unit'],
          redact: [{ pattern: 'password=\\S+', replacement: 'password=***' }],
        },
      ],
      batch: { max_wait: '50ms' },
    });
    const sink = new Sink();
    const start = async () => {
      const s = new LogShipper({ config, dir: join(dir, 'state'), sink, spoolLastSeq: sink.seq, log: pino({ level: 'silent' }) });
      await s.start();
      cleanups.push(() => s.stop());
      return s;
    };
    const s = await start();
    await eventually(() => sink.records.length >= 20);
    const first = sink.records[0] as pb.LogRecord;
    expect(first).toMatchObject({
      source: 'journal',
      stream: 'demo-1.service',
      message: 'entry 1 password=***',
      level: LogLevel.LOG_LEVEL_FATAL,
      labels: { unit: 'demo-1.service' },
      fields: { identifier: 'demo', pid: '42', hostname: 'h1', facility: 'daemon', boot_id: BOOT },
    });
    expect(first.timeMs).toBeGreaterThan(Date.now() - 60_000);
    expect(sink.records.map((r) => r.level).slice(0, 8)).toEqual([
      LogLevel.LOG_LEVEL_FATAL, // priority 1
      LogLevel.LOG_LEVEL_FATAL,
      LogLevel.LOG_LEVEL_ERROR,
      LogLevel.LOG_LEVEL_WARN,
      LogLevel.LOG_LEVEL_INFO,
      LogLevel.LOG_LEVEL_INFO,
      LogLevel.LOG_LEVEL_DEBUG,
      LogLevel.LOG_LEVEL_FATAL, // priority 0
    ]);
    // Followed: a journal file added while reading.
    writeJournal(dir, 'b', 21, 10);
    await eventually(() => sink.records.length >= 30);
    await s.stop();
    // Entries added while stopped are read from after the saved cursor: none twice.
    writeJournal(dir, 'c', 31, 10);
    await start();
    await eventually(() => sink.records.length >= 40);
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.records.map((r) => Number(/^entry (\d+)/.exec(r.message)?.[1]))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(JSON.stringify(sink.records)).not.toContain('hunter2');
  }, 60_000);

  it('reads a journal entry line; refuses what is not one', () => {
    const e = parseJournalLine(
      JSON.stringify({ __CURSOR: 'c1', MESSAGE: [104, 105, 255], PRIORITY: '4', __REALTIME_TIMESTAMP: '1700000000123456', _COMM: 'sshd' }),
    );
    expect(e).toEqual({
      cursor: 'c1',
      message: 'hi\uFFFD',
      timeMs: 1_700_000_000_123,
      level: LogLevel.LOG_LEVEL_WARN,
      stream: 'sshd',
      fields: { comm: 'sshd' },
    });
    expect(parseJournalLine('not json')).toBeUndefined();
    expect(parseJournalLine('{"MESSAGE":"no cursor"}')).toBeUndefined();
  });

  it('configuration: a journald source takes no include; a file source needs one; matches are FIELD=value', () => {
    const bad = (source: Record<string, unknown>) => {
      const r = logsSchema.safeParse({ sources: [{ name: 'j', ...source }] });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad({ type: 'journald', include: ['/x'] })).toEqual(['sources.0.include: a journald source reads no files; leave include out']);
    expect(bad({})).toEqual(['sources.0.include: a file source needs at least one include pattern']);
    expect(bad({ type: 'journald', journal_matches: ['unit=x'] })[0]).toMatch(/FIELD=value/);
    expect(bad({ type: 'journald', journal_matches: ['_SYSTEMD_UNIT=nginx.service'] })).toEqual([]);
  });
});
