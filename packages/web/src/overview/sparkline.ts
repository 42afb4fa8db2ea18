/** The line colours, read from the stylesheet once per theme (reading styles forces a style pass). */
let colours: { theme: string; on: string; off: string } | undefined;
function colourFor(online: boolean): string {
  const theme = document.documentElement.dataset.theme ?? '';
  if (colours?.theme !== theme) {
    const css = getComputedStyle(document.documentElement);
    colours = { theme, on: css.getPropertyValue('--spark').trim() || '#3b82f6', off: css.getPropertyValue('--muted').trim() || '#888' };
  }
  return online ? colours.on : colours.off;
}

/** A tiny CPU line drawn on a canvas: no chart library per row, and no React render. */
export function drawSparkline(canvas: HTMLCanvasElement, points: { t: number; v: number }[], online: boolean): void {
  const ratio = window.devicePixelRatio || 1;
  const w = 100;
  const h = 28;
  if (canvas.width !== Math.round(w * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  if (points.length < 2) return;
  const t0 = (points[0] as { t: number }).t;
  const span = Math.max(1, (points[points.length - 1] as { t: number }).t - t0);
  ctx.strokeStyle = colourFor(online);
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let prevT = Number.NaN;
  for (const p of points) {
    const x = ((p.t - t0) / span) * (w - 2) + 1;
    const y = h - 1 - (Math.max(0, Math.min(100, p.v)) / 100) * (h - 2);
    // A missing bucket (more than two steps apart) is a gap, not a line.
    if (Number.isNaN(prevT) || p.t - prevT > 35_000) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
    prevT = p.t;
  }
  ctx.stroke();
}
