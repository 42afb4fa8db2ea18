import { mkdtempSync, type StatsFs, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { seriesValue } from '../../../testing/exposition.ts';
import { TextfileReader } from '../src/collectors/textfile.common.ts';
import { type MetricFamily, MetricWriter } from '../src/metrics.ts';

function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

async function read(reader: TextfileReader, log = pino({ level: 'silent' })): Promise<MetricFamily[]> {
  const out = new MetricWriter();
  await reader.update(out, log);
  return out.families();
}

describe('textfile collector', () => {
  it('without a directory it reads nothing and reports no error', async () => {
    const f = await read(new TextfileReader(''));
    expect(f.map((x) => x.name)).toEqual(['node_textfile_scrape_error']);
    expect(seriesValue(f, 'node_textfile_scrape_error')).toBe(0);
  });

  it('merges *.prom files, keeps types and histograms, records each file mtime', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'textfile-'));
    writeFileSync(
      join(dir, 'backup.prom'),
      '# HELP backup_last_success_seconds When the last backup finished.\n# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds{job="db"} 1.7e9\n',
    );
    writeFileSync(
      join(dir, 'latency.prom'),
      '# TYPE job_duration_seconds histogram\njob_duration_seconds_bucket{le="1"} 2\njob_duration_seconds_bucket{le="+Inf"} 3\njob_duration_seconds_sum 4.5\njob_duration_seconds_count 3\n',
    );
    writeFileSync(join(dir, 'ignored.txt'), 'not a prom file\n');
    utimesSync(join(dir, 'backup.prom'), 1_600_000_000, 1_600_000_000);
    const f = await read(new TextfileReader(dir));
    expect(seriesValue(f, 'backup_last_success_seconds', { job: 'db' })).toBe(1.7e9);
    const h = f.find((x) => x.name === 'job_duration_seconds');
    expect(h?.type).toBe('histogram');
    expect(h?.metrics.map((m) => [m.suffix, m.labels.le, m.value])).toEqual([
      ['_bucket', '1', 2],
      ['_bucket', '+Inf', 3],
      ['_sum', undefined, 4.5],
      ['_count', undefined, 3],
    ]);
    expect(seriesValue(f, 'node_textfile_mtime_seconds', { file: 'backup.prom' })).toBe(1_600_000_000);
    expect(seriesValue(f, 'node_textfile_scrape_error')).toBe(0);
  });

  it('a broken file is left out whole, sets node_textfile_scrape_error, and is logged once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'textfile-'));
    writeFileSync(join(dir, 'good.prom'), 'good_metric 1\n');
    writeFileSync(join(dir, 'bad.prom'), 'half_written 1\nbroken{label="x" 2\n');
    writeFileSync(join(dir, 'stamped.prom'), 'stamped_metric 1 1700000000000\n');
    const { log, lines } = logCapture();
    const reader = new TextfileReader(dir);
    const f = await read(reader, log);
    expect(seriesValue(f, 'good_metric')).toBe(1);
    expect(seriesValue(f, 'half_written')).toBeUndefined();
    expect(seriesValue(f, 'stamped_metric')).toBeUndefined();
    expect(seriesValue(f, 'node_textfile_scrape_error')).toBe(1);
    expect(seriesValue(f, 'node_textfile_mtime_seconds', { file: 'good.prom' })).toBeGreaterThan(0);
    const warned = lines.filter((l) => l.msg === 'textfile skipped');
    expect(warned.map((l) => [l.file, l.err])).toEqual([
      ['bad.prom', 'line 2: expected "," or "}" after the value of label "label"'],
      ['stamped.prom', 'samples carry timestamps, which the textfile collector does not accept'],
    ]);
    await read(reader, log);
    expect(lines.filter((l) => l.msg === 'textfile skipped')).toHaveLength(2);
    writeFileSync(join(dir, 'bad.prom'), 'half_written 1\n');
    const fixed = await read(reader, log);
    expect(seriesValue(fixed, 'half_written')).toBe(1);
    expect(lines.some((l) => l.msg === 'textfile parses again' && l.file === 'bad.prom')).toBe(true);
  });

  it('a family typed differently in two files keeps the first; a missing directory is an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'textfile-'));
    writeFileSync(join(dir, 'a.prom'), '# TYPE shared counter\nshared 1\n');
    writeFileSync(join(dir, 'b.prom'), '# TYPE shared gauge\nshared{x="y"} 2\n');
    const f = await read(new TextfileReader(dir));
    expect(f.find((x) => x.name === 'shared')?.metrics).toEqual([{ labels: {}, value: 1 }]);
    expect(seriesValue(f, 'node_textfile_scrape_error')).toBe(1);
    const missing = await read(new TextfileReader(join(dir, 'nope')));
    expect(seriesValue(missing, 'node_textfile_scrape_error')).toBe(1);
  });

  describe('where the directory is', () => {
    const NFS = 0x6969;
    const EXT4 = 0xef53;
    const withFile = () => {
      const dir = mkdtempSync(join(tmpdir(), 'textfile-'));
      writeFileSync(join(dir, 'job.prom'), 'job_runs_total 3\n');
      return dir;
    };
    const statfsOf = (type: number) => async () => ({ type }) as StatsFs;
    const families = (out: MetricWriter) => out.families().map((f) => [f.name, f.metrics.map((m) => m.value)]);

    it('on a local file system it is read in place: after the first scrape, update() returns no promise', async () => {
      const dir = withFile();
      const reader = new TextfileReader(dir, statfsOf(EXT4));
      const first = new MetricWriter();
      await reader.update(first, pino({ level: 'silent' }));
      const second = new MetricWriter();
      expect(reader.update(second, pino({ level: 'silent' }))).toBeUndefined();
      expect(families(second)).toEqual(families(first));
      expect(seriesValue(second.families(), 'job_runs_total')).toBe(3);
    });

    it('on NFS, FUSE or an unknown file system it goes through the thread pool, with the same result', async () => {
      const dir = withFile();
      const reader = new TextfileReader(dir, statfsOf(NFS));
      await reader.update(new MetricWriter(), pino({ level: 'silent' }));
      const out = new MetricWriter();
      const update = reader.update(out, pino({ level: 'silent' }));
      expect(update).toBeInstanceOf(Promise);
      await update;
      expect(seriesValue(out.families(), 'job_runs_total')).toBe(3);
    });

    it('a statfs that does not answer (a hung mount) leaves it on the thread pool, asked once', async () => {
      const dir = withFile();
      let asked = 0;
      const reader = new TextfileReader(dir, () => {
        asked++;
        return new Promise<StatsFs>(() => {});
      });
      // The first scrape waits for the answer, which never comes: the collector's timeout ends it.
      const first = reader.update(new MetricWriter(), pino({ level: 'silent' }));
      expect(first).toBeInstanceOf(Promise);
      for (let i = 0; i < 3; i++) {
        const out = new MetricWriter();
        const update = reader.update(out, pino({ level: 'silent' }));
        expect(update).toBeInstanceOf(Promise);
        await update;
        expect(seriesValue(out.families(), 'job_runs_total')).toBe(3);
      }
      expect(asked).toBe(1);
    });
  });
});
