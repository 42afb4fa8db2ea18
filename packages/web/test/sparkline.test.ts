import { describe, expect, it } from 'vitest';
import { drawSparkline } from '../src/overview/sparkline.ts';

/** The row's sparkline as Overview renders it: an svg with one path. */
function svg(): SVGSVGElement {
  const el = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  el.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'path'));
  return el;
}

const T = 1_700_000_000_000;
const path = (el: SVGSVGElement) => el.firstElementChild?.getAttribute('d') ?? '';
/** The path's commands as [command, x, y]. */
const commands = (d: string) => [...d.matchAll(/([ML])(-?[\d.]+) (-?[\d.]+)/g)].map((m) => [m[1], Number(m[2]), Number(m[3])]);

describe('drawSparkline', () => {
  it('draws nothing for no point or one point, and says whether the agent is online', () => {
    const el = svg();
    drawSparkline(el, [], true);
    expect(path(el)).toBe('');
    expect(el.dataset.online).toBe('true');
    drawSparkline(el, [{ t: T, v: 50 }], false);
    expect(path(el)).toBe('');
    expect(el.dataset.online).toBe('false');
  });

  it('spans the width from the first point to the last, 0% at the bottom and 100% at the top', () => {
    const el = svg();
    drawSparkline(
      el,
      [
        { t: T, v: 0 },
        { t: T + 15_000, v: 50 },
        { t: T + 30_000, v: 100 },
      ],
      true,
    );
    expect(path(el)).toBe('M1.0 27.0L50.0 14.0L99.0 1.0');
  });

  it('places points by time, not by index', () => {
    const el = svg();
    drawSparkline(
      el,
      [
        { t: T, v: 10 },
        { t: T + 5_000, v: 10 },
        { t: T + 20_000, v: 10 },
      ],
      true,
    );
    expect(commands(path(el)).map(([, x]) => x)).toEqual([1, 25.5, 99]);
  });

  it('draws no gap when the agent slows from 10 s to 60 s reports, in 15 s buckets', () => {
    const el = svg();
    const points = [
      ...[0, 1, 2, 3, 4, 5].map((k) => ({ t: T + k * 15_000, v: 10 })),
      ...[1, 2, 3, 4].map((k) => ({ t: T + 75_000 + k * 60_000, v: 5 })),
    ];
    drawSparkline(el, points, true, 60_000);
    expect(commands(path(el)).map(([c]) => c)).toEqual(['M', ...points.slice(1).map(() => 'L')]);
    expect(el.dataset.gaps).toBe('0');
  });

  it('leaves a gap where several reports in a row are missing, and only there', () => {
    const el = svg();
    // Every bucket for a minute, nothing for two minutes (8 buckets), then every bucket again.
    const t = [0, 1, 2, 3, 4, 12, 13, 14, 15].map((k) => T + k * 15_000);
    drawSparkline(
      el,
      t.map((x) => ({ t: x, v: 20 })),
      true,
      10_000,
    );
    expect(commands(path(el)).map(([c]) => c)).toEqual(['M', 'L', 'L', 'L', 'L', 'M', 'L', 'L', 'L']);
    expect(el.dataset.gaps).toBe('1');
  });

  it('keeps the line inside the box for values below 0% or above 100%', () => {
    const el = svg();
    drawSparkline(
      el,
      [
        { t: T, v: -20 },
        { t: T + 15_000, v: 180 },
      ],
      true,
    );
    expect(commands(path(el)).map(([, , y]) => y)).toEqual([27, 1]);
  });

  it('draws points that share one timestamp at the left edge instead of dividing by zero', () => {
    const el = svg();
    drawSparkline(
      el,
      [
        { t: T, v: 20 },
        { t: T, v: 40 },
      ],
      true,
    );
    expect(path(el)).not.toMatch(/NaN|Infinity/);
    expect(commands(path(el)).map(([, x]) => x)).toEqual([1, 1]);
  });

  it('clears a line drawn before when the points go', () => {
    const el = svg();
    drawSparkline(
      el,
      [
        { t: T, v: 20 },
        { t: T + 15_000, v: 40 },
      ],
      true,
    );
    expect(path(el)).not.toBe('');
    drawSparkline(el, [], false);
    expect(path(el)).toBe('');
  });
});
