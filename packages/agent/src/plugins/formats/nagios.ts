import type { ParsedSample } from './types.ts';

/** The first number of a threshold (`10`, `10:`, `~:20`, `@5:10`); ranges keep their low end, or high when open below. */
function thresholdValue(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^@?(~|-?[\d.]+)?(?::(-?[\d.]+)?)?$/.exec(raw.trim());
  if (!m) return undefined;
  const low = m[1] && m[1] !== '~' ? Number(m[1]) : undefined;
  const high = m[2] !== undefined ? Number(m[2]) : undefined;
  const v = raw.includes(':') ? (low ?? high) : low;
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/** `'label'=value[UOM];[warn];[crit];[min];[max]` items, space separated, labels quoted when they hold spaces. */
export function parsePerfdata(
  text: string,
): { label: string; value: number; unit: string; warn?: number; crit?: number; min?: number; max?: number }[] {
  const out: ReturnType<typeof parsePerfdata> = [];
  const re = /\s*(?:'((?:[^']|'')*)'|([^=\s]+))=(\S*)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const label = (m[1] ?? m[2] ?? '').replace(/''/g, "'");
    const [valueUom = '', warn, crit, min, max] = (m[3] as string).split(';');
    const vm = /^(-?[\d.]+(?:[eE][-+]?\d+)?)([a-zA-Z%]*)$/.exec(valueUom);
    if (!vm) continue; // "U" (unknown) or garbage: no value to keep
    const item: (typeof out)[number] = { label, value: Number(vm[1]), unit: vm[2] ?? '' };
    const w = thresholdValue(warn);
    const c = thresholdValue(crit);
    const lo = thresholdValue(min);
    const hi = thresholdValue(max);
    if (w !== undefined) item.warn = w;
    if (c !== undefined) item.crit = c;
    if (lo !== undefined) item.min = lo;
    if (hi !== undefined) item.max = hi;
    out.push(item);
  }
  return out;
}

/**
 * Nagios plugin output: the exit status is the service state (0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN); text after `|` on the first line, and after `|` in the long output, is
 * performance data. Yields `nagios_state`, and per perfdata label `nagios_perfdata_value`
 * plus `_warning`, `_critical`, `_min`, `_max` when given.
 */
export function parseNagiosOutput(text: string, exitCode: number): ParsedSample[] {
  const state = exitCode >= 0 && exitCode <= 3 ? exitCode : 3;
  const out: ParsedSample[] = [
    {
      name: 'nagios_state',
      labels: {},
      value: state,
      type: 'gauge',
      help: 'Nagios service state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.',
    },
  ];
  const lines = text.split('\n');
  const perf: string[] = [];
  const first = lines[0] ?? '';
  if (first.includes('|')) perf.push(first.slice(first.indexOf('|') + 1));
  const longPipe = lines.slice(1).join('\n');
  if (longPipe.includes('|')) perf.push(longPipe.slice(longPipe.indexOf('|') + 1));
  const families = [
    ['value', 'nagios_perfdata_value', 'Nagios performance data value.'],
    ['warn', 'nagios_perfdata_warning', 'Nagios performance data warning threshold.'],
    ['crit', 'nagios_perfdata_critical', 'Nagios performance data critical threshold.'],
    ['min', 'nagios_perfdata_min', 'Nagios performance data minimum.'],
    ['max', 'nagios_perfdata_max', 'Nagios performance data maximum.'],
  ] as const;
  for (const item of parsePerfdata(perf.join(' '))) {
    const labels = { perfdata: item.label, unit: item.unit };
    for (const [key, name, help] of families) {
      const v = item[key];
      if (v !== undefined) out.push({ name, labels, value: v, type: 'gauge', help });
    }
  }
  return out;
}
