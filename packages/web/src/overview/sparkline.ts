import { gapBreaks } from '../host/gaps.ts';
import { SPARK_STEP_MS } from './store.ts';

const W = 100;
const H = 28;

/**
 * A tiny CPU line as one SVG path: no chart library and no canvas context per row (creating
 * 2D contexts while scrolling through thousands of rows costs more than the drawing). The line
 * breaks by the host charts' rule (gaps.ts): only where points are missing for longer than the
 * agent's report interval at that time, so an agent slowing to 60 s reports draws no dashes.
 * `intervalMs` is the interval the agent registered with (its longest).
 */
export function drawSparkline(svg: SVGSVGElement, points: { t: number; v: number }[], online: boolean, intervalMs = 0): void {
  const path = svg.firstElementChild as SVGPathElement;
  svg.dataset.online = String(online);
  if (points.length < 2) {
    path.setAttribute('d', '');
    svg.dataset.gaps = '0';
    return;
  }
  const ts = points.map((p) => p.t);
  const breaks = new Set(gapBreaks(ts, { stepMs: SPARK_STEP_MS, fallbackMs: intervalMs }));
  const t0 = ts[0] as number;
  const span = Math.max(1, (ts[ts.length - 1] as number) - t0);
  let d = '';
  points.forEach((p, i) => {
    const x = ((p.t - t0) / span) * (W - 2) + 1;
    const y = H - 1 - (Math.max(0, Math.min(100, p.v)) / 100) * (H - 2);
    d += `${i === 0 || breaks.has(i) ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`;
  });
  path.setAttribute('d', d);
  svg.dataset.gaps = String(breaks.size);
}
