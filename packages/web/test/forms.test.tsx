/**
 * The shell on every page (settings included), page titles, the one button and form style, and
 * the alert editor's forms: metric picker, label filter rows, preview with units, channel
 * settings built from a channel type's schema.
 */
import type { AlertChannel, ChannelKind, RulePreview } from '@falconet/protocol/api';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/App.tsx';
import { AlertsPage } from '../src/alerts/AlertsPage.tsx';
import { ChannelEditor } from '../src/alerts/ChannelEditor.tsx';
import { filtersOf } from '../src/alerts/LabelFilters.tsx';
import { suggest } from '../src/alerts/MetricPicker.tsx';
import { formatValue, unitOfRule } from '../src/alerts/units.ts';
import { AuthGate } from '../src/auth/AuthGate.tsx';
import { Button } from '../src/ui/Button.tsx';
import { Field } from '../src/ui/Field.tsx';
import { agent } from './agents.ts';
import { FakeSocket } from './fake-socket.ts';
import { type StubReply, stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

// The host page's charts need a canvas happy-dom has not; the shell's title is what is tested here.
vi.mock('../src/host/HostPage.tsx', () => ({ HostPage: () => <p>host page</p> }));

const SIGNED_IN = { mode: 'signed-in', user: { name: 'alice', role: 'admin', kind: 'session' }, csrfToken: 'c1', expiresMs: null };
const NAMES = [
  'falconet_cpu_usage_percent',
  'falconet_memory_used_bytes',
  'node_filesystem_avail_bytes',
  'node_network_receive_bytes_total',
];

beforeEach(() => {
  FakeSocket.made = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  document.title = '';
});

function shell(path: string, lang: 'en' | 'zh' = 'en', more: Record<string, StubReply> = {}) {
  history.replaceState(null, '', path);
  const server = stubFetch({
    'GET /api/auth/session': { body: SIGNED_IN },
    'GET /api/agents': { body: { items: [agent('a1', { hostname: 'web-1' })], total: 1 } },
    'GET /api/agents/a1': { body: agent('a1', { hostname: 'web-1' }) },
    'GET /api/auth/users': { body: { items: [] } },
    'GET /api/auth/tokens': { body: { items: [] } },
    'GET /api/auth/audit': { body: { items: [] } },
    'GET /api/alerts': { body: { items: [], total: 0 } },
    'GET /api/alerts/rules': { body: { items: [] } },
    'GET /api/tasks': { body: { items: [], total: 0 } },
    'GET /api/tasks/agents': { body: { backend: 'stream', items: [] } },
    'GET /api/tasks/audit': { body: { items: [], total: 0 } },
    ...more,
  });
  renderPage(
    <AuthGate>
      <App />
    </AuthGate>,
    { lang },
  );
  return server;
}

describe('the app shell', () => {
  it('wraps the settings page in the same header as every page: navigation, sign-out, language and theme', async () => {
    shell('/settings');
    expect(await screen.findByTestId('settings-page')).toBeTruthy();
    const header = document.querySelector('header') as HTMLElement;
    expect(within(header).getByTestId('nav-overview')).toBeTruthy();
    expect(within(header).getByTestId('nav-alerts')).toBeTruthy();
    expect(within(header).getByTestId('nav-settings').getAttribute('aria-current')).toBe('page');
    expect(within(header).getByTestId('signout').textContent).toBe('Sign out');
    expect(within(header).getByTestId('lang-switch')).toBeTruthy();
    expect(within(header).getByTestId('theme-switch')).toBeTruthy();
    expect(document.title).toBe('Settings · Falconet');
    // The navigation goes on within the page: from settings to alerts without a reload.
    await userEvent.click(within(header).getByTestId('nav-alerts'));
    expect(await screen.findByTestId('alerts-page')).toBeTruthy();
    expect(location.pathname).toBe('/alerts');
    expect(document.title).toBe('Alerts · Falconet');
  });

  it('titles every page in the current language, a host page by its host name', async () => {
    shell('/agents/a1');
    await waitFor(() => expect(document.title).toBe('web-1 · Falconet'));
    await userEvent.click(screen.getByTestId('nav-tasks'));
    await waitFor(() => expect(document.title).toBe('Tasks · Falconet'));
    await userEvent.click(screen.getByTestId('nav-overview'));
    await waitFor(() => expect(document.title).toBe('Overview · Falconet'));
    await userEvent.selectOptions(screen.getByTestId('lang-switch'), 'zh');
    await waitFor(() => expect(document.title).toBe('总览 · Falconet'));
  });
});

describe('Button and Field', () => {
  it('draws each variant with one class, and a busy button as disabled and busy', async () => {
    const clicked = vi.fn();
    renderPage(
      <>
        <Button variant="primary" onClick={clicked}>
          Save
        </Button>
        <Button variant="danger" small>
          Delete
        </Button>
        <Button busy onClick={clicked}>
          Sending
        </Button>
        <Button disabled>Off</Button>
      </>,
    );
    const save = screen.getByRole('button', { name: 'Save' }) as HTMLButtonElement;
    expect(save.className).toBe('btn btn-primary');
    expect(save.type).toBe('button');
    expect(screen.getByRole('button', { name: 'Delete' }).className).toBe('btn btn-danger btn-small');
    const busy = screen.getByRole('button', { name: 'Sending' }) as HTMLButtonElement;
    expect(busy.disabled).toBe(true);
    expect(busy.getAttribute('aria-busy')).toBe('true');
    expect(busy.className).toContain('btn-busy');
    await userEvent.click(busy);
    await userEvent.click(save);
    expect(clicked).toHaveBeenCalledTimes(1);
    expect((screen.getByRole('button', { name: 'Off' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('labels its control, and shows an error in place of the help', () => {
    renderPage(
      <>
        <Field label="Window" help="A duration">
          <input />
        </Field>
        <Field label="Threshold" help="ignored" error="must be a number">
          <input />
        </Field>
      </>,
    );
    const window = screen.getByLabelText(/Window/);
    expect(window.tagName).toBe('INPUT');
    expect(screen.getByText('A duration').className).toBe('field-help');
    // The label alone names the control; its help or error describes it.
    expect(screen.getByLabelText('Window').getAttribute('aria-describedby')).toBe(screen.getByText('A duration').id);
    const input = screen.getByLabelText('Threshold');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    const threshold = input.closest('.field') as HTMLElement;
    expect(threshold.className).toContain('field-invalid');
    expect(within(threshold).getByText('must be a number').className).toBe('field-error');
    expect(within(threshold).queryByText('ignored')).toBeNull();
  });

  it('leaves no native button on the settings, sign-in and alert forms', async () => {
    shell('/settings');
    await screen.findByTestId('settings-page');
    await screen.findByTestId('new-user');
    await screen.findByTestId('new-token');
    const plain = [...document.querySelectorAll('main button')].filter((b) => !b.classList.contains('btn'));
    expect(plain.map((b) => b.textContent)).toEqual([]);
  });
});

describe('units', () => {
  it('reads the unit from the metric name and what the rule does to it', () => {
    expect(formatValue(92.456, unitOfRule({ metric: 'falconet_cpu_usage_percent' }))).toBe('92.46 %');
    expect(formatValue(1.5 * 1024 ** 3, unitOfRule({ metric: 'node_filesystem_avail_bytes' }))).toBe('1.5 GiB');
    expect(formatValue(2048, unitOfRule({ metric: 'node_network_receive_bytes_total', aggregation: 'rate' }))).toBe('2 KiB/s');
    expect(formatValue(90, unitOfRule({ kind: 'agent_offline' }))).toBe('90 s');
    expect(formatValue(300, unitOfRule({ kind: 'no_data' }))).toBe('5 min');
    expect(formatValue(0.25, unitOfRule({ metric: 'x_ratio' }))).toBe('25 %');
    expect(formatValue(3, unitOfRule({ metric: 'falconet_cpu_usage_percent', aggregation: 'count' }))).toBe('3');
    expect(formatValue(null, 'bytes')).toBe('—');
  });
});

describe('the alert editor', () => {
  const preview: RulePreview = {
    atMs: 1,
    condition: 'avg(falconet_cpu_usage_percent[1m]) > 90',
    metric: 'falconet_cpu_usage_percent',
    hosts: 2,
    hostsRead: 2,
    truncated: false,
    items: [
      { agent: 'a1', host: 'web-1', series: '', value: 92.5, breach: true },
      { agent: 'a2', host: 'web-2', series: '', value: 12.25, breach: false },
    ],
  };

  function editor(more: Record<string, StubReply> = {}) {
    history.replaceState(null, '', '/alerts#rules');
    const server = stubFetch({
      'GET /api/alerts/rules': { body: { items: [] } },
      'GET /api/alerts/channels': { body: { items: [] } },
      'GET /api/metrics/names': { body: { names: NAMES } },
      'GET /api/agents': { body: { items: [agent('a1', { hostname: 'web-1', trustedLabels: { env: 'prod' } })], total: 1 } },
      'GET /api/auth/session': { body: SIGNED_IN },
      'POST /api/alerts/preview': { body: preview },
      'POST /api/alerts/rules': { status: 201, body: { id: 'r1', name: 'x' } },
      ...more,
    });
    renderPage(<AlertsPage />);
    return server;
  }

  it('suggests metric names as one types, ranked and keyboard navigable', async () => {
    expect(suggest(NAMES, 'bytes')).toEqual([
      'falconet_memory_used_bytes',
      'node_filesystem_avail_bytes',
      'node_network_receive_bytes_total',
    ]);
    expect(suggest(NAMES, 'node avail')).toEqual(['node_filesystem_avail_bytes']);
    expect(suggest(NAMES, 'node_')[0]).toBe('node_filesystem_avail_bytes');

    editor();
    await userEvent.click(await screen.findByTestId('new-rule'));
    const picker = screen.getByRole('combobox', { name: 'Metric' }) as HTMLInputElement;
    await userEvent.clear(picker);
    await userEvent.type(picker, 'node');
    const list = await screen.findByRole('listbox', { name: 'Metric names' });
    expect(
      within(list)
        .getAllByRole('option')
        .map((o) => o.textContent),
    ).toEqual(['node_filesystem_avail_bytesB', 'node_network_receive_bytes_totalB']);
    await userEvent.keyboard('{ArrowDown}{ArrowDown}');
    expect(picker.getAttribute('aria-activedescendant')).toBe(within(list).getAllByRole('option')[1]?.id);
    await userEvent.keyboard('{ArrowUp}{Enter}');
    expect(picker.value).toBe('node_filesystem_avail_bytes');
    expect(screen.queryByRole('listbox')).toBeNull();
    // The threshold says its unit, from the name picked.
    expect(screen.getByTestId('threshold-unit').textContent).toBe('B');
  });

  it('writes label filters as rows of name, operator and value, added and removed, and sends them as matchers', async () => {
    expect(filtersOf('{mountpoint="/", fstype!~"tmpfs|overlay"}')).toEqual([
      { name: 'mountpoint', op: '=', value: '/' },
      { name: 'fstype', op: '!~', value: 'tmpfs|overlay' },
    ]);
    expect(filtersOf({ env: 'prod' })).toEqual([{ name: 'env', op: '=', value: 'prod' }]);
    expect(filtersOf('{not a selector')).toBeUndefined();

    const server = editor();
    await userEvent.click(await screen.findByTestId('new-rule'));
    const form = screen.getByTestId('rule-editor');
    await userEvent.type(within(form).getByLabelText('Name'), 'Root disk');
    const series = within(form).getByTestId('series-labels');
    await userEvent.click(within(series).getByRole('button', { name: 'Add filter' }));
    await userEvent.click(within(series).getByRole('button', { name: 'Add filter' }));
    await userEvent.type(within(series).getByLabelText('Label name, row 1'), 'mountpoint');
    await userEvent.type(within(series).getByLabelText('Value, row 1'), '/');
    await userEvent.type(within(series).getByLabelText('Label name, row 2'), 'device');
    await userEvent.selectOptions(within(series).getByLabelText('Operator, row 2'), '=~');
    expect((within(series).getByLabelText('Value, row 2') as HTMLInputElement).placeholder).toBe('regular expression');
    await userEvent.type(within(series).getByLabelText('Value, row 2'), 'sd.*');
    expect(within(series).getAllByTestId('filter-row')).toHaveLength(2);
    await userEvent.click(within(series).getByRole('button', { name: 'Remove row 2' }));
    expect(within(series).getAllByTestId('filter-row')).toHaveLength(1);
    const hosts = within(form).getByTestId('host-labels');
    await userEvent.click(within(hosts).getByRole('button', { name: 'Add filter' }));
    await userEvent.type(within(hosts).getByLabelText('Label name, row 1'), 'env');
    await userEvent.type(within(hosts).getByLabelText('Value, row 1'), 'prod');
    // Label names the fleet has are suggested for host filters.
    const options = [
      ...document.querySelectorAll(`#${CSS.escape(within(hosts).getByLabelText('Label name, row 1').getAttribute('list') ?? '')} option`),
    ];
    expect(options.map((o) => o.getAttribute('value'))).toEqual(['agent', 'env', 'hostname']);
    await userEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(server.to('POST /api/alerts/rules')).toHaveLength(1));
    expect(server.to('POST /api/alerts/rules')[0]?.body).toMatchObject({
      name: 'Root disk',
      series_labels: [{ name: 'mountpoint', op: '=', value: '/' }],
      host_labels: [{ name: 'env', op: '=', value: 'prod' }],
    });
  });

  it('previews the draft once typing pauses, each value with its unit and whether it would fire', async () => {
    const server = editor();
    await userEvent.click(await screen.findByTestId('new-rule'));
    const rows = await screen.findAllByTestId('preview-row', {}, { timeout: 3000 });
    expect(rows.map((r) => within(r).getByTestId('preview-value').textContent)).toEqual(['92.5 %', '12.25 %']);
    expect(rows.map((r) => r.dataset.breach)).toEqual(['yes', 'no']);
    expect(screen.getByTestId('preview-summary').textContent).toBe('The condition holds for 1 of 2 series now.');
    expect(server.to('POST /api/alerts/preview')[0]?.body).toMatchObject({
      name: 'preview',
      metric: 'falconet_cpu_usage_percent',
      threshold: 90,
      op: '>',
    });
    // A change is asked about again once typing pauses, and its threshold shows with its unit.
    const threshold = within(screen.getByTestId('rule-editor')).getByLabelText(/Threshold/);
    await userEvent.clear(threshold);
    await userEvent.type(threshold, '95');
    expect(within(screen.getByTestId('rule-editor')).getByText('95 %')).toBeTruthy();
    await waitFor(() => expect(server.to('POST /api/alerts/preview').at(-1)?.body).toMatchObject({ threshold: 95 }), { timeout: 3000 });
  });

  it("shows the server's reason when the draft is refused", async () => {
    editor({
      'POST /api/alerts/preview': { status: 400, body: { error: { code: 'bad_request', message: 'body window: "5x" is not a duration' } } },
    });
    await userEvent.click(await screen.findByTestId('new-rule'));
    expect((await screen.findByTestId('preview-error', {}, { timeout: 3000 })).textContent).toBe('body window: "5x" is not a duration');
  });
});

describe('channel settings from the schema', () => {
  const kinds: ChannelKind[] = [
    {
      type: 'webhook',
      fields: [
        { name: 'url', type: 'string', required: true, secret: false, destination: true, help: 'Where each notification is sent.' },
        {
          name: 'method',
          type: 'choice',
          required: false,
          secret: false,
          destination: false,
          help: 'The HTTP method.',
          options: ['POST', 'PUT'],
          default: 'POST',
        },
        { name: 'secret', type: 'string', required: false, secret: true, destination: false, help: 'Signs each request.' },
      ],
    },
    {
      type: 'email',
      fields: [
        { name: 'smtp.host', type: 'string', required: true, secret: false, destination: true, help: 'The SMTP relay.' },
        { name: 'smtp.port', type: 'number', required: false, secret: false, destination: true, help: '587 or 465.', default: 587 },
        { name: 'smtp.password', type: 'string', required: false, secret: true, destination: false, help: 'The password.' },
        { name: 'smtp.secure', type: 'boolean', required: false, secret: false, destination: true, help: 'TLS.', default: false },
        { name: 'to', type: 'string_list', required: true, secret: false, destination: true, help: 'Recipients.' },
      ],
    },
  ];

  function channels() {
    return stubFetch({
      'GET /api/alerts/channel-kinds': { body: { items: kinds } },
      'GET /api/auth/session': { body: SIGNED_IN },
      'POST /api/alerts/channels': { status: 201, body: {} },
      'PUT /api/alerts/channels/c1': { body: {} },
    });
  }

  it("builds the form from the type's fields: secrets as password inputs, lists one per line, nested names as objects", async () => {
    const server = channels();
    const done = vi.fn();
    renderPage(<ChannelEditor onDone={done} />);
    const form = await screen.findByTestId('channel-editor');
    await waitFor(() => expect(within(form).getByTestId('channel-fields').dataset.kind).toBe('webhook'));
    expect((within(form).getByLabelText(/Signing secret/) as HTMLInputElement).type).toBe('password');
    expect(within(form).getByText('Signs each request.')).toBeTruthy();
    await userEvent.selectOptions(within(form).getByLabelText('Type'), 'email');
    await userEvent.type(within(form).getByLabelText('Name'), 'ops mail');
    await userEvent.type(within(form).getByLabelText(/SMTP host/), 'smtp.example.com');
    const password = within(form).getByLabelText(/SMTP password/) as HTMLInputElement;
    expect(password.type).toBe('password');
    await userEvent.type(password, 'hunter2');
    // A default starts in its field.
    const port = within(form).getByLabelText(/SMTP port/) as HTMLInputElement;
    expect(port.value).toBe('587');
    await userEvent.clear(port);
    await userEvent.type(port, '465');
    await userEvent.click(within(form).getByLabelText('TLS from the first byte'));
    await userEvent.type(within(form).getByLabelText(/^To/), 'a@example.com{Enter}b@example.com');
    await userEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(done).toHaveBeenCalled());
    expect(server.to('POST /api/alerts/channels')[0]?.body).toEqual({
      name: 'ops mail',
      type: 'email',
      send_resolved: true,
      smtp: { host: 'smtp.example.com', port: 465, password: 'hunter2', secure: true },
      to: ['a@example.com', 'b@example.com'],
    });
  });

  it('never shows a stored secret: its field starts empty, and left empty the stored one is kept', async () => {
    const server = channels();
    const stored = {
      id: 'c1',
      name: 'hook',
      type: 'webhook',
      url: 'https://example.com/********',
      method: 'PUT',
      secret: '********',
      send_resolved: false,
      title: '{{ .Labels.alertname }}',
      source: 'api',
      createdBy: 'alice',
      createdMs: 1,
      updatedMs: 1,
      health: {},
    } as unknown as AlertChannel;
    renderPage(<ChannelEditor channel={stored} onDone={() => undefined} />);
    const form = await screen.findByTestId('channel-editor');
    const secret = (await within(form).findByLabelText(/Signing secret/)) as HTMLInputElement;
    expect(secret.value).toBe('');
    expect(secret.placeholder).toBe('stored; leave empty to keep');
    expect([...form.querySelectorAll('input')].filter((i) => i.type === 'password' && i.value !== '')).toEqual([]);
    expect((within(form).getByLabelText(/Method/) as HTMLSelectElement).value).toBe('PUT');
    await userEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(server.to('PUT /api/alerts/channels/c1')).toHaveLength(1));
    // The masked values go back as the API shows them, so the server keeps what it stored; templates are kept too.
    expect(server.to('PUT /api/alerts/channels/c1')[0]?.body).toEqual({
      name: 'hook',
      type: 'webhook',
      url: 'https://example.com/********',
      method: 'PUT',
      secret: '********',
      send_resolved: false,
      title: '{{ .Labels.alertname }}',
    });
  });
});
