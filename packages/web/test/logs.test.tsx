import type { LogLine } from '@falconet/protocol/api';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveConnection } from '../src/live.ts';
import { LogsView } from '../src/logs/LogsView.tsx';
import { addTerm, queryRefusal, scopedQuery } from '../src/logs/query.ts';
import { FakeSocket } from './fake-socket.ts';
import { type StubbedCall, stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

function line(n: number, over: Partial<LogLine> = {}): LogLine {
  return {
    id: `l${n}`,
    timeMs: NOW - n * 1000,
    observedMs: NOW - n * 1000 + 5,
    agentId: 'a-1',
    host: 'web-1',
    source: 'nginx',
    stream: '/var/log/nginx/error.log',
    level: n % 3 === 0 ? 'error' : 'info',
    message: `message ${n}`,
    labels: { unit: 'nginx.service' },
    fields: { status: '502' },
    ...over,
  };
}

const LINES = Array.from({ length: 5 }, (_, i) => line(i + 1));

/** The logs API as a stub: the query decides the answer; `level>=loud` is refused as the server does. */
function server(pages: Record<string, { lines: LogLine[]; cursor?: string }> = {}) {
  const refuse = (c: StubbedCall) =>
    c.query.get('q')?.includes('loud')
      ? {
          status: 400,
          body: {
            error: {
              code: 'bad_query',
              message: `querystring q: position ${(c.query.get('q') ?? '').indexOf('level') + 1}: unknown level "loud"`,
            },
          },
        }
      : undefined;
  return stubFetch({
    'GET /api/logs': (c) => refuse(c) ?? { body: pages[c.query.get('cursor') ?? ''] ?? { lines: LINES, cursor: 'c2' } },
    'GET /api/logs/histogram': (c) =>
      refuse(c) ?? {
        body: {
          stepMs: 60_000,
          buckets: [
            { t: NOW - 120_000, count: 0, levels: {} },
            { t: NOW - 60_000, count: 5, levels: { info: 3, error: 2 } },
          ],
        },
      },
    'GET /api/logs/facets': (c) =>
      refuse(c) ?? {
        body: {
          total: 5,
          facets: {
            level: [
              { value: 'info', count: 3 },
              { value: 'error', count: 2 },
            ],
            host: [{ value: 'web-1', count: 5 }],
            unit: [{ value: 'nginx.service', count: 5 }],
          },
        },
      },
  });
}

let live: LiveConnection;
beforeEach(() => {
  FakeSocket.made = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  live = new LiveConnection('ws://falconet.test/api/live');
  live.connect();
  FakeSocket.last.open();
});

const shown = () => screen.getAllByTestId('log-line').map((l) => l.dataset.id);

describe('the logs view', () => {
  it('lists lines newest first with their level, draws the histogram, and pages back by cursor', async () => {
    const api = server({ c2: { lines: [line(6), line(7)] } });
    renderPage(<LogsView live={live} range={{ spanMs: 3_600_000 }} />);
    await waitFor(() => expect(shown()).toEqual(['l1', 'l2', 'l3', 'l4', 'l5']));
    expect(screen.getAllByTestId('log-line')[2]?.dataset.level).toBe('error');
    expect(screen.getByTestId('logs-histogram').dataset.total).toBe('5');
    expect(screen.getByTestId('logs-histogram').querySelectorAll('rect')).toHaveLength(2);
    const first = api.to('GET /api/logs')[0];
    expect(Number(first?.query.get('to')) - Number(first?.query.get('from'))).toBe(3_600_000);
    await userEvent.click(screen.getByTestId('logs-more'));
    await waitFor(() => expect(shown()).toHaveLength(7));
    expect(api.to('GET /api/logs')[1]?.query.get('cursor')).toBe('c2');
    expect(screen.getByText('No older lines in the range.')).toBeTruthy();
  });

  it('adds field:value to the query on a facet click, and expands a line to its labels and fields', async () => {
    const api = server();
    renderPage(<LogsView live={live} range={{ spanMs: 3_600_000 }} />);
    await waitFor(() => expect(shown()).toHaveLength(5));
    await userEvent.click(screen.getAllByTestId('logs-facet').find((b) => b.dataset.term === 'level:error') as HTMLElement);
    expect((screen.getByTestId('logs-query') as HTMLInputElement).value).toBe('level:error');
    await userEvent.click(screen.getAllByTestId('logs-facet').find((b) => b.dataset.term === 'unit:nginx.service') as HTMLElement);
    await waitFor(() => expect(api.to('GET /api/logs').at(-1)?.query.get('q')).toBe('level:error unit:nginx.service'));
    const row = screen.getAllByTestId('log-line')[0] as HTMLElement;
    await userEvent.click(within(row).getByRole('button'));
    const detail = within(row).getByTestId('log-detail');
    expect(detail.textContent).toContain('unit=nginx.service');
    expect(detail.textContent).toContain('status=502');
    expect(detail.textContent).toContain('/var/log/nginx/error.log');
  });

  it("fixes a host's queries to its agent and shows a refusal at the typed query's position", async () => {
    const api = server();
    renderPage(<LogsView live={live} range={{ spanMs: 900_000 }} agentId="a-1" />);
    await waitFor(() => expect(shown()).toHaveLength(5));
    expect(api.to('GET /api/logs')[0]?.query.get('q')).toBe('agent:a-1');
    await userEvent.type(screen.getByTestId('logs-query'), 'error level>=loud{enter}');
    const refusal = await screen.findByTestId('logs-refusal');
    expect(api.to('GET /api/logs').at(-1)?.query.get('q')).toBe('agent:a-1 error level>=loud');
    // The server said position 17 of the sent query; the typed query has it at 7.
    expect(refusal.dataset.position).toBe('7');
    expect(refusal.textContent).toContain('position 7: unknown level "loud"');
    expect(screen.getByTestId('logs-query').getAttribute('aria-invalid')).toBe('true');
  });

  it('tails over the socket, holds new lines back while scrolled down, and resumes', async () => {
    server();
    renderPage(<LogsView live={live} range={{ spanMs: 3_600_000 }} agentId="a-1" />, { lang: 'zh' });
    await waitFor(() => expect(shown()).toHaveLength(5));
    await userEvent.click(screen.getByTestId('logs-tail'));
    expect(FakeSocket.last.sent.at(-1)).toEqual({ type: 'logs_tail', q: 'agent:a-1' });
    act(() => FakeSocket.last.receive({ type: 'logs', lines: [line(0, { id: 'new1', timeMs: NOW + 1000 })] }));
    expect(shown()[0]).toBe('new1');

    const list = screen.getByTestId('logs-lines');
    list.scrollTop = 300;
    fireEvent.scroll(list);
    act(() =>
      FakeSocket.last.receive({
        type: 'logs',
        lines: [line(0, { id: 'new2', timeMs: NOW + 2000 }), line(0, { id: 'new3', timeMs: NOW + 3000 })],
      }),
    );
    expect(shown()[0]).toBe('new1');
    const resume = screen.getByTestId('logs-resume');
    expect(resume.textContent).toBe('2 条新日志，继续');
    await userEvent.click(resume);
    expect(shown().slice(0, 3)).toEqual(['new3', 'new2', 'new1']);
    expect(screen.queryByTestId('logs-resume')).toBeNull();

    await userEvent.click(screen.getByTestId('logs-tail'));
    expect(FakeSocket.last.sent.at(-1)).toEqual({ type: 'logs_untail' });
  });

  it('says so when the tail query is refused over the socket', async () => {
    server();
    renderPage(<LogsView live={live} range={{ spanMs: 3_600_000 }} />);
    await waitFor(() => expect(shown()).toHaveLength(5));
    await userEvent.click(screen.getByTestId('logs-tail'));
    act(() =>
      FakeSocket.last.receive({
        type: 'error',
        error: { code: 'bad_query', message: 'logs_tail q: position 3: OR needs something after it' },
      }),
    );
    expect((await screen.findByTestId('logs-refusal')).dataset.position).toBe('3');
    expect((screen.getByTestId('logs-tail') as HTMLInputElement).checked).toBe(false);
  });
});

describe('the live tail on the page socket', () => {
  it('asks again after a reconnect, and a replaced tail does not stop its successor', async () => {
    vi.useFakeTimers();
    try {
      const got: string[] = [];
      const stopFirst = live.tailLogs('level>=warn', (ls) => got.push(...ls.map((l) => l.id)));
      live.tailLogs('host:web-1', (ls) => got.push(...ls.map((l) => `2:${l.id}`)));
      stopFirst();
      expect(FakeSocket.last.sent).toEqual([
        { type: 'logs_tail', q: 'level>=warn' },
        { type: 'logs_tail', q: 'host:web-1' },
      ]);
      FakeSocket.last.end();
      await vi.advanceTimersByTimeAsync(1000);
      FakeSocket.last.open();
      expect(FakeSocket.last.sent).toEqual([{ type: 'logs_tail', q: 'host:web-1' }]);
      FakeSocket.last.receive({ type: 'logs', lines: [line(1)] });
      expect(got).toEqual(['2:l1']);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('log query building', () => {
  it('quotes values that are not one plain run and does not add a term twice', () => {
    expect(addTerm('', 'level', 'error')).toBe('level:error');
    expect(addTerm('timeout level:error', 'level', 'error')).toBe('timeout level:error');
    expect(addTerm('x', 'container', 'my app')).toBe('x container:"my app"');
    expect(scopedQuery('', 'a-1')).toEqual({ q: 'agent:a-1', offset: 0 + 'agent:a-1 '.length });
    expect(queryRefusal('querystring q: position 12: unclosed quote', 10)).toEqual({ message: 'position 2: unclosed quote', position: 2 });
    expect(queryRefusal('500 Internal Server Error', 0)).toEqual({ message: '500 Internal Server Error' });
  });
});
