/**
 * The unit of a rule's value, from its metric's name as Prometheus names units (`_bytes`,
 * `_seconds`, `_percent`, `_total`...) and what the rule does to it (a rate is per second), and
 * values written in it: thresholds, current values and history all say what they count.
 */
import type { RuleKind, WindowAggregation } from '@falconet/protocol/api';

export type Unit = 'bytes' | 'bytes_per_s' | 'seconds' | 'percent' | 'ratio' | 'celsius' | 'hertz' | 'per_s' | 'count' | 'none';

interface RuleLike {
  kind?: RuleKind | string | undefined;
  metric?: string | undefined;
  aggregation?: WindowAggregation | string | undefined;
}

function unitOfName(name: string): Unit {
  const n = name.replace(/_total$/, '');
  if (/_bytes$/.test(n)) return 'bytes';
  if (/_seconds$/.test(n)) return 'seconds';
  if (/_percent$/.test(n)) return 'percent';
  if (/_ratio$/.test(n)) return 'ratio';
  if (/_celsius$/.test(n)) return 'celsius';
  if (/_hertz$/.test(n)) return 'hertz';
  return name.endsWith('_total') ? 'count' : 'none';
}

/** The unit of a rule's value: what its kind measures, or its metric's unit after its aggregation. */
export function unitOfRule(r: RuleLike): Unit {
  switch (r.kind) {
    case 'agent_offline':
    case 'no_data':
      return 'seconds';
    case 'container_restarting':
    case 'log_lines':
      return 'count';
    case 'container_down':
      return 'none';
    case 'disk_full':
      return unitOfName(r.metric ?? 'node_filesystem_avail_bytes');
    default:
      break;
  }
  const base = unitOfName(r.metric ?? '');
  if (r.aggregation === 'count') return 'count';
  if (r.aggregation === 'rate') return base === 'bytes' ? 'bytes_per_s' : base === 'seconds' ? 'ratio' : 'per_s';
  return base;
}

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

function scaled(v: number, step: number, names: readonly string[]): string {
  let i = 0;
  let n = v;
  while (Math.abs(n) >= step && i < names.length - 1) {
    n /= step;
    i++;
  }
  return `${trim(n)} ${names[i]}`;
}

/** Up to three significant decimals, no trailing zeros: 90, 0.25, 1.46. */
function trim(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const digits = Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  return String(Number(v.toFixed(digits)));
}

function seconds(v: number): string {
  const a = Math.abs(v);
  if (a < 1 && a > 0) return `${trim(v * 1000)} ms`;
  if (a < 120) return `${trim(v)} s`;
  if (a < 7200) return `${trim(v / 60)} min`;
  if (a < 172_800) return `${trim(v / 3600)} h`;
  return `${trim(v / 86_400)} d`;
}

/** A value with its unit: `92.5 %`, `1.5 GiB`, `3.2 MiB/s`, `45 s`, `12 /s`. */
export function formatValue(v: number | null | undefined, unit: Unit): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  switch (unit) {
    case 'bytes':
      return scaled(v, 1024, BINARY);
    case 'bytes_per_s':
      return `${scaled(v, 1024, BINARY)}/s`;
    case 'seconds':
      return seconds(v);
    case 'percent':
      return `${trim(v)} %`;
    case 'ratio':
      return `${trim(v * 100)} %`;
    case 'celsius':
      return `${trim(v)} °C`;
    case 'hertz':
      return scaled(v, 1000, ['Hz', 'kHz', 'MHz', 'GHz']);
    case 'per_s':
      return `${trim(v)} /s`;
    default:
      return trim(v);
  }
}

/** The short unit written beside a threshold input; empty when the value has none. */
export function unitSuffix(unit: Unit): string {
  switch (unit) {
    case 'bytes':
      return 'B';
    case 'bytes_per_s':
      return 'B/s';
    case 'seconds':
      return 's';
    case 'percent':
      return '%';
    case 'ratio':
      return '(0–1)';
    case 'celsius':
      return '°C';
    case 'hertz':
      return 'Hz';
    case 'per_s':
      return '/s';
    default:
      return '';
  }
}
