import type { LogLine } from '@falconet/protocol/api';
import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveConnection } from '../src/live.ts';
import { LogsView } from '../src/logs/LogsView.tsx';
import { searchOfView, viewFromSearch } from '../src/logs/url.ts';
import { FakeSocket } from './fake-socket.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

function line(id: string, timeMs: number): LogLine {
  return {
    id,
    timeMs,
    observedMs: timeMs,
    agentId: 'a-1',
    host: 'web-1',
    source: 'app',
    stream: 'x',
    level: 'info',
    message: `message ${id}`,
    labels: {},
    fields: {},
  };
}

let live: LiveConnection;
beforeEach(() => {
  FakeSocket.made = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  live = new LiveConnection('ws://falconet.test/api/live');
  live.connect();
  FakeSocket.last.open();
});

describe('the Logs page address', () => {
  it('holds the query, range, filters and live mode, defaults left out', () => {
    const v = viewFromSearch('?q=level%3Aerror+%22a+b%22&range=6h&host=web-1&source=nginx&live=1', NOW);
    expect(v).toMatchObject({ q: 'level:error "a b"', range: '6h', host: 'web-1', source: 'nginx', live: true });
    expect(viewFromSearch(searchOfView(v), NOW)).toEqual(v);
    expect(searchOfView(viewFromSearch('', NOW))).toBe('');
    // Milliseconds are read too; ISO times are written.
    const custom = viewFromSearch(`?range=custom&from=2026-12-06T10%3A00%3A00.000Z&to=${Date.UTC(2026, 11, 6, 11)}`, NOW);
    expect(custom).toMatchObject({ range: 'custom', fromMs: Date.UTC(2026, 11, 6, 10), toMs: Date.UTC(2026, 11, 6, 11) });
    expect(searchOfView(custom)).toBe('?range=custom&from=2026-12-06T10%3A00%3A00.000Z&to=2026-12-06T11%3A00%3A00.000Z');
  });

  it("opens a log alert's link (from and to in milliseconds, no range) on its window", () => {
    const v = viewFromSearch(`?q=${encodeURIComponent('agent:a-1 (error)')}&from=${NOW - 300_000}&to=${NOW}`, NOW + 86_400_000);
    expect(v).toMatchObject({ q: 'agent:a-1 (error)', range: 'custom', fromMs: NOW - 300_000, toMs: NOW, live: false });
  });

  it('reads what it cannot use as the default', () => {
    expect(viewFromSearch('?range=5y&live=yes', NOW)).toMatchObject({ range: '1h', live: false });
    // A custom range needs both ends, in order.
    expect(viewFromSearch('?range=custom&from=2026-12-06T10:00:00Z', NOW).range).toBe('1h');
    expect(viewFromSearch('?range=custom&from=2&to=1', NOW).range).toBe('1h');
    expect(viewFromSearch('?range=custom&from=nonsense&to=1', NOW).range).toBe('1h');
  });
});

describe('a live tail resumed after a reconnect', () => {
  it('sends back the last position, shows the gap the server reports, and drops lines it already shows', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      stubFetch({
        'GET /api/logs': () => ({ body: { lines: [line('old', NOW - 60_000)] } }),
        'GET /api/logs/histogram': () => ({ body: { stepMs: 60_000, buckets: [] } }),
        'GET /api/logs/facets': () => ({ body: { total: 1, facets: {} } }),
      });
      renderPage(<LogsView live={live} range={{ spanMs: 3_600_000 }} />);
      await waitFor(() => expect(screen.getAllByTestId('log-line')).toHaveLength(1));
      await userEvent.click(screen.getByTestId('logs-tail'));
      expect(FakeSocket.last.sent.at(-1)).toEqual({ type: 'logs_tail', q: '' });
      act(() => FakeSocket.last.receive({ type: 'logs', lines: [], position: 'e1.10.0' }));
      act(() => FakeSocket.last.receive({ type: 'logs', lines: [line('t1', NOW)], position: `e1.12.${NOW}` }));

      act(() => FakeSocket.last.end());
      await act(() => vi.advanceTimersByTimeAsync(1000));
      act(() => FakeSocket.last.open());
      expect(FakeSocket.last.sent).toEqual([{ type: 'logs_tail', q: '', after: `e1.12.${NOW}` }]);
      act(() => FakeSocket.last.receive({ type: 'logs_gap', reason: 'limit', skipped: 7, sinceMs: NOW }));
      act(() =>
        FakeSocket.last.receive({
          type: 'logs',
          lines: [line('t1', NOW), line('t2', NOW + 1000), line('t3', NOW + 2000)],
          position: `e1.30.${NOW + 2000}`,
        }),
      );
      const rows = [...screen.getByTestId('logs-lines').querySelectorAll('li.log-line, li.log-gap')].map(
        (li) => (li as HTMLElement).dataset.id ?? `gap:${(li as HTMLElement).dataset.skipped}`,
      );
      // The gap lies after the last line shown before the drop (t1), under the lines caught up.
      expect(rows).toEqual(['t3', 't2', 'gap:7', 't1', 'old']);
      expect(screen.getByTestId('logs-gap').textContent).toContain('7 older lines');
    } finally {
      vi.useRealTimers();
    }
  });
});
