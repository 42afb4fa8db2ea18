import { describe, expect, it } from 'vitest';
import { bytes, rate } from '../src/format.ts';

describe('bytes', () => {
  it('writes powers of 1024, and a value that rounds up to the next unit in that unit', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(1023)).toBe('1023 B');
    expect(bytes(1023.7)).toBe('1.0 KiB');
    expect(bytes(1024)).toBe('1.0 KiB');
    expect(bytes(1048575)).toBe('1.0 MiB');
    expect(bytes(256 * 2 ** 20)).toBe('256.0 MiB');
    expect(rate(2048)).toBe('2.0 KiB/s');
    expect(bytes(undefined)).toBe('–');
  });
});
