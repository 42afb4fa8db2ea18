/**
 * Parses `10s`, `500ms`, `1m`, `2h`, `1d` or a bare number of seconds into milliseconds. Apart
 * from config.ts (no file or YAML reading) so the API contract can check durations with it.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') return input * 1000;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(input);
  if (!m) throw new Error(`"${input}" is not a duration (e.g. 500ms, 10s, 5m, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms'];
}
