import type { Alert, AlertRule, Task } from '@falconet/protocol/api';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlertsPage } from '../src/alerts/AlertsPage.tsx';
import { LiveConnection } from '../src/live.ts';
import { RecordsTable } from '../src/RecordsTable.tsx';
import { TasksPage } from '../src/tasks/TasksPage.tsx';
import { agent } from './agents.ts';
import { FakeSocket } from './fake-socket.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';
import { run, task } from './tasks.ts';

const NOW = 1_700_000_000_000;

/** The text of each body row's cells, as a reader scans the table. */
const rows = (table: HTMLElement) =>
  [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? ''));

describe('RecordsTable', () => {
  it('writes translated headings, none over a button column, a row per item, and what comes after', () => {
    renderPage(
      <RecordsTable
        className="t"
        columns={['tasks.col.command', 'tasks.col.status', '']}
        items={[
          { id: '1', cmd: 'uptime', st: 'done' },
          { id: '2', cmd: 'df -h', st: 'failed' },
        ]}
        row={(r) => (
          <tr key={r.id}>
            <td>{r.cmd}</td>
            <td>{r.st}</td>
            <td>
              <button type="button">x</button>
            </td>
          </tr>
        )}
        after={
          <tr>
            <td>end</td>
          </tr>
        }
      />,
      { lang: 'zh' },
    );
    const table = screen.getByRole('table');
    expect(
      within(table)
        .getAllByRole('columnheader')
        .map((th) => th.textContent),
    ).toEqual(['命令', '状态', '']);
    expect(rows(table)).toEqual([['uptime', 'done', 'x'], ['df -h', 'failed', 'x'], ['end']]);
  });

  it('has a heading row and nothing else for no items', () => {
    renderPage(<RecordsTable className="t" columns={['alerts.col.name']} items={[]} row={() => null} />);
    expect(screen.getByRole('columnheader').textContent).toBe('Name');
    expect(rows(screen.getByRole('table'))).toEqual([]);
  });
});

const alert = (over: Partial<Alert>): Alert => ({
  fingerprint: over.rule ?? 'f',
  ruleId: 'r1',
  rule: 'cpu-high',
  kind: 'threshold',
  severity: 'warning',
  state: 'firing',
  labels: {},
  series: 'falconet_cpu_usage_percent{}',
  host: 'web-1',
  agent: 'a1',
  value: 93.456789,
  activeSinceMs: NOW - 120_000,
  firedAtMs: NOW - 60_000,
  notifiedMs: 0,
  lastEvalMs: NOW - 10_000,
  silencedBy: [],
  ...over,
});

describe('AlertsPage', () => {
  beforeEach(() => {
    history.replaceState(null, '', '/alerts');
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
  });

  const showAlerts = () => renderPage(<AlertsPage />);

  it('lists what fires and what is pending, with a count of each', async () => {
    stubFetch({
      'GET /api/alerts': {
        body: {
          items: [
            alert({ fingerprint: 'f1', rule: 'cpu-high', host: 'web-1' }),
            alert({ fingerprint: 'f2', rule: 'disk-full', host: 'db-1', state: 'pending', value: 3, firedAtMs: 0, silencedBy: ['s1'] }),
          ],
          total: 2,
        },
      },
    });
    showAlerts();
    expect(await screen.findByText('1 firing, 1 pending')).toBeTruthy();
    expect(rows(screen.getByRole('table'))).toEqual([
      ['firing', 'cpu-high', 'web-1', 'falconet_cpu_usage_percent{}', '93.46', '1m ago', 'Silence 1h'],
      // A pending alert has not fired: its age is from when it became active. A silenced one has no button.
      ['pendingsilenced', 'disk-full', 'db-1', 'falconet_cpu_usage_percent{}', '3', '2m ago', ''],
    ]);
  });

  it('silences an alert for an hour on a click, with its CSRF token, and reads the list again', async () => {
    let firing = [alert({ fingerprint: 'f1' })];
    const server = stubFetch({
      'GET /api/alerts': () => ({ body: { items: firing, total: firing.length } }),
      'GET /api/auth/session': { body: { mode: 'signed-in', csrfToken: 'tok' } },
      'POST /api/alerts/silences': () => {
        firing = [];
        return { status: 201, body: {} };
      },
    });
    showAlerts();
    await userEvent.click(await screen.findByRole('button', { name: 'Silence 1h' }));
    expect(await screen.findByText('Nothing firing.')).toBeTruthy();
    const [post] = server.to('POST /api/alerts/silences');
    expect(post?.body).toEqual({
      matchers: { alertname: 'cpu-high', host: 'web-1' },
      duration: '1h',
      comment: 'silenced from the dashboard: cpu-high on web-1',
    });
    expect(post?.headers['x-falconet-csrf']).toBe('tok');
    expect(server.to('GET /api/alerts')).toHaveLength(2);
  });

  it("shows the server's reason when it will not silence", async () => {
    stubFetch({
      'GET /api/alerts': { body: { items: [alert({})], total: 1 } },
      'GET /api/auth/session': { body: { csrfToken: null } },
      'POST /api/alerts/silences': { status: 403, body: { error: { message: 'operator role required' } } },
    });
    showAlerts();
    await userEvent.click(await screen.findByRole('button', { name: 'Silence 1h' }));
    expect((await screen.findByRole('alert')).textContent).toBe('operator role required');
  });

  it('opens the rules tab, remembers it in the address, and deletes an API rule once confirmed', async () => {
    const rule = (over: Partial<AlertRule>): AlertRule =>
      ({
        id: 'r1',
        name: 'cpu-high',
        kind: 'threshold',
        metric: 'falconet_cpu_usage_percent',
        aggregation: 'avg',
        window: '5m',
        op: '>',
        threshold: 90,
        severity: 'critical',
        channels: ['ops'],
        source: 'api',
        createdBy: 'alice',
        createdMs: NOW,
        updatedMs: NOW,
        pending: 0,
        firing: 2,
        ...over,
      }) as AlertRule;
    const server = stubFetch({
      'GET /api/alerts': { body: { items: [], total: 0 } },
      'GET /api/alerts/rules': {
        body: { items: [rule({}), rule({ id: 'r2', name: 'offline', kind: 'agent_offline', source: 'file', firing: 0 })] },
      },
      'GET /api/alerts/channels': { body: { items: [] } },
      'GET /api/auth/session': { body: { csrfToken: null } },
      'DELETE /api/alerts/rules/r1': { status: 204 },
    });
    const confirm = vi.fn(() => true);
    vi.stubGlobal('confirm', confirm);
    showAlerts();
    await userEvent.click(screen.getByTestId('alerts-tab-rules'));
    expect(location.hash).toBe('#rules');
    const table = await screen.findByRole('table');
    await waitFor(() => expect(rows(table)).toHaveLength(2));
    expect(rows(table)[0]?.slice(0, 6)).toEqual([
      'cpu-high',
      'avg(falconet_cpu_usage_percent[5m]) > 90 %',
      '0',
      'critical',
      'ops',
      '2 firing',
    ]);
    expect(rows(table)[1]?.at(-1)).toBe('edit the rules file');

    await userEvent.click(within(table).getByRole('button', { name: 'Delete' }));
    expect(confirm).toHaveBeenCalledWith('Delete rule "cpu-high"? Its firing alerts resolve.');
    await waitFor(() => expect(server.to('DELETE /api/alerts/rules/r1')).toHaveLength(1));
  });

  it('deletes nothing when the confirmation is declined', async () => {
    const server = stubFetch({
      'GET /api/alerts': { body: { items: [], total: 0 } },
      'GET /api/alerts/rules': {
        body: { items: [{ id: 'r1', name: 'x', kind: 'agent_offline', source: 'api', pending: 0, firing: 0 }] },
      },
      'GET /api/alerts/channels': { body: { items: [] } },
    });
    vi.stubGlobal('confirm', () => false);
    history.replaceState(null, '', '/alerts#rules');
    showAlerts();
    await userEvent.click(await screen.findByRole('button', { name: 'Delete' }));
    expect(server.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  });
});

describe('TasksPage', () => {
  /** The page's connection, as App makes it; the Tasks page is handed it and opens none of its own. */
  let live: LiveConnection;
  beforeEach(() => {
    FakeSocket.made = [];
    vi.stubGlobal('WebSocket', FakeSocket);
    live = new LiveConnection('ws://falconet.test/api/live');
  });
  afterEach(() => live.close());

  function tasksServer(tasks: () => Task[]) {
    return stubFetch({
      'GET /api/tasks': () => ({ body: { items: tasks(), total: tasks().length } }),
      'GET /api/tasks/agents': { body: { backend: 'stream', items: [] } },
      'GET /api/tasks/audit': { body: { items: [], total: 0 } },
      'GET /api/auth/session': { body: { csrfToken: 'tok' } },
      'GET /api/agents': { body: { items: FLEET, total: FLEET.length } },
      'POST /api/tasks': (c) => ({ status: 201, body: { task: task({ id: 'new-1', command: (c.body as Task).command }), runs: [] } }),
    });
  }

  /** Three hosts: two trusted as role=web (one in zone a), a database host whose own claim to role=web is not trusted. */
  const FLEET = [
    agent('id-web-1', { hostname: 'web-1', trustedLabels: { role: 'web', zone: 'a' } }),
    agent('id-web-2', { hostname: 'web-2', trustedLabels: { role: 'web' }, ips: ['10.0.0.2'] }),
    agent('id-db-1', { hostname: 'db-1', labels: { role: 'web' }, ips: ['10.0.0.3'], status: 'offline' }),
  ];

  function showTasks(go = vi.fn()) {
    renderPage(<TasksPage path="/tasks" go={go} live={live} />);
    return go;
  }

  it('lists recent tasks with their command, kind, agents, status and author, and opens one on a click', async () => {
    tasksServer(() => [
      task({ id: 't1', args: ['-a', 'two words'] }),
      task({ id: 't2', kind: 'cron', command: 'df', schedule: '*/5 * * * *', timezone: 'Europe/Berlin', status: 'active' }),
    ]);
    const go = showTasks();
    const table = (await screen.findAllByRole('table'))[0] as HTMLElement;
    await waitFor(() => expect(rows(table)).toHaveLength(2));
    expect(rows(table).map((r) => r.slice(0, 5))).toEqual([
      ['/usr/bin/uptime -a "two words"', 'run now', '2', 'done', 'alice'],
      ['df', 'cron */5 * * * * (Europe/Berlin)', '2', 'active', 'alice'],
    ]);
    await userEvent.click(within(table).getByRole('link', { name: 'df' }));
    expect(go).toHaveBeenCalledWith('/tasks/t2');
  });

  it('runs a new task on the agents with the labels picked from a search, one argument per line, and opens it', async () => {
    const server = tasksServer(() => []);
    const go = showTasks();
    const form = screen.getByRole('form', { name: 'New task' });
    await userEvent.type(within(form).getByLabelText('Command'), '/bin/echo');
    await userEvent.type(within(form).getByLabelText('Arguments, one per line'), 'hello world{Enter}  second');
    const search = within(form).getByRole('combobox', { name: 'Search host names and labels' });
    await userEvent.type(search, 'role');
    // Only trusted labels are offered, with how many agents carry each: db-1's own claim is not one.
    const offered = within(form).getAllByRole('option');
    expect(offered.map((o) => o.textContent)).toEqual(['role=web2 agents']);
    await userEvent.click(offered[0] as HTMLElement);
    expect(within(form).getByTestId('agent-targets').textContent).toBe('Runs on 2 agents: web-1, web-2');
    await userEvent.type(search, 'zone');
    await userEvent.click(within(form).getByRole('option', { name: /zone=a/ }));
    expect(
      within(form)
        .getAllByTestId('chosen-label')
        .map((c) => c.textContent),
    ).toEqual(['role=web✕', 'zone=a✕']);
    expect(within(form).getByTestId('agent-targets').textContent).toBe('Runs on 1 agent: web-1');
    await userEvent.click(within(form).getByRole('button', { name: 'Run' }));
    await waitFor(() => expect(go).toHaveBeenCalledWith('/tasks/new-1'));
    const [post] = server.to('POST /api/tasks');
    expect(post?.body).toEqual({
      command: '/bin/echo',
      args: ['hello world', '  second'],
      labels: { role: 'web', zone: 'a' },
      schedule: '',
      timezone: '',
      timeoutMs: 0,
    });
    expect(post?.headers['x-falconet-csrf']).toBe('tok');
  });

  it('schedules on hosts picked by name, address or keyboard, and removes a pick with its button', async () => {
    const server = tasksServer(() => []);
    showTasks();
    const form = screen.getByRole('form', { name: 'New task' });
    await userEvent.type(within(form).getByLabelText('Command'), 'df');
    const search = within(form).getByRole('combobox', { name: 'Search host names and labels' });
    await userEvent.type(search, 'db');
    const db = within(form).getByRole('option', { name: /db-1/ });
    expect(db.textContent).toContain('offline');
    await userEvent.click(db);
    // By address, then by keyboard: the first match is active, Enter takes it.
    await userEvent.type(search, '10.0.0.2');
    expect(
      within(form)
        .getAllByRole('option')
        .map((o) => o.textContent?.slice(0, 5)),
    ).toEqual(['web-2']);
    await userEvent.keyboard('{Enter}');
    await userEvent.type(search, 'web-1');
    await userEvent.keyboard('{Enter}');
    expect(
      within(form)
        .getAllByTestId('chosen-host')
        .map((c) => c.textContent),
    ).toEqual(['db-1✕', 'web-2✕', 'web-1✕']);
    await userEvent.click(within(form).getByRole('button', { name: 'Remove web-2' }));
    await userEvent.type(within(form).getByLabelText('Cron schedule (empty: run now)'), '0 3 * * *');
    await userEvent.type(within(form).getByLabelText('Timeout, s'), '90');
    await userEvent.click(within(form).getByRole('button', { name: 'Schedule' }));
    await waitFor(() => expect(server.to('POST /api/tasks')).toHaveLength(1));
    expect(server.to('POST /api/tasks')[0]?.body).toMatchObject({
      agents: ['id-db-1', 'id-web-1'],
      schedule: '0 3 * * *',
      timeoutMs: 90_000,
    });
  });

  it('sends hosts and labels together as the agents both choose, and nothing while nobody is chosen', async () => {
    const server = tasksServer(() => []);
    showTasks();
    const form = screen.getByRole('form', { name: 'New task' });
    await userEvent.type(within(form).getByLabelText('Command'), 'df');
    expect((within(form).getByRole('button', { name: 'Run' }) as HTMLButtonElement).disabled).toBe(true);
    const search = within(form).getByRole('combobox', { name: 'Search host names and labels' });
    await userEvent.type(search, 'nothing-like-it');
    expect(within(form).getByRole('listbox').textContent).toBe('Nothing matches "nothing-like-it".');
    await userEvent.clear(search);
    await userEvent.type(search, 'zone=a');
    await userEvent.keyboard('{Enter}');
    await userEvent.type(search, 'db-1');
    await userEvent.keyboard('{Enter}');
    await userEvent.click(within(form).getByRole('button', { name: 'Run' }));
    await waitFor(() => expect(server.to('POST /api/tasks')).toHaveLength(1));
    expect(server.to('POST /api/tasks')[0]?.body).toMatchObject({ agents: ['id-db-1', 'id-web-1'] });
    expect(server.to('POST /api/tasks')[0]?.body).not.toHaveProperty('labels');
  });

  it('shows a refused run as refused with its reason, and failed, timed-out and undeliverable runs apart, none as a success', async () => {
    stubFetch({
      'GET /api/tasks/t1': {
        body: {
          task: task({ id: 't1', status: 'done', agentIds: ['a1', 'a2', 'a3', 'a4', 'a5'] }),
          runs: [
            run({ agentId: 'a1', status: 'refused', message: 'command not allowed: /bin/rm', endedMs: NOW + 1 }),
            run({ agentId: 'a2', status: 'failed', exitCode: 2, endedMs: NOW + 1, startedMs: NOW - 1 }),
            run({
              agentId: 'a3',
              status: 'timeout',
              reason: 'timeout',
              message: 'killed after 30 s',
              endedMs: NOW + 1,
              startedMs: NOW - 2,
            }),
            run({
              agentId: 'a4',
              status: 'undeliverable',
              reason: 'offline',
              message: 'the agent was offline',
              endedMs: NOW,
              startedMs: NOW - 3,
            }),
            run({ agentId: 'a5', status: 'succeeded', exitCode: 0, endedMs: NOW + 1, startedMs: NOW - 4 }),
          ],
          totalRuns: 5,
        },
      },
      'GET /api/tasks/t1/runs/a1/r1/output': { body: { run: run(), output: [] } },
      'GET /api/tasks/t1/runs/a2/r1/output': { body: { run: run(), output: [] } },
      'GET /api/tasks/t1/runs/a3/r1/output': { body: { run: run(), output: [] } },
      'GET /api/tasks/t1/runs/a4/r1/output': { body: { run: run(), output: [] } },
      'GET /api/tasks/t1/runs/a5/r1/output': { body: { run: run(), output: [] } },
      'GET /api/tasks/audit': { body: { items: [], total: 0 } },
      'GET /api/agents': { body: { items: [], total: 0 } },
    });
    renderPage(<TasksPage path="/tasks/t1" go={() => undefined} live={live} />);
    await waitFor(() => expect(screen.getAllByTestId('run')).toHaveLength(5));
    const panel = (agentId: string) => screen.getAllByTestId('run').find((r) => r.dataset.agentId === agentId) as HTMLElement;
    const refused = panel('a1');
    expect(within(refused).getByTestId('run-status').textContent).toBe('refused');
    expect(within(refused).getByTestId('run-status').className).toBe('run-status refused');
    expect(within(refused).getByTestId('run-reason').textContent).toBe('Reason: command not allowed: /bin/rm');
    expect(within(panel('a3')).getByTestId('run-reason').textContent).toBe('Reason: killed after 30 s');
    expect(within(panel('a4')).getByTestId('run-reason').textContent).toBe('Reason: the agent was offline');
    expect(within(panel('a5')).queryByTestId('run-reason')).toBeNull();
    // Each outcome has its own colour class; only a success is green.
    const classes = ['a1', 'a2', 'a3', 'a4', 'a5'].map((a) => within(panel(a)).getByTestId('run-status').className);
    expect(new Set(classes).size).toBe(5);
    const summary = screen.getByTestId('run-summary');
    expect([...summary.querySelectorAll('[data-status]')].map((e) => e.textContent)).toEqual([
      '1 refused',
      '1 failed',
      '1 timeout',
      '1 undeliverable',
      '1 succeeded',
    ]);
  });

  it("reads the list again when the page's live feed says a task changed, and opens no socket of its own", async () => {
    let tasks = [task({ id: 't1', status: 'active' })];
    const server = tasksServer(() => tasks);
    live.connect();
    act(() => FakeSocket.last.open());
    const view = renderPage(<TasksPage path="/tasks" go={() => undefined} live={live} />);
    expect(await screen.findByText('active')).toBeTruthy();
    tasks = [task({ id: 't1', status: 'done' })];
    act(() => FakeSocket.last.receive({ type: 'task', task: tasks[0] }));
    expect(await screen.findByText('done')).toBeTruthy();
    expect(server.to('GET /api/tasks')).toHaveLength(2);
    view.unmount();
    // The one socket is the page's: made by connect(), still open when the Tasks page is left.
    expect(FakeSocket.made).toHaveLength(1);
    expect(FakeSocket.last.readyState).toBe(FakeSocket.OPEN);
  });

  it("follows a task's runs and output over the page's socket, reads it again after a reconnect, and lets go when left", async () => {
    const server = stubFetch({
      'GET /api/tasks/t1': { body: { task: task({ id: 't1', status: 'active' }), runs: [run()], totalRuns: 1 } },
      'GET /api/tasks/audit': { body: { items: [], total: 0 } },
      'GET /api/agents': { body: { items: [], total: 0 } },
    });
    live.connect();
    act(() => FakeSocket.last.open());
    const socket = FakeSocket.last;
    const view = renderPage(<TasksPage path="/tasks/t1" go={() => undefined} live={live} />);
    expect(await screen.findByTestId('run')).toBeTruthy();
    expect(socket.sent).toEqual([{ type: 'subscribe_task', taskId: 't1' }]);

    act(() =>
      socket.receive({
        type: 'task_output',
        taskId: 't1',
        agentId: 'a1',
        runId: 'r1',
        seq: 1,
        stream: 'stdout',
        data: 'hello\n',
        exitCode: 0,
        reason: '',
        timeMs: NOW,
      }),
    );
    expect((await screen.findByTestId('run-output')).textContent).toBe('hello\n');

    // A reconnect without the backoff's wait: the page's connection let go of and made again.
    act(() => {
      live.close();
      live.connect();
      FakeSocket.last.open();
    });
    expect(FakeSocket.last.sent).toEqual([{ type: 'subscribe_task', taskId: 't1' }]);
    await waitFor(() => expect(server.to('GET /api/tasks/t1')).toHaveLength(2));

    view.unmount();
    expect(FakeSocket.last.sent.at(-1)).toEqual({ type: 'unsubscribe_task', taskId: 't1' });
    expect(FakeSocket.last.readyState).toBe(FakeSocket.OPEN);
  });
});
