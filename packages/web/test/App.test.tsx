import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { StrictMode } from 'react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/App.tsx';
import { I18nProvider, LANG_KEY } from '../src/i18n.tsx';
import { FakeSocket } from './fake-socket.ts';
import { stubFetch } from './fetch-stub.ts';
import { run, task } from './tasks.ts';

/** The page as main.tsx renders it, StrictMode at the root (the tests run React's development build), without the sign-in gate. */
function showPage(path: string) {
  history.replaceState(null, '', path);
  const server = stubFetch({
    'GET /api/agents': { body: { items: [], total: 0 } },
    'GET /api/metrics/aggregate': { body: { groups: [] } },
    'GET /api/tasks': { body: { items: [task({ status: 'active' })], total: 1 } },
    'GET /api/tasks/agents': { body: { backend: 'stream', items: [] } },
    'GET /api/tasks/audit': { body: { items: [], total: 0 } },
    'GET /api/tasks/t1': { body: { task: task({ status: 'active' }), runs: [], totalRuns: 0 } },
  });
  localStorage.setItem(LANG_KEY, 'en');
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const view = render(
    <StrictMode>
      <QueryClientProvider client={client}>
        <I18nProvider>
          <App />
        </I18nProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
  return { server, view };
}

/** The sockets nobody let go of: those not closed and not closing. */
const kept = () => FakeSocket.made.filter((s) => s.readyState < FakeSocket.CLOSING);

describe('the page keeps one socket to /api/live', () => {
  beforeEach(() => {
    FakeSocket.made = [];
    vi.stubGlobal('WebSocket', FakeSocket);
  });

  it("keeps one socket under StrictMode's mount, unmount and mount, and the one let go of stays quiet when its close is done", async () => {
    showPage('/tasks');
    expect(await screen.findByText('/usr/bin/uptime')).toBeTruthy();
    // Development React runs the effects twice: the first mount's socket was let go of.
    expect(FakeSocket.made).toHaveLength(2);
    expect(kept()).toHaveLength(1);
    const page = kept()[0] as FakeSocket;
    act(() => page.open());
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    for (const s of FakeSocket.made) if (s !== page) act(() => s.end());
    vi.advanceTimersByTime(60_000);
    expect(kept()).toEqual([page]);
    expect(screen.getByTestId('live-status').dataset.live).toBe('on');
  });

  it("serves the Tasks page and a task's page over the page's socket: the task followed, then let go", async () => {
    showPage('/tasks');
    const table = (await screen.findAllByRole('table'))[0] as HTMLElement;
    const page = kept()[0] as FakeSocket;
    act(() => page.open());
    const made = FakeSocket.made.length;

    await userEvent.click(await within(table).findByRole('link', { name: '/usr/bin/uptime' }));
    expect(location.pathname).toBe('/tasks/t1');
    // StrictMode mounts the task's view twice, so it subscribes, lets go and subscribes: what counts is where it ends.
    await waitFor(() => expect(page.sent.at(-1)).toEqual({ type: 'subscribe_task', taskId: 't1' }));
    act(() => page.receive({ type: 'task_run', run: run() }));
    expect((await screen.findByTestId('run')).dataset.status).toBe('running');

    await userEvent.click(screen.getByRole('link', { name: '← Tasks' }));
    expect(page.sent.at(-1)).toEqual({ type: 'unsubscribe_task', taskId: 't1' });
    expect(FakeSocket.made).toHaveLength(made);
    expect(kept()).toEqual([page]);
  });

  it('closes its socket when the page goes, and opens no other', async () => {
    const { view } = showPage('/tasks');
    expect(await screen.findByText('/usr/bin/uptime')).toBeTruthy();
    const page = kept()[0] as FakeSocket;
    act(() => page.open());
    const made = FakeSocket.made.length;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    view.unmount();
    expect(page.readyState).toBe(FakeSocket.CLOSING);
    page.end();
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.made).toHaveLength(made);
    expect(kept()).toEqual([]);
  });
});

describe('the address carries the view', () => {
  beforeEach(() => {
    FakeSocket.made = [];
    vi.stubGlobal('WebSocket', FakeSocket);
  });

  it('leaves the heatmap for the table when Overview is clicked, as Back would', async () => {
    showPage('/?view=heatmap');
    expect((await screen.findByTestId('view-heatmap')).getAttribute('aria-pressed')).toBe('true');
    await userEvent.click(screen.getByTestId('nav-overview'));
    expect(location.search).toBe('');
    await waitFor(() => expect(screen.getByTestId('view-table').getAttribute('aria-pressed')).toBe('true'));
  });
});
