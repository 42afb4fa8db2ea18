import type { Agent } from '@falconet/protocol/api';

/** What the heatmap can colour hosts by: the agent summary's percentages. */
export const HEAT_METRICS = {
  cpu: 'falconet_cpu_usage_percent',
  memory: 'falconet_memory_used_percent',
  disk: 'falconet_disk_used_percent',
} as const;
export type HeatMetric = keyof typeof HEAT_METRICS;

export function isHeatMetric(v: string | null): v is HeatMetric {
  return v !== null && Object.hasOwn(HEAT_METRICS, v);
}

export const heatValue = (a: Agent, m: HeatMetric): number | undefined => {
  const v = a.summary[HEAT_METRICS[m]];
  return v !== undefined && Number.isFinite(v) ? v : undefined;
};

/** Cells never get smaller than this (a pointer can still find one) nor larger than this. */
export const MIN_CELL = 6;
export const MAX_CELL = 36;

export interface HeatLayout {
  /** Side of a cell's square, in CSS pixels, the 1 px gap included. */
  cell: number;
  cols: number;
  rows: number;
  width: number;
  height: number;
}

/**
 * The largest square cells that put `count` hosts in `width` x `height` (all at a glance), or the
 * smallest allowed ones when they cannot all fit, the page then scrolling.
 */
export function heatLayout(count: number, width: number, height: number): HeatLayout {
  const w = Math.max(MIN_CELL, Math.floor(width));
  const n = Math.max(1, count);
  let cell = Math.min(MAX_CELL, Math.max(MIN_CELL, Math.floor(Math.sqrt((w * Math.max(height, MIN_CELL)) / n))));
  while (cell > MIN_CELL && Math.ceil(n / Math.floor(w / cell)) * cell > height) cell--;
  const cols = Math.max(1, Math.min(n, Math.floor(w / cell)));
  const rows = Math.ceil(count / cols);
  return { cell, cols, rows, width: cols * cell, height: rows * cell };
}

/** The cell under a point of the canvas, or -1. */
export function cellAt(l: HeatLayout, count: number, x: number, y: number): number {
  if (x < 0 || y < 0 || x >= l.cols * l.cell) return -1;
  const i = Math.floor(y / l.cell) * l.cols + Math.floor(x / l.cell);
  return i < count ? i : -1;
}

/** The scale's stops, value (%) to colour: calm green through yellow to red, the same in both themes. */
export const HEAT_STOPS: readonly [number, [number, number, number]][] = [
  [0, [26, 152, 80]],
  [50, [254, 224, 139]],
  [75, [252, 141, 89]],
  [100, [215, 48, 39]],
];

const hex = (c: [number, number, number]) => `#${c.map((x) => Math.round(x).toString(16).padStart(2, '0')).join('')}`;

/** One colour per whole percent, worked out once: painting 5,000 cells then only looks them up. */
const SCALE: string[] = Array.from({ length: 101 }, (_, v) => {
  let i = 1;
  while (i < HEAT_STOPS.length - 1 && v > (HEAT_STOPS[i] as (typeof HEAT_STOPS)[number])[0]) i++;
  const [v0, c0] = HEAT_STOPS[i - 1] as (typeof HEAT_STOPS)[number];
  const [v1, c1] = HEAT_STOPS[i] as (typeof HEAT_STOPS)[number];
  const f = (v - v0) / (v1 - v0);
  return hex([c0[0] + (c1[0] - c0[0]) * f, c0[1] + (c1[1] - c0[1]) * f, c0[2] + (c1[2] - c0[2]) * f]);
});

export function heatColor(v: number): string {
  return SCALE[Math.round(Math.max(0, Math.min(100, v)))] as string;
}

/** The scale as a CSS gradient, for the legend. */
export const HEAT_GRADIENT = `linear-gradient(to right, ${HEAT_STOPS.map(([v, c]) => `${hex(c)} ${v}%`).join(', ')})`;
