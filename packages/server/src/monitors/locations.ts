/**
 * Each location's latest check of a monitor, as its agent reported it, and the monitor's status
 * from them: the in-memory state the list and the alerts read, kept up to date at ingest.
 */
import type { Sample } from '@falconet/protocol';
import type { MonitorStatus } from '@falconet/protocol/api';

export interface LocationResult {
  up: boolean | null;
  latencyMs: number | null;
  lastCheckMs: number | null;
  /** probe_ssl_earliest_cert_expiry in ms since the epoch; null when the probe is not TLS. */
  certExpiryMs: number | null;
}

export const emptyResult = (): LocationResult => ({ up: null, latencyMs: null, lastCheckMs: null, certExpiryMs: null });

/** The probe_* names a monitor's figures come from. */
export const MONITOR_SERIES = new Set(['probe_success', 'probe_duration_seconds', 'probe_ssl_earliest_cert_expiry']);

/** Folds one probe_* sample into a location's result; true when its up/down changed. */
export function applySample(r: LocationResult, s: Sample): boolean {
  if (r.lastCheckMs !== null && s.timestampMs < r.lastCheckMs) return false;
  switch (s.name) {
    case 'probe_success': {
      const up = s.value === 1;
      const changed = r.up !== up;
      r.up = up;
      r.lastCheckMs = s.timestampMs;
      return changed;
    }
    case 'probe_duration_seconds':
      r.latencyMs = s.value * 1000;
      return false;
    case 'probe_ssl_earliest_cert_expiry':
      r.certExpiryMs = s.value * 1000;
      return false;
    default:
      return false;
  }
}

/**
 * A result older than this says nothing about now (the agent went away or stopped the probe): two
 * probe intervals and a minute for reports on their way.
 */
export const staleAfterMs = (intervalMs: number) => 2 * intervalMs + 60_000;

export interface Tally {
  status: MonitorStatus;
  failing: number;
  /** Mean latency over the locations with a fresh result. */
  latencyMs: number | null;
  certExpiryMs: number | null;
  lastCheckMs: number | null;
}

/**
 * The monitor's status from its locations' fresh results: `down` when at least `threshold` fail,
 * `partial` when some fail but fewer, `up` when none fails and one succeeds, `pending` with no fresh result.
 */
export function tally(results: Iterable<LocationResult>, threshold: number, paused: boolean, nowMs: number, staleMs: number): Tally {
  let failing = 0;
  let succeeding = 0;
  let latencySum = 0;
  let latencyN = 0;
  let cert: number | null = null;
  let last: number | null = null;
  for (const r of results) {
    if (r.lastCheckMs === null || nowMs - r.lastCheckMs > staleMs) continue;
    if (r.up) succeeding++;
    else failing++;
    if (r.latencyMs !== null) {
      latencySum += r.latencyMs;
      latencyN++;
    }
    if (r.certExpiryMs !== null && r.certExpiryMs > 0 && (cert === null || r.certExpiryMs < cert)) cert = r.certExpiryMs;
    if (last === null || r.lastCheckMs > last) last = r.lastCheckMs;
  }
  const status: MonitorStatus = paused
    ? 'paused'
    : failing >= threshold
      ? 'down'
      : failing > 0
        ? 'partial'
        : succeeding > 0
          ? 'up'
          : 'pending';
  return { status, failing, latencyMs: latencyN ? latencySum / latencyN : null, certExpiryMs: cert, lastCheckMs: last };
}
