import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './charts.css';
import type { Labels, LiveSample, Series } from '@falconet/protocol/api';
import { fetchHistory } from '../api.ts';
import { dateTime, type Translate, useI18n } from '../i18n.tsx';
import type { LiveConnection } from '../live.ts';
import { type ChartSpec, formatTick, formatValue } from './charts.ts';
import { gapBreaks, intervalLookup } from './gaps.ts';
import { chartClock, fittingIncrSec, overlappingLabels, type Range, rangeBounds, TIME_INCRS, tickKind } from './time-axis.ts';

export type { Range } from './time-axis.ts';

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

/** Per line, time (ms) -> value. */
export type Lines = Map<string, Map<number, number>>;

/** Where a chart's lines come from instead of the agent's metrics; the answer's stepMs is 0 for raw points. */
export type ChartSource = (fromMs: number, toMs: number, stepMs: number) => Promise<{ lines: Lines; stepMs: number }>;

function addPoint(lines: Lines, key: string, t: number, v: number): void {
  let line = lines.get(key);
  if (!line) {
    line = new Map();
    lines.set(key, line);
  }
  line.set(t, (line.get(t) ?? 0) + v);
}

/** One series' identity whatever the order of its labels (history and live samples may differ). */
const seriesId = (name: string, labels: Labels) =>
  `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))}`;

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

/** The agent's own report interval, in every report: where a line may break depends on it. */
export const INTERVAL_METRIC = 'falconet_agent_report_interval_seconds';
/** Reads of the report interval on their way: the charts of a page, which load together, share one. */
const intervalReads = new Map<string, Promise<[number, number | null][]>>();

function reportIntervals(key: string, agentId: string, fromMs: number, toMs: number, stepMs: number): Promise<[number, number | null][]> {
  let read = intervalReads.get(key);
  if (!read) {
    read = fetchHistory(agentId, INTERVAL_METRIC, fromMs, toMs, stepMs, 'max')
      .then(
        (r) => r.series[0]?.points ?? [],
        () => [],
      )
      .finally(() => intervalReads.delete(key));
    intervalReads.set(key, read);
  }
  return read;
}

type ZoomListener = (view: [number, number] | null) => void;
/** The charts of one host page, so that a zoom in one zooms them all. */
const zoomGroups = new Map<string, Set<ZoomListener>>();

const AXIS_FONT = '12px system-ui, sans-serif';
let measurer: CanvasRenderingContext2D | null | undefined;

/** The width in CSS pixels of the widest line of `text` in the axis font (an estimate where there is no canvas). */
export function textWidth(text: string): number {
  if (measurer === undefined) {
    try {
      measurer = document.createElement('canvas').getContext('2d');
    } catch {
      measurer = null;
    }
  }
  const lines = text.split('\n');
  if (!measurer) return Math.max(...lines.map((l) => l.length * 7));
  measurer.font = AXIS_FONT;
  const m = measurer;
  return Math.max(...lines.map((l) => m.measureText(l).width));
}

/** uPlot's internal record of an axis's last ticks: read to tell tests where the labels went. */
interface AxisState {
  _splits?: number[];
  _values?: (string | null)[];
}

/**
 * One uPlot chart of a host: history for the range from /api/metrics, then live samples appended
 * from the shared socket. Points live in plain arrays handed to uPlot, never in React state.
 *
 * The x axis spans the range (now - span to now, or the fixed bounds) whatever the data; a line
 * breaks only where points are missing for longer than the agent's report interval at that time
 * (gaps.ts). Drag to zoom (every chart of the host follows), double-click to go back to the range;
 * click a legend entry to hide or show its line, Ctrl/Cmd-click to show it alone (again: all).
 */
export function MetricChart({
  spec,
  agentId,
  intervalMs,
  live,
  range,
  theme,
  marks,
  onPick,
  source,
}: {
  spec: ChartSpec;
  /** The agent whose metrics the chart shows; with `source`, the name of the charts that zoom together. */
  agentId: string;
  /** The interval the agent registered with (its longest): what to expect where the points cannot tell. */
  intervalMs: number;
  live: LiveConnection;
  range: Range;
  theme: string;
  /** Moments to mark with a dashed line, where they fall inside the range. */
  marks?: readonly ChartMark[];
  /** A click (not a drag) on the plot offers "Logs around HH:MM", which calls this with the clicked time. */
  onPick?: (ms: number) => void;
  /** Lines from elsewhere than the agent's metrics (a monitor's locations): read again every minute, no live samples. */
  source?: ChartSource;
}) {
  const [picked, setPicked] = useState<number | undefined>();
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
    const appendLive = sliding && span <= LIVE_SPAN_MS && !source;
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#6b7280';
    const grid = css.getPropertyValue('--grid').trim() || '#e5e7eb';
    const surface = css.getPropertyValue('--surface').trim() || '#ffffff';
    const clock = chartClock(lang);
    const syncKey = `falconet-host-${agentId}`;
    const limits = new Set<string>();
    const hidden = new Set<string>();
    const labelWidths = new Map<string, number>();

    let keys: string[] = [];
    let times: number[] = [];
    let values: (number | null)[][] = [];
    /** Per line, the pairs of data indexes the line must not join. */
    let breaks: [number, number][][] = [];
    /** The agent's report interval over the range: [ms, seconds]. */
    let intervals: [number, number | null][] = [];
    let plot: uPlot | undefined;
    let disposed = false;
    let stepMs = 0;
    /** A zoomed window in seconds; null shows the range. */
    let view: [number, number] | null = null;

    const shown = (): [number, number] => {
      if (view) return view;
      const b = rangeBounds(range, Date.now());
      return [b.fromMs / 1000, b.toMs / 1000];
    };

    const findGaps = () => {
      const rule = { stepMs, fallbackMs: intervalMs, intervalAt: intervalLookup(intervals, stepMs) };
      let total = 0;
      breaks = values.map((row) => {
        const at: number[] = [];
        const ts: number[] = [];
        row.forEach((v, i) => {
          if (v === null) return;
          at.push(i);
          ts.push((times[i] as number) * 1000);
        });
        const pairs = gapBreaks(ts, rule).map((b) => [at[b - 1], at[b]] as [number, number]);
        total += pairs.length;
        return pairs;
      });
      el.dataset.gaps = String(total);
    };

    const mark = () => {
      el.dataset.points = String(times.length);
      el.dataset.series = String(keys.length);
      el.dataset.lastTs = String(times.length ? Math.round((times[times.length - 1] as number) * 1000) : 0);
      el.dataset.empty = keys.length === 0 || times.length === 0 ? 'true' : 'false';
    };

    /** Where the last ticks went and whether any two labels overlap: for the tests, which cannot read a canvas. */
    const markTicks = (u: uPlot) => {
      const x = u.axes[0] as AxisState;
      const xs = (x._splits ?? []).flatMap((v, i) => {
        const text = x._values?.[i];
        return text ? [{ at: u.valToPos(v, 'x'), width: textWidth(text), text }] : [];
      });
      el.dataset.xLabels = xs.map((l) => l.text.replace('\n', ' ')).join('|');
      // Labels cut by the chart's edges count as overlapping it.
      const left = u.bbox.left / uPlot.pxRatio;
      const cut = xs.filter((l) => left + l.at - l.width / 2 < 0 || left + l.at + l.width / 2 > u.width).length;
      el.dataset.xOverlaps = String(overlappingLabels(xs) + cut);
      const y = u.axes[1] as AxisState;
      const ys = (y._splits ?? []).flatMap((v, i) => (y._values?.[i] ? [{ at: u.valToPos(v, 'y'), width: 14 }] : []));
      el.dataset.yOverlaps = String(overlappingLabels(ys));
    };

    const widestLabel = (incrMs: number) => {
      const kind = tickKind(incrMs);
      let w = labelWidths.get(kind);
      if (w === undefined) {
        w = Math.max(...clock.widest(incrMs).map(textWidth));
        labelWidths.set(kind, w);
      }
      return w;
    };

    const setView = (next: [number, number] | null) => {
      view = next;
      const [min, max] = shown();
      plot?.setScale('x', { min, max });
    };
    const zoom = (next: [number, number] | null) => {
      setView(next);
      for (const l of zoomGroups.get(syncKey) ?? []) if (l !== setView) l(next);
    };
    let group = zoomGroups.get(syncKey);
    if (!group) {
      group = new Set();
      zoomGroups.set(syncKey, group);
    }
    group.add(setView);

    // A click that did not drag picks its time; a drag is a zoom and a double-click a reset, left as they are.
    let downX = 0;
    const onDown = (e: MouseEvent) => {
      downX = e.clientX;
    };
    const onClick = (e: MouseEvent) => {
      const u = plot;
      if (!u || !(e.target instanceof Element) || !e.target.closest('.u-over') || Math.abs(e.clientX - downX) > 3) return;
      const left = u.cursor.left;
      if (left === undefined || left < 0) return;
      setPicked(Math.round(u.posToVal(left, 'x') * 1000));
    };
    el.addEventListener('mousedown', onDown);
    el.addEventListener('click', onClick);

    const build = () => {
      plot?.destroy();
      findGaps();
      // Limits are grey: the measured lines take the palette's colours in order.
      let colour = 0;
      plot = new uPlot(
        {
          width: el.clientWidth || 600,
          height: HEIGHT,
          cursor: {
            sync: { key: syncKey },
            drag: { x: true, y: false, setScale: false },
            bind: {
              dblclick: () => () => {
                zoom(null);
                return null;
              },
            },
          },
          scales: {
            // Never fitted to the data: the range (or the zoom) decides.
            x: { time: true, auto: false, range: () => shown() },
            y:
              spec.max !== undefined
                ? { range: [0, spec.max] }
                : { auto: true, range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.05 : 1] },
          },
          axes: [
            {
              font: AXIS_FONT,
              stroke: muted,
              grid: { stroke: grid },
              ticks: { stroke: grid },
              incrs: TIME_INCRS as number[],
              // The step whose labels fit side by side, measured, at this width.
              space: (_u, _i, min, max, dim) => {
                const incr = fittingIncrSec((max - min) * 1000, dim, widestLabel);
                return (incr * dim) / Math.max(1e-9, max - min) - 0.01;
              },
              // No label cut by the chart's edge: a tick too close to it goes without one.
              filter: (u, splits, _i, _space, incr) => {
                const half = widestLabel(incr * 1000) / 2;
                const left = u.bbox.left / uPlot.pxRatio;
                return splits.map((v) => {
                  const at = left + u.valToPos(v, 'x');
                  return at - half >= 0 && at + half <= u.width ? v : null;
                });
              },
              // The filter's dropped ticks come as nulls: no label for them (not one for 1970), and the
              // day goes on the first tick that has a label.
              values: (_u, splits, _i, _space, incr) => {
                const shownMs = splits.filter((v) => v != null).map((v) => v * 1000);
                const texts = clock.ticks(shownMs, incr * 1000);
                let next = 0;
                return splits.map((v) => (v == null ? '' : (texts[next++] ?? '')));
              },
            },
            {
              font: AXIS_FONT,
              stroke: muted,
              grid: { stroke: grid },
              ticks: { stroke: grid },
              space: 28,
              // As wide as its widest label, so that no label runs into the plot.
              size: (_u, labels) => Math.ceil(Math.max(24, ...(labels ?? []).map((v) => (v ? textWidth(v) : 0)))) + 18,
              ...(spec.unit === 'bytes' || spec.unit === 'rate' ? { incrs: BYTE_INCRS } : {}),
              values: (_u, ticks) => ticks.map((v) => formatTick(spec.unit, v)),
            },
          ],
          series: [
            {
              label: t('series.time'),
              value: (_u, v) => (v == null ? '–' : clock.full(v * 1000)),
            },
            ...keys.map((k, i) => ({
              label: k,
              show: !hidden.has(k),
              stroke: limits.has(k) ? muted : (PALETTE[colour++ % PALETTE.length] as string),
              ...(limits.has(k) ? { dash: [6, 4], points: { show: false } } : {}),
              width: 1.5,
              spanGaps: false,
              // Nulls (another line's moments) are bridged; the line breaks only where gaps.ts says.
              gaps: (u: uPlot, _s: number, i0: number, i1: number) =>
                (breaks[i] ?? [])
                  .filter(([a, b]) => b >= i0 && a <= i1)
                  .map(([a, b]): [number, number] => [
                    Math.round(u.valToPos(times[a] as number, 'x', true)),
                    Math.round(u.valToPos(times[b] as number, 'x', true)),
                  ]),
              value: (_u: uPlot, v: number | null) => formatValue(spec.unit, v),
            })),
          ],
          legend: { show: true, live: true },
          hooks: {
            setScale: [
              (u, key) => {
                if (key !== 'x') return;
                el.dataset.xMin = String(Math.round((u.scales.x?.min ?? 0) * 1000));
                el.dataset.xMax = String(Math.round((u.scales.x?.max ?? 0) * 1000));
                el.dataset.zoomed = String(view !== null);
              },
            ],
            setSelect: [
              (u) => {
                if (u.select.width < 3) return;
                const from = u.posToVal(u.select.left, 'x');
                const to = u.posToVal(u.select.left + u.select.width, 'x');
                u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
                zoom([from, to]);
              },
            ],
            setSeries: [
              (u) => {
                u.series.forEach((s, i) => {
                  const k = keys[i - 1];
                  if (k === undefined) return;
                  if (s.show) hidden.delete(k);
                  else hidden.add(k);
                });
                el.dataset.hidden = String(hidden.size);
              },
            ],
            draw: [
              (u) => {
                if (marksRef.current) el.dataset.marks = String(drawMarks(u, marksRef.current, surface));
                markTicks(u);
              },
            ],
          },
        },
        [times, ...values] as uPlot.AlignedData,
        el,
      );
      plotRef.current = plot;
      // A click that did not drag picks its time; a drag is a zoom and a double-click a reset, left as they are.
      for (const th of el.querySelectorAll('.u-legend .u-series:not(:first-child) th')) th.setAttribute('title', t('chart.legendHint'));
      el.dataset.hidden = String(hidden.size);
      mark();
    };

    /** The last raw value of each counter series, which the next live sample's rate is taken from. */
    const prevRaw = new Map<string, [number, number]>();
    const load = async () => {
      const { fromMs, toMs } = rangeBounds(range, Date.now());
      const step = stepFor(span);
      let lines: Lines;
      let reported: [number, number | null][] = [];
      if (source) {
        const r = await source(fromMs, toMs, step).catch(() => ({ lines: new Map() as Lines, stepMs: step }));
        if (disposed) return;
        stepMs = r.stepMs;
        lines = r.lines;
      } else {
        const [results, intervalPoints] = await Promise.all([
          Promise.all(
            spec.queries.map((q) =>
              fetchHistory(agentId, q.name, fromMs, toMs, step, q.counter ? 'last' : 'avg', q.labels).catch(() => ({
                series: [],
                stepMs: step,
              })),
            ),
          ),
          reportIntervals(`${agentId}|${rangeKey}|${step}`, agentId, fromMs, toMs, step),
        ]);
        if (disposed) return;
        reported = intervalPoints;
        stepMs = Math.max(...results.map((r) => r.stepMs), 0);
        // The stored reports' last raw counter values: the first live report after them is already a rate,
        // so a counter chart shows its first point one report after the agent's first, not two.
        if (appendLive && stepMs === 0) {
          spec.queries.forEach((q, qi) => {
            if (!q.counter) return;
            for (const s of results[qi]?.series ?? []) {
              const last = s.points.findLast(([, v]) => v !== null);
              const id = seriesId(q.name, s.labels);
              if (last && last[0] > (prevRaw.get(id)?.[0] ?? Number.NEGATIVE_INFINITY)) prevRaw.set(id, [last[0], last[1] as number]);
            }
          });
        }
        lines = linesFromHistory(
          spec,
          results.map((r) => r.series),
          t,
          limits,
        );
      }
      const newKeys = [...lines.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
      const allT = new Set<number>();
      for (const l of lines.values()) for (const x of l.keys()) allT.add(x);
      const ts = [...allT].sort((a, b) => a - b);
      const histT = ts.map((x) => x / 1000);
      // Live rows that arrived while the history loaded stay, after it; so do live interval samples.
      const lastHist = histT[histT.length - 1] ?? 0;
      const keepFrom = times.findIndex((x) => x > lastHist);
      const lastInterval = reported[reported.length - 1]?.[0] ?? Number.NEGATIVE_INFINITY;
      intervals = [...reported, ...intervals.filter(([x]) => x > lastInterval)];
      const oldKeys = keys;
      const oldValues = values;
      for (const k of oldKeys) if (keepFrom >= 0 && !newKeys.includes(k)) newKeys.push(k);
      const liveT = keepFrom < 0 ? [] : times.slice(keepFrom);
      values = newKeys.map((k) => {
        const j = oldKeys.indexOf(k);
        const tail = j < 0 ? liveT.map(() => null) : (oldValues[j] ?? []).slice(keepFrom);
        const line = lines.get(k);
        return [...ts.map((x) => line?.get(x) ?? null), ...tail];
      });
      times = [...histT, ...liveT];
      keys = newKeys;
      build();
    };

    const onSamples = (samples: LiveSample[]) => {
      for (const s of samples) {
        const last = intervals[intervals.length - 1]?.[0] ?? Number.NEGATIVE_INFINITY;
        if (s.name === INTERVAL_METRIC && s.timestampMs > last && Object.keys(s.labels).length === 0)
          intervals.push([s.timestampMs, s.value]);
      }
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
            const id = seriesId(q.name, s.labels);
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
        findGaps();
        plot.setData([times, ...values] as uPlot.AlignedData);
        mark();
      }
    };

    void load();
    const unsubscribe = appendLive ? live.subscribe(agentId, onSamples) : () => undefined;
    const refresh = sliding && !appendLive ? setInterval(() => void load(), 60_000) : undefined;
    // The window slides with the clock even when no point arrives (an offline agent).
    const slide = sliding ? setInterval(() => view === null && setView(null), Math.max(5000, span / 180)) : undefined;
    const resize = new ResizeObserver(() => plot?.setSize({ width: el.clientWidth, height: HEIGHT }));
    resize.observe(el);
    return () => {
      disposed = true;
      group.delete(setView);
      if (!group.size) zoomGroups.delete(syncKey);
      unsubscribe();
      clearInterval(refresh);
      clearInterval(slide);
      resize.disconnect();
      el.removeEventListener('mousedown', onDown);
      el.removeEventListener('click', onClick);
      plot?.destroy();
      plotRef.current = undefined;
    };
  }, [agentId, live, rangeKey, spec, intervalMs, theme, lang, source]);

  // New marks: a redraw puts them on.
  useEffect(() => {
    const plot = plotRef.current;
    if (marks && plot) plot.setData(plot.data);
  }, [marks]);

  return (
    <figure className="chart">
      <figcaption>{t(spec.title)}</figcaption>
      <div ref={host} className="plot" data-testid={`chart-${spec.id}`} data-points="0" data-empty="true" data-marks="0" data-gaps="0" />
      <p className="nodata">{t('host.noData')}</p>
      {onPick && picked !== undefined ? (
        <p className="chart-pick" data-testid="chart-pick">
          <button type="button" className="btn btn-secondary btn-small" onClick={() => onPick(picked)} data-testid="chart-logs-at">
            {t('chart.logsAt', dateTime(lang, picked))}
          </button>
          <button type="button" className="btn btn-ghost btn-small" aria-label={t('chart.closeMenu')} onClick={() => setPicked(undefined)}>
            ×
          </button>
        </p>
      ) : null}
    </figure>
  );
}
