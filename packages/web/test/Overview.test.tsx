import type { Agent } from '@falconet/protocol/api';
import { act, fireEvent, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Overview } from '../src/overview/Overview.tsx';
import { AgentStore } from '../src/overview/store.ts';
import { agent } from './agents.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const FLEET = [
  agent('a1', { hostname: 'web-2', labels: { role: 'web' }, summary: { falconet_cpu_usage_percent: 35 } }),
  agent('a2', { hostname: 'db-1', labels: { role: 'db' }, status: 'offline', summary: { falconet_cpu_usage_percent: 5 } }),
  agent('a3', { hostname: 'web-1', labels: { role: 'web' }, ips: ['192.168.7.3'], summary: { falconet_cpu_usage_percent: 90 } }),
  agent('a4', { hostname: 'cache', summary: { falconet_cpu_usage_percent: 60 } }),
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

function show(agents: Agent[] = FLEET) {
  const store = new AgentStore();
  store.load(agents);
  const onOpen = vi.fn();
  renderPage(<Overview store={store} onOpen={onOpen} />);
  return { store, onOpen };
}

/** Host names in the order the list shows them, group headings as `[key=value]`. */
const shown = () =>
  [...screen.getByTestId('agent-list').children].map((el) =>
    el.getAttribute('data-testid') === 'group-row'
      ? `[${el.querySelector('strong')?.textContent}]`
      : (el.querySelector('a')?.textContent ?? ''),
  );

describe('Overview', () => {
  it('lists every agent by host name, says how many it shows, and opens one on a click', async () => {
    const { onOpen } = show();
    expect(shown()).toEqual(['cache', 'db-1', 'web-1', 'web-2']);
    expect(screen.getByTestId('agent-count').textContent).toBe('4 of 4 agents');
    await userEvent.click(screen.getByRole('link', { name: 'web-1' }));
    expect(onOpen).toHaveBeenCalledWith('a3');
  });

  it('filters by search text (host, id or IP), status and label, and says when nothing matches', async () => {
    show();
    const search = screen.getByRole('searchbox', { name: 'Search host, id or IP' });
    await userEvent.type(search, 'web');
    expect(await screen.findByText('2 of 4 agents')).toBeTruthy();
    expect(shown()).toEqual(['web-1', 'web-2']);

    await userEvent.clear(search);
    await userEvent.type(search, '192.168.7');
    expect(await screen.findByText('1 of 4 agents')).toBeTruthy();
    expect(shown()).toEqual(['web-1']);

    await userEvent.clear(search);
    await userEvent.selectOptions(screen.getByTestId('filter-status'), 'offline');
    expect(shown()).toEqual(['db-1']);

    await userEvent.selectOptions(screen.getByTestId('filter-label'), 'role=web');
    expect(shown()).toEqual([]);
    expect(screen.getByText('No agent matches these filters.')).toBeTruthy();
  });

  it('sorts by a live value, ascending or descending', async () => {
    show();
    await userEvent.selectOptions(screen.getByTestId('sort'), 'cpu');
    expect(shown()).toEqual(['db-1', 'web-2', 'cache', 'web-1']);
    await userEvent.click(screen.getByTestId('sort-desc'));
    expect(shown()).toEqual(['web-1', 'cache', 'web-2', 'db-1']);
  });

  it('groups by a label, the agents without it last, each heading with how many are online', async () => {
    show();
    await userEvent.selectOptions(screen.getByTestId('group-by'), 'role');
    expect(shown()).toEqual(['[role=db]', 'db-1', '[role=web]', 'web-1', 'web-2', '[role=(no value)]', 'cache']);
    const db = screen.getAllByTestId('group-row')[0] as HTMLElement;
    expect(within(db).getByText('0/1 online')).toBeTruthy();
  });

  it('says there are no agents yet, and how to start one', () => {
    show([]);
    expect(screen.getByText(/No agents yet/)).toBeTruthy();
    expect(screen.getByText('falconet-agent run --server 127.0.0.1:7071')).toBeTruthy();
  });

  it('paints live values into a row, and a snapshot fetched again after a reconnect too', () => {
    vi.useFakeTimers({ toFake: ['requestAnimationFrame', 'cancelAnimationFrame'] });
    const { store } = show([agent('a1', { hostname: 'web-1', summary: { falconet_cpu_usage_percent: 12 } })]);
    const row = () => screen.getByTestId('agent-row');
    expect(within(row()).getByTestId('cpu').textContent).toBe('12.0%');

    act(() => {
      store.upsert(agent('a1', { hostname: 'web-1', lastSeenMs: 1_700_000_610_000, summary: { falconet_cpu_usage_percent: 47.25 } }));
      vi.advanceTimersToNextFrame();
    });
    expect(within(row()).getByTestId('cpu').textContent).toBe('47.3%');

    // While the socket was down the agent went offline; the list read again says so.
    act(() => {
      store.load([
        agent('a1', {
          hostname: 'web-1',
          status: 'offline',
          lastSeenMs: 1_700_000_610_000,
          summary: { falconet_cpu_usage_percent: 47.25 },
        }),
      ]);
      vi.advanceTimersToNextFrame();
    });
    expect(row().dataset.status).toBe('offline');
    expect(within(row()).getByText('offline')).toBeTruthy();
  });

  it('shows why the agents could not be loaded, and keeps the search text for the session', () => {
    const store = new AgentStore();
    renderPage(<Overview store={store} onOpen={() => undefined} error={new Error('503 Service Unavailable')} />);
    expect(screen.getByRole('alert').textContent).toBe('Could not load agents: 503 Service Unavailable');
    expect(screen.getByText('Loading…')).toBeTruthy();
    fireEvent.change(screen.getByTestId('agent-search'), { target: { value: 'x' } });
    expect(sessionStorage.getItem('falconet.overview.q')).toBe('x');
  });
});
