import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLoggerWithOutput, prettyLine, RotatingFile } from '../src/log.ts';

function sink(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      buf += String(chunk);
      cb();
    },
  });
  return { stream, text: () => buf };
}

describe('logging', () => {
  it('JSON by default, one readable line per record on a terminal', () => {
    const json = sink();
    createLoggerWithOutput({ name: 't', destination: json.stream }).logger.info({ port: 1 }, 'hello');
    expect(JSON.parse(json.text())).toMatchObject({ level: 30, msg: 'hello', port: 1 });

    const tty = sink();
    tty.stream.isTTY = true;
    createLoggerWithOutput({ name: 't', format: 'auto', destination: tty.stream }).logger.warn({ path: '/a b' }, 'careful');
    expect(tty.text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}careful path="\/a b"\n$/);
    expect(prettyLine({ time: 0, level: 50, msg: 'x', n: 2 })).toBe('00:00:00.000 ERROR x n=2\n');
  });

  it('level and format change on a running logger', () => {
    const out = sink();
    const { logger, output } = createLoggerWithOutput({ name: 't', level: 'info', format: 'json', destination: out.stream });
    logger.debug('hidden');
    logger.level = 'debug';
    logger.debug('shown');
    output.reconfigure({ format: 'pretty', destination: out.stream });
    logger.info('pretty now');
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0] as string).msg).toBe('shown');
    expect(lines[1]).toMatch(/INFO {2}pretty now$/);
  });

  it('a log file rotates by size and keeps max_files old files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'falconet-log-'));
    const path = join(dir, 'agent.log');
    const { logger, output } = createLoggerWithOutput({
      name: 't',
      console: false,
      file: { path, maxBytes: 4096, maxFiles: 2 },
    });
    for (let i = 0; i < 200; i++) logger.info({ i, pad: 'x'.repeat(60) }, 'record');
    output.close();
    expect(existsSync(`${path}.1`)).toBe(true);
    expect(existsSync(`${path}.2`)).toBe(true);
    expect(existsSync(`${path}.3`)).toBe(false);
    for (const f of [path, `${path}.1`, `${path}.2`]) {
      const text = readFileSync(f, 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
      for (const line of text.trim().split('\n')) expect(JSON.parse(line).msg).toBe('record');
    }
    // The newest record is in the live file, the ones before it in .1.
    const last = readFileSync(path, 'utf8').trim().split('\n').at(-1) as string;
    expect(JSON.parse(last).i).toBe(199);
    const firstOfLive = JSON.parse(readFileSync(path, 'utf8').split('\n')[0] as string).i as number;
    const lastOfOne = JSON.parse(readFileSync(`${path}.1`, 'utf8').trim().split('\n').at(-1) as string).i as number;
    expect(lastOfOne).toBe(firstOfLive - 1);
  });

  it('RotatingFile appends to an existing file and counts its size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'falconet-log-'));
    const path = join(dir, 'nested', 'a.log');
    const a = new RotatingFile(path, { maxBytes: 100, maxFiles: 1 });
    a.write(`${'a'.repeat(60)}\n`);
    a.close();
    const b = new RotatingFile(path, { maxBytes: 100, maxFiles: 1 });
    b.write(`${'b'.repeat(60)}\n`);
    b.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(`${'a'.repeat(60)}\n`);
    expect(readFileSync(path, 'utf8')).toBe(`${'b'.repeat(60)}\n`);
  });
});
