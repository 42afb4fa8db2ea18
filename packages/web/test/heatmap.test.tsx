import type { Agent } from '@falconet/protocol/api';
import { act, fireEvent, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cellAt, HEAT_STOPS, heatColor, heatLayout, MIN_CELL } from '../src/overview/heatmap.ts';
import { Overview } from '../src/overview/Overview.tsx';
import { AgentStore } from '../src/overview/store.ts';
import { agent } from './agents.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

describe('heatLayout', () => {
  it('puts 5,000 hosts on one desktop screen in square cells, row after row', () => {
    const l = heatLayout(5000, 1400, 620);
    expect(l.cols * l.rows).toBeGreaterThanOrEqual(5000);
    expect(l.height).toBeLessThanOrEqual(620);
    expect(l.width).toBeLessThanOrEqual(1400);
    expect(l.cell).toBeGreaterThanOrEqual(10);
    // The last cell and one past the end.
    expect(cellAt(l, 5000, (4999 % l.cols) * l.cell + 1, Math.floor(4999 / l.cols) * l.cell + 1)).toBe(4999);
    expect(cellAt(l, 5000, (5000 % l.cols) * l.cell + 1, Math.floor(5000 / l.cols) * l.cell + 1)).toBe(-1);
    expect(cellAt(l, 5000, l.width + 1, 0)).toBe(-1);
  });

  it('takes the smallest cells, and more height, when even they cannot all fit; big cells for a few hosts', () => {
    const tight = heatLayout(50_000, 800, 300);
    expect(tight.cell).toBe(MIN_CELL);
    expect(tight.height).toBeGreaterThan(300);
    const few = heatLayout(3, 1200, 600);
    expect(few.cell).toBe(36);
    expect(few.cols).toBe(3);
    expect(few.rows).toBe(1);
  });
});

describe('heatColor', () => {
  it('runs from the first stop to the last, and clamps what is outside 0–100', () => {
    const hex = (c: readonly number[]) => `#${c.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
    expect(heatColor(0)).toBe(hex((HEAT_STOPS[0] as (typeof HEAT_STOPS)[number])[1]));
    expect(heatColor(100)).toBe(hex((HEAT_STOPS[HEAT_STOPS.length - 1] as (typeof HEAT_STOPS)[number])[1]));
    expect(heatColor(-5)).toBe(heatColor(0));
    expect(heatColor(250)).toBe(heatColor(100));
    expect(heatColor(50)).toBe(hex([254, 224, 139]));
  });
});

/** A 2D context that keeps what it was asked to draw: happy-dom has no canvas. */
function recordCanvas() {
  const ops: { op: string; style?: string; args: number[] }[] = [];
  const ctx = {
    fillStyle: '',
    strokeStyle: '',
    lineWidth: 1,
    globalAlpha: 1,
    setTransform: () => undefined,
    clearRect: () => undefined,
    fillRect: (...args: number[]) => ops.push({ op: 'fill', style: ctx.fillStyle, args }),
    strokeRect: (...args: number[]) => ops.push({ op: 'strokeRect', style: ctx.strokeStyle, args }),
    beginPath: () => undefined,
    moveTo: () => undefined,
    lineTo: () => undefined,
    stroke: () => ops.push({ op: 'stroke', style: ctx.strokeStyle, args: [] }),
  };
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockReturnValue(ctx as unknown as CanvasRenderingContext2D);
  vi.spyOn(HTMLElement.prototype, 'clientWidth', 'get').mockReturnValue(1000);
  return ops;
}

const FLEET = [
  agent('a1', {
    hostname: 'web-2',
    summary: { falconet_cpu_usage_percent: 35, falconet_memory_used_percent: 70, falconet_disk_used_percent: 12 },
  }),
  agent('a2', { hostname: 'db-1', status: 'offline', summary: { falconet_cpu_usage_percent: 5 } }),
  agent('a3', { hostname: 'web-1', summary: { falconet_cpu_usage_percent: 90 } }),
  agent('a4', { hostname: 'cache', summary: {} }),
];

beforeEach(() => {
  stubFetch({
    'GET /api/fleet/summary': {
      body: {
        agents: 4,
        online: 3,
        offline: 1,
        averages: {},
        totals: { networkReceiveBytesPerSecond: 0, networkTransmitBytesPerSecond: 0 },
      },
    },
  });
});

afterEach(() => {
  history.replaceState(null, '', '/');
});

function show(agents: Agent[] = FLEET, lang: 'en' | 'zh' = 'en') {
  const store = new AgentStore();
  store.load(agents);
  const onOpen = vi.fn();
  renderPage(<Overview store={store} onOpen={onOpen} />, { lang });
  return { store, onOpen, canvas: () => screen.getByTestId('heatmap-canvas') as HTMLCanvasElement };
}

/** Moves the pointer over cell `i` of the canvas (its box starts at 0,0 in happy-dom). */
function hover(canvas: HTMLCanvasElement, i: number) {
  const cols = Number(canvas.dataset.cols);
  const cell = Number(canvas.dataset.cell);
  const at = { clientX: (i % cols) * cell + cell / 2, clientY: Math.floor(i / cols) * cell + cell / 2 };
  fireEvent.mouseMove(canvas, at);
  return at;
}

describe('the overview heatmap', () => {
  it('is chosen by the address, draws one cell per host in the list order, and opens a host on a click', () => {
    const ops = recordCanvas();
    history.replaceState(null, '', '/?view=heatmap');
    const { canvas, onOpen } = show();
    expect(screen.queryByTestId('agent-list')).toBeNull();
    expect(canvas().dataset.cells).toBe('4');
    expect(canvas().dataset.metric).toBe('cpu');
    // In host name order: cache (no data), db-1 (offline, struck through), web-1 (90 %), web-2 (35 %).
    const fills = ops.filter((o) => o.op === 'fill');
    expect(fills.map((o) => o.style)).toEqual(['#e5e7eb', '#6b7280', heatColor(90), heatColor(35)]);
    expect(ops.filter((o) => o.op === 'stroke')).toHaveLength(1);

    const at = hover(canvas(), 2);
    const tip = screen.getByTestId('heatmap-tip');
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toBe('web-1\nCPU 90.0% used');
    hover(canvas(), 1);
    expect(tip.textContent).toBe('db-1\nCPU 5.0% used · offline');
    hover(canvas(), 0);
    expect(tip.textContent).toBe('cache\nCPU no data');
    fireEvent.click(canvas(), at);
    expect(onOpen).toHaveBeenCalledWith('a3');
  });

  it('switches CPU, memory and disk, each kept in the address, and back to the table', async () => {
    recordCanvas();
    const { canvas } = show();
    expect(screen.getByTestId('view-table').getAttribute('aria-pressed')).toBe('true');
    await userEvent.click(screen.getByTestId('view-heatmap'));
    expect(location.search).toBe('?view=heatmap');
    await userEvent.click(screen.getByTestId('heat-memory'));
    expect(location.search).toBe('?view=heatmap&metric=memory');
    expect(canvas().dataset.metric).toBe('memory');
    hover(canvas(), 3);
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web-2\nMemory 70.0% used');
    await userEvent.click(screen.getByTestId('heat-disk'));
    expect(location.search).toBe('?view=heatmap&metric=disk');
    expect(screen.getByTestId('heat-disk').title).toBe('/ mount, used / (used + available), as df computes it');
    hover(canvas(), 2);
    hover(canvas(), 3);
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web-2\nDisk 12.0% used');
    // The browser's back button: the address says memory again.
    act(() => {
      history.back();
    });
    await vi.waitFor(() => expect(canvas().dataset.metric).toBe('memory'));
    await userEvent.click(screen.getByTestId('view-table'));
    expect(location.search).toBe('');
    expect(screen.getAllByTestId('agent-row')).toHaveLength(4);
  });

  it('repaints only the cell of a host whose value changed, without rendering React', () => {
    vi.useFakeTimers({ toFake: ['requestAnimationFrame', 'cancelAnimationFrame'] });
    const ops = recordCanvas();
    history.replaceState(null, '', '/?view=heatmap');
    const { store, canvas } = show();
    hover(canvas(), 3);
    // The frame after the snapshot: its agents are told once.
    act(() => vi.advanceTimersToNextFrame());
    ops.length = 0;
    act(() => {
      store.upsert(agent('a1', { hostname: 'web-2', lastSeenMs: 1_700_000_610_000, summary: { falconet_cpu_usage_percent: 99 } }));
      vi.advanceTimersToNextFrame();
    });
    expect(ops).toEqual([expect.objectContaining({ op: 'fill', style: heatColor(99) })]);
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web-2\nCPU 99.0% used');
  });

  it('paints again when the theme changes, its offline and no-data colours coming from the theme', async () => {
    vi.useFakeTimers({ toFake: ['requestAnimationFrame', 'cancelAnimationFrame'] });
    const ops = recordCanvas();
    history.replaceState(null, '', '/?view=heatmap');
    show();
    act(() => vi.advanceTimersToNextFrame());
    ops.length = 0;
    document.documentElement.dataset.theme = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    await vi.waitFor(() => expect(ops.filter((o) => o.op === 'fill')).toHaveLength(4));
  });

  it('moves between cells with the arrow keys and opens one with Enter', async () => {
    recordCanvas();
    history.replaceState(null, '', '/?view=heatmap');
    const { canvas, onOpen } = show();
    canvas().focus();
    // The first key lands on the first cell.
    await userEvent.keyboard('{ArrowRight}{ArrowRight}{ArrowRight}{ArrowRight}{ArrowLeft}');
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web-1\nCPU 90.0% used');
    await userEvent.keyboard('{Enter}');
    expect(onOpen).toHaveBeenCalledWith('a3');
  });

  it('speaks Chinese, with the legend of the scale, offline and no data', () => {
    recordCanvas();
    history.replaceState(null, '', '/?view=heatmap&metric=disk');
    const { canvas } = show(FLEET, 'zh');
    expect(screen.getByTestId('heatmap-legend').textContent).toBe('颜色刻度磁盘0%100%离线无数据');
    expect(canvas().getAttribute('aria-label')).toBe('4 台主机的磁盘热力图；点击格子打开该主机。表格视图列出相同的主机。');
    hover(canvas(), 3);
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web-2\n磁盘 12.0% 已用');
  });

  it('tells two hosts of one name apart in the tip', () => {
    recordCanvas();
    history.replaceState(null, '', '/?view=heatmap');
    const { canvas } = show([
      agent('3f2a9c1e-0000-4000-8000-000000000001', { hostname: 'web', summary: { falconet_cpu_usage_percent: 1 } }),
      agent('push:web', { hostname: 'web', status: 'offline', summary: {} }),
    ]);
    hover(canvas(), 0);
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web (3f2a9c1e · agent)\nCPU 1.0% used');
    hover(canvas(), 1);
    expect(screen.getByTestId('heatmap-tip').textContent).toBe('web (push:web · pushed)\nCPU no data · offline');
  });
});
