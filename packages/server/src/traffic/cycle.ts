/** Billing-cycle calendar arithmetic and counter increases: pure functions, no clock, no store. */

/** One formatter per time zone: making an Intl.DateTimeFormat costs far more than using one. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The zone's offset from UTC at this instant, in ms (east positive). */
export function zoneOffsetMs(tz: string, atMs: number): number {
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let sec = 0;
  for (const p of formatterOf(tz).formatToParts(atMs)) {
    if (p.type === 'year') y = Number(p.value);
    else if (p.type === 'month') mo = Number(p.value);
    else if (p.type === 'day') d = Number(p.value);
    else if (p.type === 'hour') h = Number(p.value);
    else if (p.type === 'minute') mi = Number(p.value);
    else if (p.type === 'second') sec = Number(p.value);
  }
  return Date.UTC(y, mo - 1, d, h, mi, sec) - Math.floor(atMs / 1000) * 1000;
}

/** The instant a wall-clock time in `tz` names (the later reading when a DST change repeats it). */
export function zonedToUtc(tz: string, y: number, month0: number, d: number, h = 0, min = 0): number {
  const wall = Date.UTC(y, month0, d, h, min);
  let t = wall - zoneOffsetMs(tz, wall);
  t = wall - zoneOffsetMs(tz, t);
  return t;
}

/** The calendar date (year, month0, day) of an instant in `tz`. */
export function zonedDate(tz: string, atMs: number): { y: number; m: number; d: number } {
  const w = new Date(atMs + zoneOffsetMs(tz, atMs));
  return { y: w.getUTCFullYear(), m: w.getUTCMonth(), d: w.getUTCDate() };
}

const daysIn = (y: number, month0: number) => new Date(Date.UTC(y, month0 + 1, 0)).getUTCDate();

export interface CycleRule {
  resetDay: number;
  /** Minutes after midnight. */
  resetMinute: number;
  timeZone: string;
}

/** The start of the cycle that would begin in this month (reset day clamped to the month's end). */
function cycleStartIn(rule: CycleRule, y: number, month0: number): number {
  const yy = y + Math.floor(month0 / 12);
  const mm = ((month0 % 12) + 12) % 12;
  const day = Math.min(rule.resetDay, daysIn(yy, mm));
  return zonedToUtc(rule.timeZone, yy, mm, day, Math.floor(rule.resetMinute / 60), rule.resetMinute % 60);
}

/** [start, end) of the billing cycle holding `atMs`. */
export function cycleAt(rule: CycleRule, atMs: number): { startMs: number; endMs: number } {
  const { y, m } = zonedDate(rule.timeZone, atMs);
  for (const back of [0, 1]) {
    const start = cycleStartIn(rule, y, m - back);
    if (start <= atMs) return { startMs: start, endMs: cycleStartIn(rule, y, m - back + 1) };
  }
  // Unreachable: last month's reset is always in the past.
  throw new Error(`no billing cycle holds ${new Date(atMs).toISOString()}`);
}

/** Local midnights in `tz` from the day holding `fromMs` up to `toMs`: [date, startMs] pairs. */
export function daysBetween(tz: string, fromMs: number, toMs: number): { date: string; startMs: number }[] {
  const out: { date: string; startMs: number }[] = [];
  let { y, m, d } = zonedDate(tz, fromMs);
  for (;;) {
    const start = zonedToUtc(tz, y, m, d);
    if (start >= toMs) break;
    out.push({ date: `${y}-${String(m + 1).padStart(2, '0')}-${String(d).padStart(2, '0')}`, startMs: start });
    const next = new Date(Date.UTC(y, m, d + 1));
    y = next.getUTCFullYear();
    m = next.getUTCMonth();
    d = next.getUTCDate();
  }
  return out;
}

/**
 * Bytes a counter grew by inside each [edges[i], edges[i+1]) interval. Between two samples the
 * growth is the difference, or the later value when the counter went down (a reset: counting starts
 * again from zero, as Prometheus' increase() takes it), spread evenly over the time between them, so
 * a gap (agent or server down) gives each interval its share instead of piling it on the later one.
 */
export function increasesIn(points: readonly (readonly [number, number])[], edges: readonly number[]): number[] {
  const out = new Array<number>(Math.max(0, edges.length - 1)).fill(0);
  for (let i = 1; i < points.length; i++) {
    const [t0, v0] = points[i - 1] as readonly [number, number];
    const [t1, v1] = points[i] as readonly [number, number];
    if (!(t1 > t0)) continue;
    const grew = v1 >= v0 ? v1 - v0 : v1;
    if (grew <= 0) continue;
    for (let k = 0; k < out.length; k++) {
      const a = Math.max(t0, edges[k] as number);
      const b = Math.min(t1, edges[k + 1] as number);
      if (b > a) out[k] = (out[k] as number) + (grew * (b - a)) / (t1 - t0);
    }
  }
  return out;
}
