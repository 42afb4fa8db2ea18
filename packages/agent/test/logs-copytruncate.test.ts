import { closeSync, copyFileSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { pb } from '@falconet/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { logsSchema } from '../src/logs/config.ts';
import { LogShipper } from '../src/logs/shipper.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What copytruncate costs while the agent runs: numbered lines at 2,000 a second, the file copied
 * and truncated in place every 2 s. Lost are the lines written after the agent's last read and
 * before the cut; the figure is printed (docs/logs.md), and nothing may be repeated.
 */
describe('copytruncate while running', () => {
  it('loses only lines written just before each cut, repeats none', async () => {
    const dir = tempDir('falconet-copytruncate-');
    const logDir = join(dir, 'log');
    mkdirSync(logDir);
    const path = join(logDir, 'app.log');
    const records: pb.LogRecord[] = [];
    let seq = 0;
    const sink = {
      async enqueueLogs(batch: pb.LogBatch, before: (seq: number) => Promise<void>) {
        await before(++seq);
        records.push(...batch.records);
      },
    };
    const config = logsSchema.parse({ sources: [{ name: 'app', include: [path] }], batch: { max_wait: '200ms' } });
    const fd = openSync(path, 'a');
    const shipper = new LogShipper({ config, dir: join(dir, 'state'), sink, spoolLastSeq: 0, log: pino({ level: 'silent' }) });
    await shipper.start();
    let n = 0;
    let cuts = 0;
    const inCopies = new Set<number>();
    let firstInFile = 1;
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      let chunk = '';
      for (let i = 0; i < 100; i++) chunk += `line ${++n} ${'x'.repeat(80)}\n`;
      writeSync(fd, chunk);
      if (n % 4_000 === 0) {
        copyFileSync(path, `${path}.${cuts}`);
        ftruncateSync(fd, 0);
        for (let i = firstInFile; i <= n; i++) inCopies.add(i);
        firstInFile = n + 1;
        cuts++;
      }
      await sleep(50);
    }
    closeSync(fd);
    await eventually(() => records.some((r) => r.message.startsWith(`line ${n} `)), 30_000);
    await shipper.stop();
    rmSync(dir, { recursive: true, force: true });
    const seen = new Map<number, number>();
    for (const r of records) {
      const x = Number(/^line (\d+) /.exec(r.message)?.[1]);
      seen.set(x, (seen.get(x) ?? 0) + 1);
    }
    const lost = Array.from({ length: n }, (_, i) => i + 1).filter((x) => !seen.has(x));
    process.stderr.write(
      `copytruncate while running: ${cuts} cuts, ${n} lines, ${lost.length} lost (${(lost.length / Math.max(1, cuts)).toFixed(0)} a cut, written at 2,000 lines/s)\n`,
    );
    expect([...seen.values()].filter((c) => c > 1)).toEqual([]);
    expect(lost.every((x) => inCopies.has(x))).toBe(true);
    expect(cuts).toBeGreaterThan(2);
  }, 60_000);
});
