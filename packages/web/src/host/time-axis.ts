/**
 * The time axis of the host page's charts: the window a range shows, dates and times in the
 * dashboard's language (one formatter for axis ticks and legend alike), and tick steps chosen from
 * the measured width of their labels so that they never overlap.
 */
import type { Lang } from '../i18n.tsx';

/** A time window: a sliding one ending now (`spanMs`), or fixed bounds. */
export type Range = { spanMs: number } | { fromMs: number; toMs: number };

/** The bounds a range shows at `nowMs`, whatever data there is: `now - span` to `now`, or the fixed bounds. */
export function rangeBounds(range: Range, nowMs: number): { fromMs: number; toMs: number } {
  return 'spanMs' in range ? { fromMs: nowMs - range.spanMs, toMs: nowMs } : { fromMs: range.fromMs, toMs: range.toMs };
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Tick steps in seconds, as uPlot's time axis understands them (multiples of 30 days are months,
 * of 365 days years, both cut at calendar boundaries).
 */
export const TIME_INCRS: readonly number[] = [
  1,
  2,
  5,
  10,
  15,
  30,
  60,
  120,
  300,
  600,
  900,
  1800,
  3600,
  7200,
  10800,
  14400,
  21600,
  28800,
  43200,
  86400,
  2 * 86400,
  3 * 86400,
  7 * 86400,
  14 * 86400,
  30 * 86400,
  60 * 86400,
  90 * 86400,
  180 * 86400,
  365 * 86400,
  2 * 365 * 86400,
  5 * 365 * 86400,
  10 * 365 * 86400,
];

/** What a tick label at a given step shows. */
export type TickKind = 'second' | 'minute' | 'day' | 'month' | 'year';

export function tickKind(incrMs: number): TickKind {
  if (incrMs < MINUTE) return 'second';
  if (incrMs < DAY) return 'minute';
  if (incrMs < 28 * DAY) return 'day';
  if (incrMs < 365 * DAY) return 'month';
  return 'year';
}

/** Dates and times in one language, for axis ticks and the legend alike. */
export interface ChartClock {
  /** A moment in full, for the legend: `2026-12-06 14:05:30`, or the browser locale's `12/6/2026, 2:05:30 PM`. */
  full(ms: number): string;
  /** The labels of ticks `ticksMs` spaced `incrMs` apart; the date joins a time on the first tick and where the day changes. */
  ticks(ticksMs: readonly number[], incrMs: number): string[];
  /** Labels as wide as any this step can show, to measure. */
  widest(incrMs: number): string[];
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Chinese: year-month-day order and a 24-hour clock, whatever the browser's locale. */
const ZH = {
  time: (d: Date, seconds: boolean) => `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`,
  day: (d: Date) => `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
  month: (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}`,
  year: (d: Date) => String(d.getFullYear()),
  full: (d: Date) => `${d.getFullYear()}-${ZH.day(d)} ${ZH.time(d, true)}`,
};

type Formats = typeof ZH;

/** The browser's locale (or `locale`), through Intl; the formatters are made once per clock. */
function intlFormats(locale: string | undefined): Formats {
  const f = (o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat(locale, o);
  // A 24-hour clock writes the hour with two digits (01:18), as its users read it; ICU's numeric
  // hour gives 1:18 before ten. A 12-hour clock keeps one (1:18 AM).
  const cycle = f({ hour: 'numeric' }).resolvedOptions().hourCycle;
  const hour: Intl.DateTimeFormatOptions['hour'] = cycle === 'h23' || cycle === 'h24' ? '2-digit' : 'numeric';
  const hm = f({ hour, minute: '2-digit' });
  const hms = f({ hour, minute: '2-digit', second: '2-digit' });
  const md = f({ month: 'numeric', day: 'numeric' });
  const ym = f({ year: 'numeric', month: 'short' });
  const y = f({ year: 'numeric' });
  const all = f({ year: 'numeric', month: 'numeric', day: 'numeric', hour, minute: '2-digit', second: '2-digit' });
  return {
    time: (d, seconds) => (seconds ? hms : hm).format(d),
    day: (d) => md.format(d),
    month: (d) => ym.format(d),
    year: (d) => y.format(d),
    full: (d) => all.format(d),
  };
}

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** Moments whose labels are about the widest: two-digit hours, months and days, afternoon. */
const WIDE_SAMPLES = [new Date(2026, 11, 28, 22, 58, 58), new Date(2026, 10, 30, 10, 48, 48), new Date(2026, 8, 18, 18, 38, 38)];

/** The clock of a language: Chinese by fixed patterns; English in the browser's locale (`locale` stands in for it in tests). */
export function chartClock(lang: Lang, locale?: string): ChartClock {
  const fmt = lang === 'zh' ? ZH : intlFormats(locale);
  const label = (d: Date, kind: TickKind) => {
    switch (kind) {
      case 'second':
        return fmt.time(d, true);
      case 'minute':
        return fmt.time(d, false);
      case 'day':
        return fmt.day(d);
      case 'month':
        return fmt.month(d);
      default:
        return fmt.year(d);
    }
  };
  return {
    full: (ms) => fmt.full(new Date(ms)),
    ticks: (ticksMs, incrMs) => {
      const kind = tickKind(incrMs);
      let prev: Date | undefined;
      return ticksMs.map((ms) => {
        const d = new Date(ms);
        let text = label(d, kind);
        // Times say which day on the first tick and at midnight; days say which year on the first tick and at New Year.
        if ((kind === 'second' || kind === 'minute') && (!prev || !sameDay(prev, d))) text += `\n${fmt.day(d)}`;
        else if (kind === 'day' && (!prev || prev.getFullYear() !== d.getFullYear())) text += `\n${fmt.year(d)}`;
        prev = d;
        return text;
      });
    },
    widest: (incrMs) => {
      const kind = tickKind(incrMs);
      // A time's second line names the day.
      const days = kind === 'second' || kind === 'minute' ? WIDE_SAMPLES.map((d) => fmt.day(d)) : [];
      return [...WIDE_SAMPLES.map((d) => label(d, kind)), ...days];
    },
  };
}

/** Free space between two neighbouring tick labels, in CSS pixels. */
export const TICK_GAP_PX = 16;
/** The least free space between two labels, where the roomy step would leave fewer than three ticks. */
export const TICK_GAP_MIN_PX = 6;

/**
 * The smallest tick step (from `incrsSec`, in seconds) whose labels fit side by side across
 * `widthPx` for a window of `spanMs`: each step's widest label plus a gap must fit in the
 * distance between its ticks. The largest step when none fits.
 */
export function fittingIncrSec(
  spanMs: number,
  widthPx: number,
  labelWidthPx: (incrMs: number) => number,
  incrsSec: readonly number[] = TIME_INCRS,
): number {
  const pxPerMs = widthPx / Math.max(1, spanMs);
  const fits = (gapPx: number) => incrsSec.find((incr) => incr * 1000 * pxPerMs >= labelWidthPx(incr * 1000) + gapPx);
  const roomy = fits(TICK_GAP_PX);
  // On a narrow chart the roomy step may leave two ticks, one of them too near an edge to be labelled:
  // then the step whose labels just clear each other, so the axis still reads as a scale.
  if (roomy !== undefined && spanMs / (roomy * 1000) >= 3) return roomy;
  return fits(TICK_GAP_MIN_PX) ?? roomy ?? (incrsSec[incrsSec.length - 1] as number);
}

/** How many neighbouring labels overlap, given each label's centre and width in pixels along the axis. */
export function overlappingLabels(labels: readonly { at: number; width: number }[]): number {
  const sorted = [...labels].sort((a, b) => a.at - b.at);
  let n = 0;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as { at: number; width: number };
    const b = sorted[i] as { at: number; width: number };
    if (b.at - b.width / 2 < a.at + a.width / 2) n++;
  }
  return n;
}
