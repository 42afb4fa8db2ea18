/**
 * Where a chart's line breaks: only where data is missing for longer than the agent's own report
 * interval at that time. The interval is read from what the agent reported
 * (`falconet_agent_report_interval_seconds`, in every report) when the chart has it, and derived
 * from the spacing of the neighbouring points in any case, so an agent that slows from 10 s to
 * 60 s reports (`report.dynamic`) or a collector that runs every minute draws no false gap, while
 * a real outage still shows.
 */

/** A line breaks where two points are further apart than this many expected intervals (one lost report is no gap). */
export const GAP_FACTOR = 2.5;

export interface GapRule {
  /** The width of the server's buckets for this range (0: raw points). */
  stepMs: number;
  /** What to expect where the neighbours cannot tell (too few points on one side): the agent's registered interval. */
  fallbackMs: number;
  /** The agent's report interval in ms in effect for the report at `tMs`, when known. */
  intervalAt?: (tMs: number) => number | undefined;
}

/**
 * The median of up to three spacings from point `from` walking in `dir` (of two, the shorter);
 * undefined where there is none. No array: it runs for every point of every line.
 */
function medianSpacing(ts: ArrayLike<number>, from: number, dir: 1 | -1): number | undefined {
  const spacing = (k: number) => {
    const a = ts[from + k * dir];
    const b = ts[from + (k + 1) * dir];
    return a === undefined || b === undefined ? undefined : Math.abs(b - a);
  };
  const x = spacing(0);
  if (x === undefined) return undefined;
  const y = spacing(1);
  if (y === undefined) return x;
  const z = spacing(2);
  if (z === undefined) return Math.min(x, y);
  return Math.max(Math.min(x, y), Math.min(Math.max(x, y), z));
}

/** The interval expected between points `i - 1` and `i` of `ts` (ms, ascending). */
export function expectedIntervalMs(ts: ArrayLike<number>, i: number, rule: GapRule): number {
  const before = medianSpacing(ts, i - 1, -1);
  const after = medianSpacing(ts, i, 1);
  let derived = Math.max(before ?? 0, after ?? 0);
  // At either end of the data the neighbours on that side are unknown: the interval the agent registered with.
  if (before === undefined || after === undefined) derived = Math.max(derived, rule.fallbackMs);
  const reported = rule.intervalAt?.(ts[i] as number) ?? 0;
  return Math.max(rule.stepMs, reported, derived);
}

/** The indexes `i` of `ts` (ms, ascending) where the line must not join point `i - 1` to point `i`. */
export function gapBreaks(ts: ArrayLike<number>, rule: GapRule): number[] {
  const out: number[] = [];
  for (let i = 1; i < ts.length; i++) {
    if ((ts[i] as number) - (ts[i - 1] as number) > GAP_FACTOR * expectedIntervalMs(ts, i, rule)) out.push(i);
  }
  return out;
}

/**
 * Looks up the agent's report interval from the history of `falconet_agent_report_interval_seconds`
 * ([ms, seconds] points, ascending): the value of the point nearest in time, if it belongs to the
 * same report (within half an interval or half a step), else undefined.
 */
export function intervalLookup(points: readonly (readonly [number, number | null])[], stepMs = 0): (tMs: number) => number | undefined {
  const known = points.filter((p): p is readonly [number, number] => p[1] !== null && p[1] > 0);
  if (!known.length) return () => undefined;
  return (tMs) => {
    let lo = 0;
    let hi = known.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((known[mid] as readonly [number, number])[0] < tMs) lo = mid + 1;
      else hi = mid;
    }
    let best = known[lo] as readonly [number, number];
    const prev = known[lo - 1];
    if (prev && Math.abs(prev[0] - tMs) < Math.abs(best[0] - tMs)) best = prev;
    const ms = best[1] * 1000;
    return Math.abs(best[0] - tMs) <= Math.max(ms / 2, stepMs / 2, 1000) ? ms : undefined;
  };
}
