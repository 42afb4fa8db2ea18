import { describe, expect, it } from 'vitest';
import { chartClock, fittingIncrSec, overlappingLabels, rangeBounds, TICK_GAP_MIN_PX, tickKind } from '../src/host/time-axis.ts';

const NOW = new Date(2026, 11, 6, 14, 5, 30).getTime();
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe('rangeBounds', () => {
  it('spans a sliding range from now - span to now, whatever the data', () => {
    for (const span of [15 * MIN, HOUR, 6 * HOUR, DAY, 7 * DAY, 30 * DAY]) {
      expect(rangeBounds({ spanMs: span }, NOW)).toEqual({ fromMs: NOW - span, toMs: NOW });
    }
  });

  it('keeps the bounds of a custom range', () => {
    expect(rangeBounds({ fromMs: 1000, toMs: 5000 }, NOW)).toEqual({ fromMs: 1000, toMs: 5000 });
  });
});

describe('chartClock', () => {
  const at = new Date(2026, 11, 6, 14, 5, 30);

  it('writes Chinese year-month-day with a 24-hour clock, in the legend and on the axis', () => {
    const zh = chartClock('zh');
    expect(zh.full(at.getTime())).toBe('2026-12-06 14:05:30');
    expect(zh.ticks([at.getTime()], 5 * MIN)).toEqual(['14:05\n12-06']);
    expect(zh.ticks([at.getTime()], 10_000)).toEqual(['14:05:30\n12-06']);
    expect(zh.ticks([at.getTime()], DAY)).toEqual(['12-06\n2026']);
    expect(zh.ticks([at.getTime()], 30 * DAY)).toEqual(['2026-12']);
    expect(zh.ticks([at.getTime()], 365 * DAY)).toEqual(['2026']);
  });

  it('writes English in the browser locale: a 12-hour US clock and month/day, or a 24-hour British one and day/month', () => {
    const us = chartClock('en', 'en-US');
    expect(us.full(at.getTime())).toBe('12/6/2026, 2:05:30 PM');
    expect(us.ticks([at.getTime()], 5 * MIN)).toEqual(['2:05 PM\n12/6']);
    const gb = chartClock('en', 'en-GB');
    expect(gb.full(at.getTime())).toBe('06/12/2026, 14:05:30');
    expect(gb.ticks([at.getTime()], 5 * MIN)).toEqual(['14:05\n06/12']);
  });

  it('names the day on the first tick and where the day changes, not on every tick', () => {
    const zh = chartClock('zh');
    const evening = new Date(2026, 11, 6, 22, 0).getTime();
    const ticks = [0, 1, 2, 3].map((k) => evening + k * HOUR);
    expect(zh.ticks(ticks, HOUR)).toEqual(['22:00\n12-06', '23:00', '00:00\n12-07', '01:00']);
  });

  it('offers labels as wide as the step can show, day line included for times', () => {
    expect(chartClock('zh').widest(5 * MIN)).toEqual(expect.arrayContaining(['22:58', '12-28']));
    expect(chartClock('en', 'en-US').widest(5 * MIN)).toEqual(expect.arrayContaining(['10:58 PM']));
  });

  it('tells the kind of label from the step', () => {
    expect([1000, MIN, HOUR, DAY, 7 * DAY, 30 * DAY, 365 * DAY].map(tickKind)).toEqual([
      'second',
      'minute',
      'minute',
      'day',
      'day',
      'month',
      'year',
    ]);
  });
});

describe('tick spacing', () => {
  /** Labels 60 px wide, as "10:58 PM" in 12 px type. */
  const sixty = () => 60;

  it('picks the smallest step whose labels fit side by side, with a gap', () => {
    // 15 minutes over 1000 px: 1.11 px per second; 60 s is 67 px, short of 60 + 16.
    expect(fittingIncrSec(15 * MIN, 1000, sixty)).toBe(120);
    // On a phone (about 300 px of plot) the same range gets a tick every 5 minutes.
    expect(fittingIncrSec(15 * MIN, 300, sixty)).toBe(300);
    // A day over 300 px: 6 h would be 75 px apart, one short; 8 h is 100 px apart.
    expect(fittingIncrSec(DAY, 300, sixty)).toBe(8 * 3600);
    // A day over 200 px: the roomy step is 12 h, two ticks, one of which may sit too near an edge for a
    // label; so 8 h, 67 px apart, whose labels still clear each other.
    expect(fittingIncrSec(DAY, 200, sixty)).toBe(8 * 3600);
    // A day over 150 px: 8 h would be 50 px apart, narrower than a label: 12 h all the same.
    expect(fittingIncrSec(DAY, 150, sixty)).toBe(12 * 3600);
  });

  it('never leaves ticks closer than their labels are wide, at any width', () => {
    for (const width of [200, 280, 360, 430, 800, 1280, 1920]) {
      for (const span of [15 * MIN, HOUR, 6 * HOUR, DAY, 7 * DAY, 30 * DAY]) {
        const incr = fittingIncrSec(span, width, sixty);
        // The roomy gap where it leaves three ticks or more, else at least the least gap.
        expect((incr * 1000 * width) / span, `${width} px, ${span} ms`).toBeGreaterThanOrEqual(60 + TICK_GAP_MIN_PX);
      }
    }
  });

  it('counts labels that run into their neighbour', () => {
    expect(
      overlappingLabels([
        { at: 0, width: 50 },
        { at: 60, width: 50 },
      ]),
    ).toBe(0);
    expect(
      overlappingLabels([
        { at: 0, width: 50 },
        { at: 40, width: 50 },
        { at: 200, width: 50 },
      ]),
    ).toBe(1);
  });
});
