/**
 * The local time zone's abbreviation (`UTC`, `CET`, `CEST`), as node_exporter labels
 * node_time_zone_offset_seconds. It comes from the POSIX TZ rule in the footer of a TZif file
 * (tzfile(5), version 2 and later), e.g. `CET-1CEST,M3.5.0,M10.5.0/3`.
 */
export interface PosixZone {
  std: string;
  /** Standard time's offset east of UTC, in seconds. */
  stdOffsetSeconds: number;
  dst?: string;
}

const NAME = '(<[^>]+>|[A-Za-z]{3,})';
const OFFSET = '([-+]?\\d{1,2}(?::\\d{1,2}){0,2})';
const RULE = new RegExp(`^${NAME}${OFFSET}${NAME}?`);

function offsetSeconds(s: string): number {
  const sign = s.startsWith('-') ? -1 : 1;
  const [h = 0, m = 0, sec = 0] = s.replace(/^[-+]/, '').split(':').map(Number);
  // POSIX counts offsets west of Greenwich as positive: `CET-1` is one hour east.
  return -sign * (h * 3600 + m * 60 + sec);
}

const unbracket = (s: string) => s.replace(/^<(.*)>$/, '$1');

export function parsePosixZone(rule: string): PosixZone | undefined {
  const m = RULE.exec(rule.trim());
  if (!m) return undefined;
  const zone: PosixZone = { std: unbracket(m[1] as string), stdOffsetSeconds: offsetSeconds(m[2] as string) };
  if (m[3]) zone.dst = unbracket(m[3]);
  return zone;
}

/** The POSIX rule at the end of a TZif file, or undefined for a version 1 file without one. */
export function tzifFooter(file: Buffer): string | undefined {
  if (file.length < 44 || file.toString('latin1', 0, 4) !== 'TZif' || file[4] === 0) return undefined;
  const text = file.toString('latin1');
  const end = text.endsWith('\n') ? text.length - 1 : text.length;
  const start = text.lastIndexOf('\n', end - 1);
  return start < 0 ? undefined : text.slice(start + 1, end);
}

/** The abbreviation in effect, given the current offset east of UTC in seconds. */
export function zoneAbbreviation(zone: PosixZone, currentOffsetSeconds: number): string {
  return zone.dst && currentOffsetSeconds !== zone.stdOffsetSeconds ? zone.dst : zone.std;
}
