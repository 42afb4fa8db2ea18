import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Labels, LiveSample, Series } from '@falconet/protocol/api';
import { fetchHistory } from '../api.ts';
import { type Translate, useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { type ChartSpec, chartDates, formatTick, formatValue } from './charts.ts';

/** A time window: a sliding one ending now (`spanMs`), or fixed bounds. */
export type Range = { spanMs: number } | { fromMs: number; toMs: number };

const PALETTE = ['#2563eb', '#059669', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#9333ea', '#ea580c'];
/** Charts with a window up to this long append live samples; longer ones are re-read every minute. */
const LIVE_SPAN_MS = 3_600_000;
const HEIGHT = 200;
/** Axis steps for bytes: 1, 2, 5, 10, 20, 50, 100, 200, 500 of each power of 1024, so ticks read 256 MiB, 1 GiB. */
const BYTE_INCRS = [0, 1, 2, 3, 4, 5].flatMap((k) => [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * 1024 ** k));

export function stepFor(spanMs: number): number {
  return spanMs <= LIVE_SPAN_MS ? 0 : Math.max(60_000, Math.round(spanMs / 400 / 60_000) * 60_000);
}

/** A moment marked on a chart with a dashed vertical line and a word (a container's start, die...). */
export interface ChartMark {
  timestampMs: number;
  label: string;
  color: string;
}

const matches = (labels: Labels, want: Labels | undefined) => !want || Object.entries(want).every(([k, v]) => labels[k] === v);

/** Rows of mark words stacked at the top of a chart at most. */
const MARK_ROWS = 3;

/**
 * Draws the marks inside the plot area, each word on a patch of the chart's background beside its
 * line, stacked when words would overlap (up to MARK_ROWS). Returns how many marks fell inside the plot.
 */
function drawMarks(u: uPlot, marks: readonly ChartMark[], background: string): number {
  const { ctx } = u;
  const { left, top, width, height } = u.bbox;
  const px = uPlot.pxRatio;
  const lineHeight = 14 * px;
  const placed: { from: number; to: number; row: number }[] = [];
  let drawn = 0;
  ctx.save();
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  // uPlot leaves the alignment of its last axis labels behind.
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  for (const m of [...marks].sort((a, b) => a.timestampMs - b.timestampMs)) {
    const x = Math.round(u.valToPos(m.timestampMs / 1000, 'x', true));
    if (!(x >= left - 1 && x <= left + width + 1)) continue;
    drawn++;
    ctx.strokeStyle = m.color;
    ctx.lineWidth = 1.5 * px;
    ctx.setLineDash([4 * px, 3 * px]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    const w = ctx.measureText(m.label).width + 4 * px;
    // Right of the line, or left of it where it would leave the plot.
    const from = x + 3 * px + w > left + width ? x - 3 * px - w : x + 3 * px;
    let row = 0;
    while (placed.some((p) => p.row === row && p.from < from + w && from < p.to)) row++;
    // Crowded (a container restarting over and over): the lines alone; the list under the charts names them.
    if (row >= MARK_ROWS) continue;
    placed.push({ from, to: from + w, row });
    const y = top + 2 * px + row * lineHeight;
    ctx.fillStyle = background;
    ctx.fillRect(from, y - px, w, lineHeight);
    ctx.fillStyle = m.color;
    ctx.fillText(m.label, from + 2 * px, y);
  }
  ctx.restore();
  return drawn;
}

type Lines = Map<string, Map<number, number>>;

function addPoint(lines: Lines, key: string, t: number, v: number): void {
  let line = lines.get(key);
  if (!line) {
    line = new Map();
    lines.set(key, line);
  }
  line.set(t, (line.get(t) ?? 0) + v);
}

/** Turns the history of every query into lines of (time -> value), counters as rates; notes the lines that are limits. */
function linesFromHistory(spec: ChartSpec, results: Series[][], t: Translate, limits: Set<string>): Lines {
  const lines: Lines = new Map();
  spec.queries.forEach((q, qi) => {
    const series = (results[qi] ?? []).filter((s) => matches(s.labels, q.labels));
    const scale = q.scale ?? 1;
    const distinct = q.perDistinct ? new Set(series.map((s) => s.labels[q.perDistinct as string])).size || 1 : 1;
    for (const s of series) {
      const key = q.key(s.labels, t);
      if (key === undefined) continue;
      if (q.limit) limits.add(key);
      let prev: [number, number | null] | undefined;
      for (const p of s.points) {
        const [ts, v] = p;
        if (q.counter) {
          if (prev && prev[1] !== null && v !== null && v >= prev[1] && ts > prev[0]) {
            addPoint(lines, key, ts, (((v - prev[1]) / ((ts - prev[0]) / 1000)) * scale) / distinct);
          }
          prev = p;
        } else if (v !== null) addPoint(lines, key, ts, (v * scale) / distinct);
      }
    }
  });
  return lines;
}

/**
 * One uPlot chart of a host: history for the range from /api/metrics, then live samples appended
 * from the shared socket. Points live in plain arrays handed to uPlot, never in React state.
 */
export function MetricChart({
  spec,
  agentId,
  intervalMs,
  live,
  range,
  theme,
  marks,
}: {
  spec: ChartSpec;
  agentId: string;
  intervalMs: number;
  live: LiveConnection;
  range: Range;
  theme: string;
  /** Moments to mark; the time axis widens to show them. */
  marks?: readonly ChartMark[];
}) {
  const host = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | undefined>(undefined);
  const marksRef = useRef<readonly ChartMark[] | undefined>(marks);
  marksRef.current = marks;
  const { t, lang } = useI18n();
  const rangeKey = 'spanMs' in range ? `s${range.spanMs}` : `${range.fromMs}-${range.toMs}`;

  // biome-ignore lint/correctness/useExhaustiveDependencies: rangeKey stands for range; lang for t
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const sliding = 'spanMs' in range;
    const span = sliding ? range.spanMs : range.toMs - range.fromMs;
    const appendLive = sliding && span <= LIVE_SPAN_MS;
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#6b7280';
    const grid = css.getPropertyValue('--grid').trim() || '#e5e7eb';
    const surface = css.getPropertyValue('--surface').trim() || '#ffffff';
    const limits = new Set<string>();

    let keys: string[] = [];
    let times: number[] = [];
    let values: (number | null)[][] = [];
    let plot: uPlot | undefined;
    let disposed = false;
    let stepMs = 0;

    const mark = () => {
      el.dataset.points = String(times.length);
      el.dataset.series = String(keys.length);
      el.dataset.lastTs = String(times.length ? Math.round((times[times.length - 1] as number) * 1000) : 0);
      el.dataset.empty = keys.length === 0 || times.length === 0 ? 'true' : 'false';
    };
    const build = () => {
      plot?.destroy();
      // Limits are grey: the measured lines take the palette's colours in order.
      let colour = 0;
      plot = new uPlot(
        {
          width: el.clientWidth || 600,
          height: HEIGHT,
          cursor: { sync: { key: `falconet-host-${agentId}` } },
          fmtDate: chartDates(lang),
          scales: {
            x: marksRef.current
              ? {
                  time: true,
                  range: (_u, min, max) => {
                    const at = (marksRef.current ?? []).map((m) => m.timestampMs / 1000);
                    // With no points uPlot passes null: the marks alone set the axis.
                    const lo = Number.isFinite(min) ? min : Number.POSITIVE_INFINITY;
                    const hi = Number.isFinite(max) ? max : Number.NEGATIVE_INFINITY;
                    const from = Math.min(lo, ...at);
                    const to = Math.max(hi, ...at);
                    if (!Number.isFinite(from) || !Number.isFinite(to)) return [min, max];
                    return from < to ? [from, to] : [from - 30, to + 30];
                  },
                }
              : { time: true },
            y:
              spec.max !== undefined
                ? { range: [0, spec.max] }
                : { auto: true, range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] },
          },
          axes: [
            { stroke: muted, grid: { stroke: grid }, ticks: { stroke: grid } },
            {
              stroke: muted,
              grid: { stroke: grid },
              ticks: { stroke: grid },
              size: 84,
              ...(spec.unit === 'bytes' || spec.unit === 'rate' ? { incrs: BYTE_INCRS } : {}),
              values: (_u, ticks) => ticks.map((v) => formatTick(spec.unit, v)),
            },
          ],
          series: [
            {
              label: t('series.time'),
              value: (_u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB')),
            },
            ...keys.map((k) => ({
              label: k,
              stroke: limits.has(k) ? muted : (PALETTE[colour++ % PALETTE.length] as string),
              ...(limits.has(k) ? { dash: [6, 4], points: { show: false } } : {}),
              width: 1.5,
              spanGaps: false,
              value: (_u: uPlot, v: number | null) => formatValue(spec.unit, v),
            })),
          ],
          legend: { show: true, live: true },
          hooks: {
            draw: [
              (u) => {
                if (marksRef.current) el.dataset.marks = String(drawMarks(u, marksRef.current, surface));
              },
            ],
          },
        },
        [times, ...values] as uPlot.AlignedData,
        el,
      );
      plotRef.current = plot;
      mark();
    };

    /** Null rows where points are missing for more than 2.5 steps, so uPlot draws a gap, not a line. */
    const withGaps = (ts: number[], rows: (number | null)[][]) => {
      const every = Math.max(stepMs, intervalMs) / 1000;
      const outT: number[] = [];
      const outV: (number | null)[][] = rows.map(() => []);
      ts.forEach((x, i) => {
        const prev = ts[i - 1];
        if (prev !== undefined && x - prev > 2.5 * every) {
          outT.push(prev + every);
          for (const r of outV) r.push(null);
        }
        outT.push(x);
        rows.forEach((r, j) => {
          outV[j]?.push(r[i] ?? null);
        });
      });
      return { outT, outV };
    };

    const load = async () => {
      const toMs = sliding ? Date.now() : range.toMs;
      const fromMs = sliding ? toMs - range.spanMs : range.fromMs;
      const step = stepFor(span);
      const results = await Promise.all(
        spec.queries.map((q) =>
          fetchHistory(agentId, q.name, fromMs, toMs, step, q.counter ? 'last' : 'avg', q.labels).catch(() => ({
            series: [],
            stepMs: step,
          })),
        ),
      );
      if (disposed) return;
      stepMs = Math.max(...results.map((r) => r.stepMs), 0);
      const lines = linesFromHistory(
        spec,
        results.map((r) => r.series),
        t,
        limits,
      );
      const newKeys = [...lines.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const allT = new Set<number>();
      for (const l of lines.values()) for (const x of l.keys()) allT.add(x);
      const ts = [...allT].sort((a, b) => a - b);
      const { outT, outV } = withGaps(
        ts.map((x) => x / 1000),
        newKeys.map((k) => ts.map((x) => lines.get(k)?.get(x) ?? null)),
      );
      // Live rows that arrived while the history loaded stay, after it.
      const lastHist = outT[outT.length - 1] ?? 0;
      const keepFrom = times.findIndex((x) => x > lastHist);
      const oldKeys = keys;
      const oldValues = values;
      for (const k of oldKeys) if (keepFrom >= 0 && !newKeys.includes(k)) newKeys.push(k);
      const liveT = keepFrom < 0 ? [] : times.slice(keepFrom);
      values = newKeys.map((k, i) => {
        const j = oldKeys.indexOf(k);
        const tail = j < 0 ? liveT.map(() => null) : (oldValues[j] ?? []).slice(keepFrom);
        return [...(outV[i] ?? outT.map(() => null)), ...tail];
      });
      times = [...outT, ...liveT];
      keys = newKeys;
      build();
    };

    const prevRaw = new Map<string, [number, number]>();
    const onSamples = (samples: LiveSample[]) => {
      const row = new Map<string, number>();
      let ts = 0;
      for (const q of spec.queries) {
        const mine = samples.filter((s) => s.name === q.name && matches(s.labels, q.labels));
        if (!mine.length) continue;
        const distinct = q.perDistinct ? new Set(mine.map((s) => s.labels[q.perDistinct as string])).size || 1 : 1;
        const scale = q.scale ?? 1;
        for (const s of mine) {
          const key = q.key(s.labels, t);
          if (key === undefined) continue;
          if (q.limit) limits.add(key);
          ts = Math.max(ts, s.timestampMs);
          let v: number | undefined = s.value;
          if (q.counter) {
            const id = `${q.name}${JSON.stringify(s.labels)}`;
            const p = prevRaw.get(id);
            prevRaw.set(id, [s.timestampMs, s.value]);
            v = p && s.value >= p[1] && s.timestampMs > p[0] ? (s.value - p[1]) / ((s.timestampMs - p[0]) / 1000) : undefined;
          }
          if (v === undefined || !Number.isFinite(v)) continue;
          row.set(key, (row.get(key) ?? 0) + (v * scale) / distinct);
        }
      }
      if (!row.size || !ts) return;
      const x = ts / 1000;
      const lastX = times[times.length - 1];
      if (lastX !== undefined && x <= lastX) return;
      const fresh = [...row.keys()].filter((k) => !keys.includes(k));
      if (fresh.length) {
        keys = [...keys, ...fresh];
        values = [...values, ...fresh.map(() => times.map(() => null))];
      }
      const every = intervalMs / 1000;
      if (lastX !== undefined && x - lastX > 2.5 * every) {
        times.push(lastX + every);
        for (const v of values) v.push(null);
      }
      times.push(x);
      keys.forEach((k, i) => {
        values[i]?.push(row.get(k) ?? null);
      });
      const cutoff = x - span / 1000;
      let drop = 0;
      while (drop < times.length && (times[drop] as number) < cutoff) drop++;
      if (drop) {
        times.splice(0, drop);
        for (const v of values) v.splice(0, drop);
      }
      if (fresh.length || !plot) build();
      else {
        plot.setData([times, ...values] as uPlot.AlignedData);
        mark();
      }
    };

    void load();
    const unsubscribe = appendLive ? live.subscribe(agentId, onSamples) : () => undefined;
    const refresh = sliding && !appendLive ? setInterval(() => void load(), 60_000) : undefined;
    const resize = new ResizeObserver(() => plot?.setSize({ width: el.clientWidth, height: HEIGHT }));
    resize.observe(el);
    return () => {
      disposed = true;
      unsubscribe();
      clearInterval(refresh);
      resize.disconnect();
      plot?.destroy();
      plotRef.current = undefined;
    };
  }, [agentId, live, rangeKey, spec, intervalMs, theme, lang]);

  // New marks: the same points again, so the time axis takes them in, and a redraw.
  useEffect(() => {
    const plot = plotRef.current;
    if (marks && plot) plot.setData(plot.data);
  }, [marks]);

  return (
    <figure className="chart">
      <figcaption>{t(spec.title)}</figcaption>
      <div ref={host} className="plot" data-testid={`chart-${spec.id}`} data-points="0" data-empty="true" data-marks="0" />
      <p className="nodata">{t('host.noData')}</p>
    </figure>
  );
}
