/**
 * HELP, TYPE and UNIT of metric families, as senders give them (remote_write 1.0's metadata list,
 * 2.0's per-series metadata), for /api/v1/metadata. Kept in memory like Prometheus' own (which
 * holds what its live scrape targets expose): a restart starts empty until senders send it again,
 * which Prometheus does every minute (remote_write's send_interval for metadata).
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset' | 'unknown';

export interface MetricMetadata {
  type: MetricType;
  help: string;
  unit: string;
}

/** remote_write's MetricType enum (1.0 and 2.0 number them alike; 0 is unknown / unspecified). */
export const REMOTE_METRIC_TYPES: readonly MetricType[] = [
  'unknown',
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
];

/** The family a series belongs to: a histogram's or summary's _bucket, _sum and _count are its parts. */
export function familyOf(seriesName: string, type: MetricType): string {
  if (type === 'histogram' || type === 'gaugehistogram' || type === 'summary') {
    const m = /^(.+?)(_bucket|_sum|_count)$/.exec(seriesName);
    if (m) return m[1] as string;
  }
  return seriesName;
}

/** At most this many families, and variants of one family, are kept: a sender cannot grow it without bound. */
const MAX_FAMILIES = 100_000;
const MAX_PER_FAMILY = 10;

export class MetadataStore {
  readonly #families = new Map<string, Map<string, MetricMetadata>>();

  /** Records one family's metadata; the same text again changes nothing. */
  record(family: string, m: MetricMetadata): void {
    let variants = this.#families.get(family);
    if (!variants) {
      if (this.#families.size >= MAX_FAMILIES) return;
      variants = new Map();
      this.#families.set(family, variants);
    }
    const key = `${m.type}\0${m.help}\0${m.unit}`;
    if (variants.has(key)) return;
    if (variants.size >= MAX_PER_FAMILY) variants.delete(variants.keys().next().value as string);
    variants.set(key, { type: m.type, help: m.help, unit: m.unit });
  }

  /**
   * Prometheus' /api/v1/metadata answer: family -> its distinct metadata, optionally one family
   * (`metric`), at most `limit` families and `limitPerMetric` entries each (negative or 0: no limit).
   */
  query(opts: { metric?: string; limit?: number; limitPerMetric?: number } = {}): Record<string, MetricMetadata[]> {
    const out: Record<string, MetricMetadata[]> = {};
    const names = opts.metric !== undefined ? [opts.metric] : [...this.#families.keys()].sort();
    let n = 0;
    for (const name of names) {
      const variants = this.#families.get(name);
      if (!variants) continue;
      if (opts.limit !== undefined && opts.limit > 0 && n >= opts.limit) break;
      let list = [...variants.values()];
      if (opts.limitPerMetric !== undefined && opts.limitPerMetric > 0) list = list.slice(0, opts.limitPerMetric);
      out[name] = list;
      n++;
    }
    return out;
  }
}
