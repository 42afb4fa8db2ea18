/**
 * The Logs page's view in its address (`/logs?q=...&range=6h&host=web-1&live=1`), so a reload or
 * a shared link shows the same lines and Back and Forward step through searches.
 */

export const RANGE_PRESETS: readonly (readonly [string, number])[] = [
  ['15m', 900_000],
  ['1h', 3_600_000],
  ['6h', 21_600_000],
  ['24h', 86_400_000],
  ['7d', 604_800_000],
];
const DEFAULT_RANGE = '1h';

export interface LogsViewState {
  /** The query as typed (without the host and source filters). */
  q: string;
  /** A preset of RANGE_PRESETS, or `custom` with fromMs and toMs. */
  range: string;
  fromMs: number;
  toMs: number;
  /** Lines of this host only; empty for every host. */
  host: string;
  /** Lines of this source only; empty for every source. */
  source: string;
  /** The live tail is on. */
  live: boolean;
}

/** A time from the address: ISO 8601 (what the page writes) or milliseconds since 1970. */
function time(text: string | null): number | undefined {
  if (!text) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The view a search string asks for; what it does not say (or says wrongly) is the default. */
export function viewFromSearch(search: string, now: number): LogsViewState {
  const p = new URLSearchParams(search);
  const from = time(p.get('from'));
  const to = time(p.get('to'));
  // from and to without a range are a custom range: the links of log alerts' notifications say so.
  const asked = p.get('range') ?? (from !== undefined && to !== undefined ? 'custom' : DEFAULT_RANGE);
  const custom = asked === 'custom' && from !== undefined && to !== undefined && from < to;
  const range = custom || RANGE_PRESETS.some(([r]) => r === asked) ? asked : DEFAULT_RANGE;
  return {
    q: p.get('q') ?? '',
    range,
    fromMs: custom ? (from as number) : now - 3_600_000,
    toMs: custom ? (to as number) : now,
    host: p.get('host') ?? '',
    source: p.get('source') ?? '',
    live: p.get('live') === '1',
  };
}

/** The search string of a view, defaults left out (an empty string for the default view). */
export function searchOfView(v: LogsViewState): string {
  const p = new URLSearchParams();
  if (v.q) p.set('q', v.q);
  if (v.range !== DEFAULT_RANGE) p.set('range', v.range);
  if (v.range === 'custom') {
    p.set('from', new Date(v.fromMs).toISOString());
    p.set('to', new Date(v.toMs).toISOString());
  }
  if (v.host) p.set('host', v.host);
  if (v.source) p.set('source', v.source);
  if (v.live) p.set('live', '1');
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function presetSpan(range: string): number {
  return RANGE_PRESETS.find(([r]) => r === range)?.[1] ?? 3_600_000;
}
