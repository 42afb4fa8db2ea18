import { describe, expect, it } from 'vitest';
import { expectedIntervalMs, gapBreaks, intervalLookup } from '../src/host/gaps.ts';

const T = 1_700_000_000_000;
const S = 1000;
/** Time stamps from spacings in seconds. */
function spaced(...seconds: number[]): number[] {
  const out = [T];
  for (const s of seconds) out.push((out[out.length - 1] as number) + s * S);
  return out;
}
const raw = { stepMs: 0, fallbackMs: 10 * S };

describe('gapBreaks', () => {
  it('draws no gap when an idle agent slows from 10 s to 60 s reports', () => {
    expect(gapBreaks(spaced(10, 10, 10, 10, 60, 60, 60, 60), raw)).toEqual([]);
  });

  it('draws no gap when a busy agent speeds up from 60 s to 5 s reports', () => {
    expect(gapBreaks(spaced(60, 60, 60, 5, 5, 5, 5), raw)).toEqual([]);
  });

  it('breaks where three reports in a row are missing, and only there', () => {
    expect(gapBreaks(spaced(10, 10, 10, 40, 10, 10, 10), raw)).toEqual([4]);
  });

  it('tolerates one lost report', () => {
    expect(gapBreaks(spaced(10, 10, 20, 10, 10), raw)).toEqual([]);
  });

  it('breaks on an outage at 60 s reports, and on one right where the interval changes', () => {
    expect(gapBreaks(spaced(60, 60, 60, 600, 60, 60), raw)).toEqual([4]);
    expect(gapBreaks(spaced(10, 10, 10, 300, 60, 60, 60), raw)).toEqual([4]);
  });

  it('breaks twice for two outages with one report between them', () => {
    expect(gapBreaks(spaced(10, 10, 10, 300, 300, 10, 10, 10), raw)).toEqual([4, 5]);
  });

  it('takes the newest spacing at the end of the data as the registered interval allows (the agent just slowed down)', () => {
    // Registered with its longest interval, 60 s: a first 60 s spacing at the end is no gap...
    expect(gapBreaks(spaced(10, 10, 10, 60), { stepMs: 0, fallbackMs: 60 * S })).toEqual([]);
    // ...but ten minutes of silence is.
    expect(gapBreaks(spaced(10, 10, 10, 600), { stepMs: 0, fallbackMs: 60 * S })).toEqual([4]);
  });

  it('follows the interval the agent reported for each report when it has it', () => {
    const ts = spaced(10, 10, 10, 60);
    const at = intervalLookup(ts.map((t, i) => [t + 3, i < 4 ? 10 : 60]));
    expect(gapBreaks(ts, { stepMs: 0, fallbackMs: 10 * S, intervalAt: at })).toEqual([]);
    expect(gapBreaks(ts, { stepMs: 0, fallbackMs: 10 * S })).toEqual([4]);
  });

  it("measures in the server's step when it is longer than the interval", () => {
    expect(gapBreaks(spaced(60, 60, 120, 60, 60), { stepMs: 60 * S, fallbackMs: 10 * S })).toEqual([]);
    expect(gapBreaks(spaced(60, 60, 180, 60, 60), { stepMs: 60 * S, fallbackMs: 10 * S })).toEqual([3]);
  });

  it('has nothing to break with one point or none', () => {
    expect(gapBreaks([], raw)).toEqual([]);
    expect(gapBreaks([T], raw)).toEqual([]);
    expect(gapBreaks(spaced(10), raw)).toEqual([]);
    expect(gapBreaks(spaced(100), raw)).toEqual([1]);
  });

  it('expects the larger of the intervals on either side of a change', () => {
    expect(expectedIntervalMs(spaced(10, 10, 10, 60, 60, 60), 4, raw)).toBe(60 * S);
    expect(expectedIntervalMs(spaced(10, 10, 10, 10, 10, 10), 3, raw)).toBe(10 * S);
  });
});

describe('intervalLookup', () => {
  const at = intervalLookup([
    [T, 10],
    [T + 10 * S, null],
    [T + 20 * S, 10],
    [T + 80 * S, 60],
  ]);

  it('answers with the nearest report, in ms', () => {
    expect(at(T + 1)).toBe(10 * S);
    expect(at(T + 79 * S)).toBe(60 * S);
    expect(at(T + 21 * S)).toBe(10 * S);
  });

  it('does not answer for a moment far from every report, nor without any', () => {
    expect(at(T + 45 * S)).toBeUndefined();
    expect(intervalLookup([])(T)).toBeUndefined();
    expect(intervalLookup([[T, null]])(T)).toBeUndefined();
  });
});
