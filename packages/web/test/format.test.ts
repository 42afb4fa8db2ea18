import { describe, expect, it } from 'vitest';
import { bytes, duration, percent, rate } from '../src/format.ts';

const NOTHING = [undefined, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

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

  it('goes up to PiB and stays there, however large', () => {
    expect(bytes(1.5 * 2 ** 40)).toBe('1.5 TiB');
    expect(bytes(2 ** 50)).toBe('1.0 PiB');
    expect(bytes(2 ** 60)).toBe('1024.0 PiB');
    expect(bytes(Number.MAX_SAFE_INTEGER)).toBe('8.0 PiB');
  });

  it('writes whole bytes without a fraction, fractions of a byte rounded', () => {
    expect(bytes(1)).toBe('1 B');
    expect(bytes(0.4)).toBe('0 B');
    expect(bytes(1023.4)).toBe('1023 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(1075)).toBe('1.0 KiB');
  });

  it('keeps the sign of a negative size (a shrinking counter, a delta) and picks the unit by magnitude', () => {
    expect(bytes(-512)).toBe('-512 B');
    expect(bytes(-2048)).toBe('-2.0 KiB');
    expect(bytes(-1023.7)).toBe('-1.0 KiB');
    expect(rate(-3 * 2 ** 20)).toBe('-3.0 MiB/s');
  });

  it('writes a dash, not NaN or Infinity, for no value', () => {
    for (const v of NOTHING) {
      expect(bytes(v)).toBe('–');
      expect(rate(v)).toBe('–');
    }
  });
});

describe('percent', () => {
  it('writes one decimal, rounding the way toFixed does, and no clamping', () => {
    expect(percent(0)).toBe('0.0%');
    expect(percent(42)).toBe('42.0%');
    expect(percent(12.345)).toBe('12.3%');
    expect(percent(99.96)).toBe('100.0%');
    expect(percent(-0.5)).toBe('-0.5%');
    expect(percent(250)).toBe('250.0%');
  });

  it('writes a dash for no value', () => {
    for (const v of NOTHING) expect(percent(v)).toBe('–');
  });
});

describe('duration', () => {
  it('writes minutes under an hour, hours and minutes under a day, days and hours beyond', () => {
    expect(duration(0)).toBe('0m');
    expect(duration(59)).toBe('0m');
    expect(duration(60)).toBe('1m');
    expect(duration(3599)).toBe('59m');
    expect(duration(3600)).toBe('1h 0m');
    expect(duration(86_399)).toBe('23h 59m');
    expect(duration(86_400)).toBe('1d 0h');
    expect(duration(90_061)).toBe('1d 1h');
    expect(duration(400 * 86_400 + 5 * 3600)).toBe('400d 5h');
  });

  it('takes fractional seconds, as a gauge of uptime gives them', () => {
    expect(duration(3661.9)).toBe('1h 1m');
  });

  it('writes a dash for no value', () => {
    for (const v of NOTHING) expect(duration(v)).toBe('–');
  });
});
