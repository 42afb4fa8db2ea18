import type { Labels } from '@falconet/protocol/api';
import { bytes, rate } from '../format.ts';
import type { MessageKey, Translate } from '../i18n.tsx';
import { CONTAINER_CPU_LIMIT_METRIC, CONTAINER_CPU_METRIC, CONTAINER_MEMORY_LIMIT_METRIC, CONTAINER_MEMORY_METRIC } from './containers.ts';

export type Unit = 'percent' | 'bytes' | 'rate' | 'number' | 'celsius' | 'ms';

/** One metric a chart reads: its series are keyed (and summed per key), turned to rates if counters. */
export interface ChartQuery {
  name: string;
  /** Counters are shown as per-second rates of increase. */
  counter?: boolean;
  /** The line a series belongs to; undefined leaves the series out. Series with one key are summed. */
  key: (labels: Labels, t: Translate) => string | undefined;
  /** Multiplies every value (e.g. 100 to show seconds-per-second as %). */
  scale?: number;
  /** Divides each line by how many distinct values this label has (CPU modes over cores). */
  perDistinct?: string;
  /** Only the series with these labels (asked of the server, and applied to live samples). */
  labels?: Labels;
  /** A ceiling rather than a measurement: drawn as a grey dashed line. */
  limit?: boolean;
}

export interface ChartSpec {
  /** Stable id, also the test hook `chart-${id}`. */
  id: string;
  title: MessageKey;
  unit: Unit;
  max?: number;
  queries: ChartQuery[];
}

const plain = (k: MessageKey) => (_l: Labels, t: Translate) => t(k);
const noLabels = (k: MessageKey) => (l: Labels, t: Translate) => (Object.keys(l).length === 0 ? t(k) : undefined);
const BUSY = (l: Labels) => l.mode !== 'idle' && l.mode !== 'iowait';
/** A CPU mode in the dashboard's language; a mode it does not know keeps the kernel's word. */
const CPU_MODES: Record<string, MessageKey> = {
  user: 'mode.user',
  nice: 'mode.nice',
  system: 'mode.system',
  iowait: 'mode.iowait',
  irq: 'mode.irq',
  softirq: 'mode.softirq',
  steal: 'mode.steal',
};
export const modeName = (mode: string, t: Translate) => (CPU_MODES[mode] ? t(CPU_MODES[mode]) : mode);
const NO_LOOPBACK = (d: string | undefined) => d !== undefined && d !== 'lo';

export const SYSTEM_CHARTS: ChartSpec[] = [
  {
    id: 'CPU',
    title: 'chart.cpu',
    unit: 'percent',
    max: 100,
    queries: [{ name: 'falconet_cpu_usage_percent', key: noLabels('series.cpuUsed') }],
  },
  {
    id: 'cpu-cores',
    title: 'chart.cpuCores',
    unit: 'percent',
    max: 100,
    queries: [{ name: 'node_cpu_seconds_total', counter: true, scale: 100, key: (l) => (BUSY(l) ? `cpu${l.cpu}` : undefined) }],
  },
  {
    id: 'cpu-modes',
    title: 'chart.cpuModes',
    unit: 'percent',
    queries: [
      {
        name: 'node_cpu_seconds_total',
        counter: true,
        scale: 100,
        perDistinct: 'cpu',
        key: (l, t) => (l.mode === 'idle' || l.mode === undefined ? undefined : modeName(l.mode, t)),
      },
    ],
  },
  {
    id: 'load',
    title: 'chart.load',
    unit: 'number',
    queries: [
      { name: 'node_load1', key: () => '1m' },
      { name: 'node_load5', key: () => '5m' },
      { name: 'node_load15', key: () => '15m' },
    ],
  },
  {
    id: 'Memory',
    title: 'chart.memory',
    unit: 'percent',
    max: 100,
    queries: [
      { name: 'falconet_memory_used_percent', key: noLabels('series.memoryUsed') },
      { name: 'falconet_swap_used_percent', key: noLabels('series.swapUsed') },
    ],
  },
  {
    id: 'memory-bytes',
    title: 'chart.memoryBytes',
    unit: 'bytes',
    queries: [
      { name: 'node_memory_MemTotal_bytes', key: plain('series.memTotal') },
      { name: 'node_memory_MemAvailable_bytes', key: plain('series.memAvailable') },
      { name: 'node_memory_SwapTotal_bytes', key: plain('series.swapTotal') },
      { name: 'node_memory_SwapFree_bytes', key: plain('series.swapFree') },
    ],
  },
  {
    id: 'disk-free',
    title: 'chart.diskFree',
    unit: 'bytes',
    queries: [{ name: 'node_filesystem_avail_bytes', key: (l) => l.mountpoint }],
  },
  {
    id: 'disk-io',
    title: 'chart.diskIo',
    unit: 'rate',
    queries: [
      { name: 'node_disk_read_bytes_total', counter: true, key: (l, t) => `${l.device} ${t('series.read')}` },
      { name: 'node_disk_written_bytes_total', counter: true, key: (l, t) => `${l.device} ${t('series.write')}` },
    ],
  },
  {
    id: 'network',
    title: 'chart.network',
    unit: 'rate',
    queries: [
      {
        name: 'node_network_receive_bytes_total',
        counter: true,
        key: (l, t) => (NO_LOOPBACK(l.device) ? `${l.device} ${t('series.in')}` : undefined),
      },
      {
        name: 'node_network_transmit_bytes_total',
        counter: true,
        key: (l, t) => (NO_LOOPBACK(l.device) ? `${l.device} ${t('series.out')}` : undefined),
      },
    ],
  },
  {
    id: 'procs',
    title: 'chart.procs',
    unit: 'number',
    queries: [
      { name: 'node_procs_running', key: plain('series.running') },
      { name: 'node_procs_blocked', key: plain('series.blocked') },
    ],
  },
  {
    id: 'temps',
    title: 'chart.temps',
    unit: 'celsius',
    queries: [
      { name: 'node_hwmon_temp_celsius', key: (l) => `${l.chip ?? ''} ${l.sensor ?? ''}`.trim() },
      { name: 'node_thermal_zone_temp', key: (l) => `${l.type ?? 'zone'} ${l.zone ?? ''}`.trim() },
    ],
  },
];

/** A container's own CPU and memory, for its row's charts on the Containers tab; limits when it has them. */
export function containerChartSpecs(c: { id: string; cpuLimited: boolean; memoryLimited: boolean }): [ChartSpec, ChartSpec] {
  const labels = { id: c.id };
  return [
    {
      id: 'ctr-cpu',
      title: 'ctr.chart.cpu',
      unit: 'percent',
      queries: [
        { name: CONTAINER_CPU_METRIC, labels, key: plain('series.cpuUsed') },
        ...(c.cpuLimited ? [{ name: CONTAINER_CPU_LIMIT_METRIC, labels, scale: 100, limit: true, key: plain('ctr.limit') }] : []),
      ],
    },
    {
      id: 'ctr-memory',
      title: 'ctr.chart.memory',
      unit: 'bytes',
      queries: [
        { name: CONTAINER_MEMORY_METRIC, labels, key: plain('series.memoryUsed') },
        ...(c.memoryLimited ? [{ name: CONTAINER_MEMORY_LIMIT_METRIC, labels, limit: true, key: plain('ctr.limit') }] : []),
      ],
    },
  ];
}

export function formatValue(unit: Unit, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  switch (unit) {
    case 'percent':
      return `${v.toFixed(1)}%`;
    case 'bytes':
      return bytes(v);
    case 'rate':
      return rate(v);
    case 'celsius':
      return `${v.toFixed(1)} °C`;
    case 'ms':
      return `${Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`;
    default:
      return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
  }
}

/** Shorter tick labels for axes. */
export function formatTick(unit: Unit, v: number): string {
  if (unit === 'percent') return `${v}%`;
  if (unit === 'celsius') return `${v}°`;
  if (unit === 'number') return String(v);
  if (unit === 'ms') return `${v} ms`;
  // Whole numbers on the axis once a value has two digits: the labels stay narrow.
  const text = formatValue(unit, v);
  return text.replace(/^(-?\d{2,})\.\d /, '$1 ').replace('.0 ', ' ');
}
