import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fetchHistory } from '../api.ts';
import type { LiveConnection } from '../live.ts';

export interface LiveChartProps {
  agentId: string;
  live: LiveConnection;
  /** Metric names, one line each. */
  metrics: { name: string; label: string; color: string }[];
  title: string;
  /** How much history to show, in ms. */
  windowMs?: number;
  unit?: string;
  max?: number;
}

/**
 * A chart that loads its window of history once, then appends live samples as they arrive.
 * The points live in this component's refs and go straight into uPlot: no React re-render per point.
 */
export function LiveChart({ agentId, live, metrics, title, windowMs = 15 * 60_000, unit = '%', max }: LiveChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const names = metrics.map((m) => m.name).join(',');

  // biome-ignore lint/correctness/useExhaustiveDependencies: `names` stands for `metrics`
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const times: number[] = [];
    const values: (number | null)[][] = metrics.map(() => []);
    const data = (): uPlot.AlignedData => [times, ...values] as uPlot.AlignedData;
    const plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 220,
        scales: { x: { time: true }, y: max === undefined ? { auto: true } : { range: [0, max] } },
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => `${t}${unit}`) }],
        series: [{}, ...metrics.map((m) => ({ label: m.label, stroke: m.color, width: 2, spanGaps: false }))],
        legend: { show: true },
      },
      data(),
      el,
    );
    const mark = () => el.setAttribute('data-points', String(times.length));
    const push = (tsMs: number, row: (number | null)[]) => {
      times.push(tsMs / 1000);
      row.forEach((v, i) => {
        values[i]?.push(v);
      });
      const cutoff = (Date.now() - windowMs) / 1000;
      while (times.length && (times[0] as number) < cutoff) {
        times.shift();
        for (const v of values) v.shift();
      }
    };
    let disposed = false;
    const now = Date.now();
    Promise.all(metrics.map((m) => fetchHistory(agentId, m.name, now - windowMs, now)))
      .then((results) => {
        if (disposed) return;
        // Align every metric on the first one's timestamps; they come from one collection.
        const byTime = new Map<number, (number | null)[]>();
        results.forEach((r, i) => {
          for (const [t, v] of r.series[0]?.points ?? []) {
            const row = byTime.get(t) ?? metrics.map(() => null);
            row[i] = v;
            byTime.set(t, row);
          }
        });
        const older = [...byTime.entries()].sort((a, b) => a[0] - b[0]).filter(([t]) => t / 1000 < (times[0] ?? Number.POSITIVE_INFINITY));
        const newTimes = older.map(([t]) => t / 1000);
        times.unshift(...newTimes);
        values.forEach((v, i) => {
          v.unshift(...older.map(([, row]) => row[i] ?? null));
        });
        plot.setData(data());
        mark();
      })
      .catch(() => undefined);
    const unsubscribe = live.subscribe(agentId, (samples) => {
      const row = metrics.map((m) => samples.find((s) => s.name === m.name && Object.keys(s.labels).length === 0)?.value ?? null);
      if (row.every((v) => v === null)) return;
      push(samples[0]?.timestampMs ?? Date.now(), row);
      plot.setData(data());
      mark();
    });
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 220 }));
    resize.observe(el);
    return () => {
      disposed = true;
      unsubscribe();
      resize.disconnect();
      plot.destroy();
    };
  }, [agentId, live, names, windowMs, unit, max]);

  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={host} data-testid={`chart-${title}`} data-points="0" />
    </figure>
  );
}
