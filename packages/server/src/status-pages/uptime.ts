/**
 * Daily uptime for the public pages, from the store's rollups (docs/status-pages.md#uptime):
 * - a host is up in a time bucket when it reported in it, the bucket being as wide as the
 *   dashboard's offline rule (offline_after_intervals report intervals), at least a minute;
 *   the falconet_agent_build_info series is in every report, so its count per bucket is presence;
 * - a monitor's day is the mean of its probe_success (0/1) over every location and check that day.
 * Days are UTC days; a day before a host was first seen, or with no probe result, has no value.
 */
import { STATUS_DAYS } from '@falconet/protocol/api';
import type { Store } from '../store/types.ts';

export const DAY_MS = 86_400_000;
/** A series every agent report carries (the agent's self-metrics). */
export const PRESENCE_METRIC = 'falconet_agent_build_info';
export const PROBE_SUCCESS = 'probe_success';

/** Start (UTC midnight) of the first of the page's days; the last is today. */
export function firstDayMs(nowMs: number, days = STATUS_DAYS): number {
  return Math.floor(nowMs / DAY_MS) * DAY_MS - (days - 1) * DAY_MS;
}

export interface HostPresence {
  id: string;
  /** When the server first heard of it: days before have no value rather than 0 %. */
  firstSeenMs: number;
  intervalMs: number;
}

/** The width of the buckets in which a host counts as up when it reported: the dashboard's offline rule, in whole minutes. */
export function presenceBucketMs(intervalMs: number, offlineAfterIntervals: number): number {
  const minute = 60_000;
  return Math.max(minute, Math.ceil((Math.max(1, intervalMs) * offlineAfterIntervals) / minute) * minute);
}

/**
 * The share of each day a host was up: buckets with a report over buckets the day had since the
 * host was first seen, up to now. The bucket still open now counts only if it already has a report.
 */
export async function hostDays(
  store: Store,
  host: HostPresence,
  nowMs: number,
  offlineAfterIntervals: number,
  days = STATUS_DAYS,
): Promise<(number | null)[]> {
  const from = firstDayMs(nowMs, days);
  const wanted = presenceBucketMs(host.intervalMs, offlineAfterIntervals);
  const series = await store.querySeries({
    agentId: host.id,
    name: PRESENCE_METRIC,
    fromMs: from,
    toMs: nowMs,
    stepMs: wanted,
    agg: 'count',
  });
  // A rollup tier may widen the step (to whole hours when the 1 m tier no longer holds the range).
  const step = series.reduce((s, r) => Math.max(s, r.stepMs ?? wanted), wanted);
  const present = new Set<number>();
  for (const s of series) for (const [t, n] of s.points) if (n > 0) present.add(Math.floor(t / step) * step);
  return presenceDays(present, step, host.firstSeenMs, nowMs, days);
}

/**
 * Each day's share of buckets (starts in `present`, `step` wide) with a report, counted from the
 * earlier of `firstSeenMs` and the first report, up to `nowMs`; null for a day with no bucket to count.
 */
export function presenceDays(
  present: ReadonlySet<number>,
  step: number,
  firstSeenMs: number,
  nowMs: number,
  days = STATUS_DAYS,
): (number | null)[] {
  const from = firstDayMs(nowMs, days);
  let earliest = firstSeenMs;
  for (const b of present) if (b < earliest) earliest = b;
  const expectedFrom = Math.floor(earliest / step) * step;
  const out: (number | null)[] = [];
  for (let d = 0; d < days; d++) {
    const dayStart = from + d * DAY_MS;
    const dayEnd = dayStart + DAY_MS;
    let total = 0;
    let up = 0;
    for (let b = Math.floor(Math.max(dayStart, expectedFrom) / step) * step; b < dayEnd && b <= nowMs; b += step) {
      if (b < dayStart) continue;
      const isUp = present.has(b);
      // The bucket under way (it ends after now) has not had its chance to report yet.
      if (!isUp && b + step - 1 > nowMs) continue;
      total++;
      if (isUp) up++;
    }
    out.push(total ? up / total : null);
  }
  return out;
}

/** Each day's mean probe_success of a monitor over all its locations; null on days without a result. */
export async function monitorDays(store: Store, monitorId: string, nowMs: number, days = STATUS_DAYS): Promise<(number | null)[]> {
  const from = firstDayMs(nowMs, days);
  const [group] = await store.queryAggregate({
    name: PROBE_SUCCESS,
    labels: { monitor: monitorId },
    fromMs: from,
    toMs: nowMs,
    stepMs: DAY_MS,
    agg: 'avg',
    across: 'avg',
  });
  const out: (number | null)[] = new Array(days).fill(null);
  for (const [t, v] of group?.points ?? []) {
    const i = Math.floor((t - from) / DAY_MS);
    if (i >= 0 && i < days && Number.isFinite(v)) out[i] = v;
  }
  return out;
}

/** Over the days that have a value. */
export function overall(days: readonly (number | null)[]): number | null {
  const known = days.filter((d): d is number => d !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
}
