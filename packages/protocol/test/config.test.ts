import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { byteSize, type ConfigError, duration, loadConfig, parseByteSize } from '../src/config.ts';

describe('parseByteSize', () => {
  it('reads bytes, decimal units and binary units, in any case', () => {
    const cases: [string | number, number][] = [
      [65536, 65536],
      ['65536', 65536],
      ['0', 0],
      ['12B', 12],
      ['1KB', 1000],
      ['500MB', 500e6],
      ['2GB', 2e9],
      ['1TB', 1e12],
      ['64KiB', 65536],
      ['256MiB', 256 * 2 ** 20],
      ['1GiB', 2 ** 30],
      ['1TiB', 2 ** 40],
      ['64k', 65536],
      ['8M', 8 * 2 ** 20],
      ['2g', 2 * 2 ** 30],
      ['1T', 2 ** 40],
      ['1mib', 2 ** 20],
      ['1MIB', 2 ** 20],
      ['1mb', 1e6],
      [' 20 GB ', 20e9],
      ['1.5KiB', 1536],
      ['0.5KB', 500],
      ['1.0001KB', 1000],
    ];
    for (const [input, bytes] of cases) expect(parseByteSize(input), String(input)).toBe(bytes);
  });

  it('refuses what is not a size, naming the input and the units', () => {
    for (const input of ['', 'lots', '4 apples', '-1MB', '1.MB', '.5MB', '1e3', '5XB', '1 KiB B', 'MB', '0x10']) {
      expect(() => parseByteSize(input), input).toThrow(
        `"${input}" is not a size: bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (e.g. 512MiB, 2GB, 65536)`,
      );
    }
  });

  it('byteSize() turns a bad size into a schema issue with the same message', () => {
    const schema = z.object({ max: byteSize() });
    expect(schema.parse({ max: '1MiB' })).toEqual({ max: 2 ** 20 });
    expect(schema.parse({ max: 42 })).toEqual({ max: 42 });
    const result = schema.safeParse({ max: 'big' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: ['max'], message: expect.stringMatching(/^"big" is not a size: /) });
  });
});

describe('loadConfig problems', () => {
  const schema = z
    .object({
      name: z.string().min(2).default('ab'),
      level: z.enum(['debug', 'info']).default('info'),
      port: z.number().int().max(65535).default(1),
      on: z.boolean().default(true),
      every: duration().default(1000),
      tags: z.array(z.string()).max(1).default([]),
      server: z
        .object({ url: z.string().default('') })
        .strict()
        .default({ url: '' }),
    })
    .strict();
  const problems = (text: string): string[] => {
    const file = join(mkdtempSync(join(tmpdir(), 'falconet-config-')), 'c.yaml');
    writeFileSync(file, text);
    try {
      loadConfig(schema, { file, env: {} });
    } catch (err) {
      return (err as ConfigError).problems.map((p) => p.replace(`${file}:`, ''));
    }
    throw new Error('accepted');
  };

  it('says what each field must be and what it was, in plain words, in file order with line and column', () => {
    const text = ['servr:', '  url: x', 'tags: [a, b]', 'on: yes', 'port: 70000', 'level: loud', 'name: a', 'every: ten', 'port2: 1', ''];
    expect(problems(text.join('\n'))).toEqual([
      '1:1: unknown key "servr" (did you mean "server"?)',
      '3:7: tags: must list at most 1 items',
      '4:5: on: must be true or false, not "yes"',
      '5:7: port: must be at most 65535, not 70000',
      '6:8: level: must be one of debug, info, not "loud"',
      '7:7: name: must be at least 2 characters long, not "a"',
      '8:8: every: "ten" is not a duration (e.g. 500ms, 10s, 5m, 1h)',
      '9:1: unknown key "port2" (did you mean "port"?)',
    ]);
  });

  it('a wrong type names the type wanted; a far-off key gets no guess', () => {
    expect(problems('port: "x"\nzzzzzz: 1\n')).toEqual(['1:7: port: must be a number, not "x"', '2:1: unknown key "zzzzzz"']);
    expect(problems('port: 1.5\n')).toEqual(['1:7: port: must be a whole number, not 1.5']);
  });
});
