import type { Sample } from '@falconet/protocol';

/** `once` fits a terminal of this many columns unless asked for everything (`--wide`). */
export const NARROW_COLUMNS = 100;
/** The metric column's share of a narrow table; longer names are cut with an ellipsis. */
const METRIC_COLUMNS = 48;

export interface SampleTable {
  text: string;
  /** Rows whose name or labels were shortened to fit. */
  shortened: number;
}

/**
 * The samples as a METRIC, LABELS, VALUE table. Narrow: at most `columns` wide, a label set that
 * does not fit keeps its first labels whole and says how many were cut (`… +3`). Wide: as long
 * as the longest row.
 */
export function formatSampleTable(samples: readonly Sample[], columns = NARROW_COLUMNS): SampleTable {
  const narrow = Number.isFinite(columns);
  const rows = samples.map((s) => ({
    name: s.name,
    labels: Object.entries(s.labels).map(([k, v]) => `${k}=${v}`),
    value: narrow ? shortValue(s.value) : String(s.value),
  }));
  const valueW = Math.max(5, ...rows.map((r) => r.value.length));
  const longestName = Math.max(6, ...rows.map((r) => r.name.length));
  const longestLabels = Math.max(6, ...rows.map((r) => r.labels.join(',').length));
  const nameW = narrow ? Math.min(longestName, METRIC_COLUMNS) : longestName;
  const labelsW = narrow ? Math.min(longestLabels, Math.max(6, columns - nameW - valueW - 4)) : longestLabels;
  let shortened = 0;
  const out = [`${'METRIC'.padEnd(nameW)}  ${'LABELS'.padEnd(labelsW)}  VALUE`];
  for (const r of rows) {
    const name = cut(r.name, nameW);
    const labels = fitLabels(r.labels, labelsW);
    if (name !== r.name || labels !== r.labels.join(',')) shortened++;
    out.push(`${name.padEnd(nameW)}  ${labels.padEnd(labelsW)}  ${r.value}`.trimEnd());
  }
  return { text: `${out.join('\n')}\n`, shortened };
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Whole `k=v` pairs while they fit, then `… +N` for the N labels left out or cut short. */
export function fitLabels(pairs: readonly string[], width: number): string {
  const full = pairs.join(',');
  if (full.length <= width) return full;
  for (let shown = pairs.length - 1; shown > 0; shown--) {
    const text = `${pairs.slice(0, shown).join(',')}… +${pairs.length - shown}`;
    if (text.length <= width) return text;
  }
  // Not even the first label fits whole: cut it, and count it among those cut.
  const tail = `… +${pairs.length}`;
  return `${(pairs[0] as string).slice(0, Math.max(0, width - tail.length))}${tail}`;
}

/** A value in at most 12 characters: counters stay whole, long fractions lose digits. */
function shortValue(v: number): string {
  const s = String(v);
  if (s.length <= 12) return s;
  const p = Number(v.toPrecision(8));
  return String(p).length <= 12 ? String(p) : p.toExponential(5);
}
