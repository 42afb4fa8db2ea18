import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AuthGate } from '../src/auth/AuthGate.tsx';
import { ForgetAgent } from '../src/host/ForgetAgent.tsx';
import { LiveConnection } from '../src/live.ts';
import { AgentStore } from '../src/overview/store.ts';
import { agent } from './agents.ts';
import { FakeSocket } from './fake-socket.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const session = (role: string) => ({ mode: 'signed-in', user: { name: 'alice', role, kind: 'session' }, csrfToken: 'c1', expiresMs: null });
const OFFLINE = agent('a-1', { hostname: 'web-1', status: 'offline', connected: false });

/** The control for `who`, signed in as `role`, the server answering `routes` besides the session. */
function mount(role: string, routes: Parameters<typeof stubFetch>[0] = {}, who = OFFLINE, lang: 'en' | 'zh' = 'en') {
  const server = stubFetch({ 'GET /api/auth/session': { body: session(role) }, ...routes });
  const store = new AgentStore();
  store.load([who, agent('a-2', { hostname: 'web-2' })]);
  const go = vi.fn();
  renderPage(
    <AuthGate>
      <ForgetAgent agent={who} store={store} go={go} />
    </AuthGate>,
    { lang },
  );
  return { server, store, go };
}

beforeEach(() => {
  history.replaceState(null, '', '/agents/a-1');
});

describe('Forget this host', () => {
  it('asks in a dialog naming the host, sends the choice, drops the host and goes back to the overview', async () => {
    const { server, store, go } = mount('admin', {
      'DELETE /api/agents/a-1': {
        body: { agentId: 'a-1', hostname: 'web-1', data: 'drop', droppedSeries: 3, alertsRemoved: 0, revokedTokens: [] },
      },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Forget this host…' }));
    const dialog = screen.getByRole('dialog', { name: 'Forget web-1?' });
    expect((within(dialog).getByLabelText(/Keep them/) as HTMLInputElement).checked).toBe(true);
    await userEvent.click(within(dialog).getByLabelText('Delete them for good'));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Forget web-1' }));
    await waitFor(() => expect(go).toHaveBeenCalledWith('/'));
    expect(server.to('DELETE /api/agents/a-1').map((c) => [c.query.get('data'), c.headers['x-falconet-csrf']])).toEqual([['drop', 'c1']]);
    expect(store.get('a-1')).toBeUndefined();
    expect(store.get('a-2')).toBeDefined();
  });

  it("keeps the data unless told otherwise, shows the server's refusal in the dialog, and Escape closes it", async () => {
    const { server, store, go } = mount('admin', {
      'DELETE /api/agents/a-1': {
        status: 409,
        body: { error: { code: 'agent_connected', message: 'agent "a-1" (web-1) is connected: stop the agent on that host first' } },
      },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Forget this host…' }));
    await userEvent.click(screen.getByRole('button', { name: 'Forget web-1' }));
    expect(await screen.findByRole('alert')).toHaveProperty(
      'textContent',
      'Could not forget the host: agent "a-1" (web-1) is connected: stop the agent on that host first',
    );
    expect(server.to('DELETE /api/agents/a-1').map((c) => c.query.get('data'))).toEqual(['keep']);
    expect(go).not.toHaveBeenCalled();
    expect(store.get('a-1')).toBeDefined();
    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('is disabled with the reason for an operator, and for an admin while the agent is connected', async () => {
    mount('operator');
    expect(((await screen.findByRole('button', { name: 'Forget this host…' })) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId('forget-reason').textContent).toBe('Only an admin can forget a host');
  });

  it('tells an admin to stop a connected agent first, in Chinese too', async () => {
    mount('admin', {}, agent('a-1', { hostname: 'web-1' }), 'zh');
    expect(((await screen.findByRole('button', { name: '移除此主机…' })) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId('forget-reason').textContent).toBe('仍在连接：请先停止 web-1 上的代理，再移除');
  });

  it('becomes available once the agent disconnects, without the page reloading', async () => {
    const online = agent('a-1', { hostname: 'web-1' });
    const { store } = mount('admin', {}, online);
    const button = (await screen.findByRole('button', { name: 'Forget this host…' })) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    // Silent first (offline, stream still open), then the stream closes: only `connected` changes.
    store.upsert({ ...online, status: 'offline', lastSeenMs: online.lastSeenMs + 1 });
    store.upsert({ ...online, status: 'offline', connected: false, lastSeenMs: online.lastSeenMs + 2 });
    await waitFor(() => expect(button.disabled).toBe(false));
    expect(screen.queryByTestId('forget-reason')).toBeNull();
  });

  it('an agent_removed message from the server tells the listeners, which drop the host from the list', () => {
    FakeSocket.made = [];
    vi.stubGlobal('WebSocket', FakeSocket);
    const live = new LiveConnection('ws://falconet.test/api/live');
    const store = new AgentStore();
    store.load([agent('a-1'), agent('a-2')]);
    const off = live.onAgentRemoved((id) => store.remove(id));
    const close = live.connect();
    const socket = FakeSocket.made[0] as FakeSocket;
    socket.open();
    socket.receive({ type: 'agent_removed', agentId: 'a-1' });
    expect([...store.agents.keys()]).toEqual(['a-2']);
    off();
    socket.receive({ type: 'agent_removed', agentId: 'a-2' });
    expect([...store.agents.keys()]).toEqual(['a-2']);
    close();
  });
});
