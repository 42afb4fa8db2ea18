/** How the Monitors page writes a monitor's figures. */

/** Certificates expiring sooner than this many days are flagged. */
export const CERT_WARN_DAYS = 14;
const DAY_MS = 86_400_000;

/** A share of successful checks as a percentage, cut (not rounded) so that 99.996% never reads 100.00%. */
export function uptimeText(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '–';
  return `${(Math.floor(share * 10_000) / 100).toFixed(2)}%`;
}

export function latencyText(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms >= 10 ? Math.round(ms) : ms.toFixed(1)} ms`;
}

/** Whole days until a certificate expires (negative once expired); null when the monitor has none. */
export function certDays(expiryMs: number | null, nowMs = Date.now()): number | null {
  return expiryMs === null ? null : Math.floor((expiryMs - nowMs) / DAY_MS);
}

/** A duration in ms as the probe config writes one: `30s`, `2m`, `500ms`. */
export function durationText(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
