const W = 100;
const H = 28;
/** Points further apart than this are a gap in the line, not a segment. */
const GAP_MS = 35_000;

/**
 * A tiny CPU line as one SVG path: no chart library and no canvas context per row (creating
 * 2D contexts while scrolling through thousands of rows costs more than the drawing).
 */
export function drawSparkline(svg: SVGSVGElement, points: { t: number; v: number }[], online: boolean): void {
  const path = svg.firstElementChild as SVGPathElement;
  svg.dataset.online = String(online);
  if (points.length < 2) {
    path.setAttribute('d', '');
    return;
  }
  const t0 = (points[0] as { t: number }).t;
  const span = Math.max(1, (points[points.length - 1] as { t: number }).t - t0);
  let d = '';
  let prevT = Number.NaN;
  for (const p of points) {
    const x = ((p.t - t0) / span) * (W - 2) + 1;
    const y = H - 1 - (Math.max(0, Math.min(100, p.v)) / 100) * (H - 2);
    d += `${Number.isNaN(prevT) || p.t - prevT > GAP_MS ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`;
    prevT = p.t;
  }
  path.setAttribute('d', d);
}
