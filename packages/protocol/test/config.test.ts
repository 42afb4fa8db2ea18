import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { byteSize, parseByteSize } from '../src/config.ts';

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
