import type { LiveSample, Series } from '@falconet/protocol/api';
import { act, screen, waitFor } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChartSpec, containerChartSpecs, SYSTEM_CHARTS } from '../src/host/charts.ts';
import { MetricChart, type Range, stepFor } from '../src/host/MetricChart.tsx';
import type { LiveConnection } from '../src/live.ts';
import { type StubbedCall, stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

interface PlotSeries {
  label?: string;
  dash?: number[];
  gaps?: (u: unknown, s: number, i0: number, i1: number, nullGaps: unknown[]) => [number, number][];
}
/** What the chart handed uPlot: its options and the aligned data (times in seconds, then one row per line). */
interface Plot {
  opts: { series: PlotSeries[]; scales: { x: { auto?: boolean; range: (u: unknown, min: number, max: number) => [number, number] } } };
  data: (number | null)[][];
  destroyed: boolean;
}

// uPlot draws on a canvas, which happy-dom has not: a stand-in keeps what the chart gives it to draw.
const plots = vi.hoisted(() => [] as Plot[]);
vi.mock('uplot', () => ({
  default: class {
    static pxRatio = 1;
    static fmtDate = () => () => '';
    opts: unknown;
    data: unknown;
    destroyed = false;
    constructor(opts: unknown, data: unknown) {
      this.opts = opts;
      this.data = data;
      plots.push(this as unknown as Plot);
    }
    setData(data: unknown) {
      this.data = data;
    }
    setSize() {}
    setScale() {}
    /** Times in seconds are pixels in this stand-in: gaps come back as the times they span. */
    valToPos(v: number) {
      return v;
    }
    destroy() {
      this.destroyed = true;
    }
  },
}));

const NOW = 1_700_000_400_000;
const S = 1000;
const HOUR: Range = { spanMs: 3_600_000 };

/** The chart's current plot and its data as [time in ms, ...values] rows, the way one reads a table. */
function table(): (number | null)[][] {
  const plot = plots.filter((p) => !p.destroyed).at(-1);
  if (!plot) throw new Error('no plot drawn');
  const [times = [], ...lines] = plot.data;
  return times.map((x, i) => [Math.round((x as number) * 1000), ...lines.map((l) => l[i] ?? null)]);
}
const labels = () => (plots.at(-1)?.opts.series ?? []).slice(1).map((s) => s.label);
/** Where the plot's line `i` (1-based) breaks, as uPlot asks its gaps function: time spans, in seconds here. */
function gapsOf(i: number): [number, number][] {
  const plot = plots.filter((p) => !p.destroyed).at(-1) as Plot & { valToPos(v: number): number };
  const n = plot.data[0]?.length ?? 0;
  return plot.opts.series[i]?.gaps?.(plot, i, 0, n - 1, []) ?? [];
}

function show(spec: ChartSpec, history: Record<string, Series[]>, { range = HOUR, stepMs = 0 }: { range?: Range; stepMs?: number } = {}) {
  const server = stubFetch({
    'GET /api/metrics': (c: StubbedCall) => ({ body: { series: history[c.query.get('name') ?? ''] ?? [], stepMs } }),
  });
  let onSamples: ((s: LiveSample[]) => void) | undefined;
  const live = {
    subscribe: vi.fn((_id: string, l: (s: LiveSample[]) => void) => {
      onSamples = l;
      return () => {
        onSamples = undefined;
      };
    }),
  };
  const view = renderPage(
    <MetricChart spec={spec} agentId="a1" intervalMs={10_000} live={live as unknown as LiveConnection} range={range} theme="light" />,
  );
  const push = (samples: LiveSample[]) =>
    act(() => {
      if (!onSamples) throw new Error('the chart is not subscribed');
      onSamples(samples);
    });
  return { server, live, push, view, subscribed: () => onSamples !== undefined, el: () => screen.getByTestId(`chart-${spec.id}`) };
}

const spec = (id: string) => SYSTEM_CHARTS.find((c) => c.id === id) as ChartSpec;
const drawn = async () => waitFor(() => expect(plots.length).toBeGreaterThan(0));

beforeEach(() => {
  plots.length = 0;
  vi.useFakeTimers({ toFake: ['Date'], now: NOW });
});

describe('MetricChart: history', () => {
  it('aligns the lines of several metrics on one time axis, with a gap where a line has no point', async () => {
    show(spec('load'), {
      node_load1: [
        {
          name: 'node_load1',
          labels: {},
          points: [
            [NOW - 20 * S, 1],
            [NOW - 10 * S, 2],
          ],
        },
      ],
      node_load5: [
        {
          name: 'node_load5',
          labels: {},
          points: [
            [NOW - 10 * S, 5],
            [NOW, 6],
          ],
        },
      ],
      node_load15: [],
    });
    await drawn();
    expect(labels()).toEqual(['1m', '5m']);
    expect(table()).toEqual([
      [NOW - 20 * S, 1, null],
      [NOW - 10 * S, 2, 5],
      [NOW, null, 6],
    ]);
  });

  it('orders lines by name with numbers in order (cpu2 before cpu10) and turns counters into rates', async () => {
    const counter = (cpu: string, values: number[]): Series => ({
      name: 'node_cpu_seconds_total',
      labels: { cpu, mode: 'user' },
      points: values.map((v, i) => [NOW - (values.length - 1 - i) * 10 * S, v]),
    });
    show(spec('cpu-cores'), { node_cpu_seconds_total: [counter('10', [100, 105, 106]), counter('2', [50, 52, 54])] });
    await drawn();
    expect(labels()).toEqual(['cpu2', 'cpu10']);
    // Seconds of CPU per second, as % (scale 100): the first point of a counter has no rate.
    expect(table()).toEqual([
      [NOW - 10 * S, 20, 50],
      [NOW, 20, 10],
    ]);
  });

  it('leaves a counter reset (an agent restart) out rather than drawing a negative rate', async () => {
    show(spec('network'), {
      node_network_receive_bytes_total: [
        {
          name: 'node_network_receive_bytes_total',
          labels: { device: 'eth0' },
          points: [
            [NOW - 30 * S, 1000],
            [NOW - 20 * S, 11_000],
            [NOW - 10 * S, 500],
            [NOW, 10_500],
          ],
        },
      ],
    });
    await drawn();
    expect(table()).toEqual([
      [NOW - 20 * S, 1000],
      [NOW, 1000],
    ]);
  });

  it('averages CPU modes over the cores the host has', async () => {
    const mode = (cpu: string, m: string, a: number, b: number): Series => ({
      name: 'node_cpu_seconds_total',
      labels: { cpu, mode: m },
      points: [
        [NOW - 10 * S, a],
        [NOW, b],
      ],
    });
    show(spec('cpu-modes'), {
      node_cpu_seconds_total: [mode('0', 'user', 0, 8), mode('1', 'user', 0, 2), mode('0', 'idle', 0, 10), mode('1', 'system', 0, 1)],
    });
    await drawn();
    expect(labels()).toEqual(['system', 'user']);
    expect(table()).toEqual([[NOW, 5, 50]]);
  });

  it('breaks the line where points are missing for more than 2.5 reporting intervals, and nowhere else', async () => {
    const { el } = show(spec('CPU'), {
      falconet_cpu_usage_percent: [
        {
          name: 'falconet_cpu_usage_percent',
          labels: {},
          points: [
            [NOW - 90 * S, 10],
            [NOW - 80 * S, 11],
            [NOW - 70 * S, 12],
            [NOW - 60 * S, 13],
            [NOW - 20 * S, 14],
            [NOW - 10 * S, 15],
            [NOW, 16],
          ],
        },
      ],
    });
    await drawn();
    // The points stay as they are; 40 s of silence between reports every 10 s is the one gap.
    expect(table().map((r) => r[0])).toEqual([-90, -80, -70, -60, -20, -10, 0].map((k) => NOW + k * S));
    expect(el().dataset.gaps).toBe('1');
    expect(gapsOf(1)).toEqual([[(NOW - 60 * S) / 1000, (NOW - 20 * S) / 1000]]);
  });

  it('draws no gap where the agent slowed from 10 s to 60 s reports, as its reported interval says', async () => {
    const at = [-200, -190, -180, -170, -110, -50].map((k) => NOW + k * S);
    const { el } = show(spec('CPU'), {
      falconet_cpu_usage_percent: [{ name: 'falconet_cpu_usage_percent', labels: {}, points: at.map((t) => [t, 5]) }],
      falconet_agent_report_interval_seconds: [
        { name: 'falconet_agent_report_interval_seconds', labels: {}, points: at.map((t, i) => [t, i < 4 ? 10 : 60]) },
      ],
    });
    await drawn();
    expect(el().dataset.gaps).toBe('0');
  });

  it('bridges the moments of other lines: a line breaks only by its own spacing', async () => {
    const { el } = show(spec('load'), {
      node_load1: [{ name: 'node_load1', labels: {}, points: [0, 10, 20, 30].map((k) => [NOW - 60 * S + k * S, 1]) }],
      node_load5: [{ name: 'node_load5', labels: {}, points: [5, 15, 25, 35].map((k) => [NOW - 60 * S + k * S, 2]) }],
    });
    await drawn();
    expect(table()).toHaveLength(8);
    expect(el().dataset.gaps).toBe('0');
    expect(gapsOf(1)).toEqual([]);
    expect(gapsOf(2)).toEqual([]);
  });

  it("measures gaps in the server's step for long ranges, not in the reporting interval", async () => {
    const step = 60_000;
    const { el } = show(
      spec('CPU'),
      {
        falconet_cpu_usage_percent: [
          {
            name: 'falconet_cpu_usage_percent',
            labels: {},
            points: [
              [NOW - 9 * step, 1],
              [NOW - 8 * step, 1],
              [NOW - 7 * step, 1],
              [NOW - 5 * step, 1],
              [NOW - 4 * step, 2],
              [NOW - step, 3],
              [NOW, 3],
            ],
          },
        ],
      },
      { range: { spanMs: 6 * 3_600_000 }, stepMs: step },
    );
    await drawn();
    // Two steps apart is one missing bucket; three is a gap.
    expect(el().dataset.gaps).toBe('1');
    expect(gapsOf(1)).toEqual([[(NOW - 4 * step) / 1000, (NOW - step) / 1000]]);
  });

  it('spans the range on the x axis whatever the data, never fitted to it', async () => {
    show(spec('CPU'), {
      falconet_cpu_usage_percent: [{ name: 'falconet_cpu_usage_percent', labels: {}, points: [[NOW - 5 * S, 42]] }],
    });
    await drawn();
    const x = plots.at(-1)?.opts.scales.x;
    expect(x?.auto).toBe(false);
    expect(x?.range(undefined, (NOW - 5 * S) / 1000, (NOW - 5 * S) / 1000)).toEqual([(NOW - 3_600_000) / 1000, NOW / 1000]);

    show(spec('CPU'), {}, { range: { fromMs: NOW - 7_200_000, toMs: NOW - 3_600_000 } });
    await waitFor(() => expect(plots.length).toBe(2));
    expect(plots.at(-1)?.opts.scales.x.range(undefined, 0, 0)).toEqual([(NOW - 7_200_000) / 1000, (NOW - 3_600_000) / 1000]);
  });

  it('draws one point as one point', async () => {
    const { el } = show(spec('CPU'), {
      falconet_cpu_usage_percent: [{ name: 'falconet_cpu_usage_percent', labels: {}, points: [[NOW, 42]] }],
    });
    await drawn();
    expect(table()).toEqual([[NOW, 42]]);
    expect(el().dataset).toMatchObject({ points: '1', series: '1', empty: 'false', lastTs: String(NOW) });
  });

  it('says there is no data when the range is empty or every query failed', async () => {
    const { el } = show(spec('load'), {});
    await drawn();
    expect(table()).toEqual([]);
    expect(el().dataset).toMatchObject({ points: '0', series: '0', empty: 'true' });
    expect(screen.getByText('No data in this range.')).toBeTruthy();
  });

  it('draws a container limit as a dashed line beside the measured one', async () => {
    const [cpu] = containerChartSpecs({ id: 'c1', cpuLimited: true, memoryLimited: false });
    const { server } = show(cpu, {
      falconet_container_cpu_usage_percent: [
        { name: 'falconet_container_cpu_usage_percent', labels: { id: 'c1' }, points: [[NOW, 30]] },
        { name: 'falconet_container_cpu_usage_percent', labels: { id: 'other' }, points: [[NOW, 99]] },
      ],
      falconet_container_cpu_limit_cores: [{ name: 'falconet_container_cpu_limit_cores', labels: { id: 'c1' }, points: [[NOW, 1.5]] }],
    });
    await drawn();
    const mine = server.calls.filter((c) => c.query.get('name') !== 'falconet_agent_report_interval_seconds');
    expect(mine.map((c) => c.query.get('labels'))).toEqual(['{"id":"c1"}', '{"id":"c1"}']);
    expect(table()).toEqual([[NOW, 30, 150]]);
    const series = plots.at(-1)?.opts.series.slice(1) ?? [];
    expect(series.map((s) => [s.label, s.dash !== undefined])).toEqual([
      ['CPU used', false],
      ['Limit', true],
    ]);
  });

  it('asks for raw points up to an hour and for one point per minute or more beyond', async () => {
    expect(stepFor(15 * 60_000)).toBe(0);
    expect(stepFor(3_600_000)).toBe(0);
    expect(stepFor(2 * 3_600_000)).toBe(60_000);
    expect(stepFor(24 * 3_600_000)).toBe(4 * 60_000);
    expect(stepFor(7 * 24 * 3_600_000)).toBe(25 * 60_000);

    const { server } = show(spec('CPU'), {}, { range: { fromMs: NOW - 24 * 3_600_000, toMs: NOW } });
    await drawn();
    expect(server.calls[0]?.query.get('step')).toBe(String(4 * 60_000));
    expect(server.calls[0]?.query.get('agg')).toBe('avg');
  });
});

describe('MetricChart: live samples', () => {
  const cpu = (timestampMs: number, value: number, labels: Record<string, string> = {}): LiveSample => ({
    name: 'falconet_cpu_usage_percent',
    labels,
    value,
    timestampMs,
  });

  it('appends samples newer than the history, ignoring late ones and other metrics', async () => {
    const { push } = show(spec('CPU'), {
      falconet_cpu_usage_percent: [
        {
          name: 'falconet_cpu_usage_percent',
          labels: {},
          points: [
            [NOW - 10 * S, 1],
            [NOW, 2],
          ],
        },
      ],
    });
    await drawn();
    push([cpu(NOW + 10 * S, 3), { name: 'node_load1', labels: {}, value: 9, timestampMs: NOW + 10 * S }]);
    push([cpu(NOW + 5 * S, 99)]);
    push([cpu(NOW + 10 * S, 98)]);
    expect(table()).toEqual([
      [NOW - 10 * S, 1],
      [NOW, 2],
      [NOW + 10 * S, 3],
    ]);
  });

  it('breaks the line after a silence of more than 2.5 intervals, and adds a line that appears with nulls before it', async () => {
    const { push, el } = show(spec('CPU'), {
      falconet_cpu_usage_percent: [
        {
          name: 'falconet_cpu_usage_percent',
          labels: {},
          points: [
            [NOW - 20 * S, 1],
            [NOW - 10 * S, 1],
            [NOW, 2],
          ],
        },
      ],
    });
    await drawn();
    push([cpu(NOW + 60 * S, 4)]);
    expect(table()).toEqual([
      [NOW - 20 * S, 1],
      [NOW - 10 * S, 1],
      [NOW, 2],
      [NOW + 60 * S, 4],
    ]);
    expect(el().dataset.gaps).toBe('1');

    const { push: pushLoad } = show(spec('load'), {});
    await waitFor(() => expect(plots.length).toBe(2));
    pushLoad([{ name: 'node_load1', labels: {}, value: 0.5, timestampMs: NOW }]);
    pushLoad([
      { name: 'node_load1', labels: {}, value: 0.6, timestampMs: NOW + 10 * S },
      { name: 'node_load5', labels: {}, value: 0.4, timestampMs: NOW + 10 * S },
    ]);
    expect(labels()).toEqual(['1m', '5m']);
    expect(table()).toEqual([
      [NOW, 0.5, null],
      [NOW + 10 * S, 0.6, 0.4],
    ]);
  });

  it('follows the interval the agent reports live: a first 60 s spacing after it slowed down is no gap', async () => {
    const { push, el } = show(spec('CPU'), {
      falconet_cpu_usage_percent: [
        {
          name: 'falconet_cpu_usage_percent',
          labels: {},
          points: [
            [NOW - 20 * S, 1],
            [NOW - 10 * S, 1],
            [NOW, 2],
          ],
        },
      ],
    });
    await drawn();
    push([cpu(NOW + 60 * S, 4), { name: 'falconet_agent_report_interval_seconds', labels: {}, value: 60, timestampMs: NOW + 60 * S }]);
    expect(el().dataset.gaps).toBe('0');
  });

  it('turns live counters into rates from one sample to the next', async () => {
    const { push } = show(spec('network'), {});
    await drawn();
    const rx = (t: number, v: number, device = 'eth0'): LiveSample => ({
      name: 'node_network_receive_bytes_total',
      labels: { device },
      value: v,
      timestampMs: t,
    });
    push([rx(NOW, 1000), rx(NOW, 5, 'lo')]);
    push([rx(NOW + 10 * S, 21_000), rx(NOW + 10 * S, 500, 'lo')]);
    push([rx(NOW + 20 * S, 100)]);
    push([rx(NOW + 30 * S, 10_100)]);
    expect(labels()).toEqual(['eth0 in']);
    expect(table()).toEqual([
      [NOW + 10 * S, 2000],
      [NOW + 30 * S, 1000],
    ]);
  });

  it("takes the first live counter's rate from the stored report before it, in the agent's first minute", async () => {
    // The agent's first report is stored (one raw point: no rate yet); its second arrives live.
    const { push } = show(spec('network'), {
      node_network_receive_bytes_total: [
        { name: 'node_network_receive_bytes_total', labels: { device: 'eth0', job: 'node' }, points: [[NOW - 10 * S, 1000]] },
      ],
    });
    await drawn();
    expect(table()).toEqual([]);
    // The live sample's labels come in another order: the same series all the same.
    push([{ name: 'node_network_receive_bytes_total', labels: { job: 'node', device: 'eth0' }, value: 21_000, timestampMs: NOW }]);
    expect(table()).toEqual([[NOW, 2000]]);
  });

  it('drops points that slide out of the window', async () => {
    const { push } = show(
      spec('CPU'),
      {
        falconet_cpu_usage_percent: [
          {
            name: 'falconet_cpu_usage_percent',
            labels: {},
            points: [
              [NOW - 14 * 60 * S, 1],
              [NOW - 10 * S, 2],
            ],
          },
        ],
      },
      { range: { spanMs: 15 * 60_000 } },
    );
    await drawn();
    push([cpu(NOW + 2 * 60 * S, 3)]);
    expect(table().map((r) => r[0])).toEqual([NOW - 10 * S, NOW + 2 * 60 * S]);
  });

  it('follows the socket only for sliding windows up to an hour', async () => {
    const fixed = show(spec('CPU'), {}, { range: { fromMs: NOW - 3_600_000, toMs: NOW } });
    await drawn();
    expect(fixed.live.subscribe).not.toHaveBeenCalled();
    const day = show(spec('CPU'), {}, { range: { spanMs: 24 * 3_600_000 } });
    await waitFor(() => expect(plots.length).toBe(2));
    expect(day.live.subscribe).not.toHaveBeenCalled();
    const hour = show(spec('CPU'), {});
    expect(hour.live.subscribe).toHaveBeenCalledWith('a1', expect.any(Function));
    hour.view.unmount();
    expect(hour.subscribed()).toBe(false);
  });
});
