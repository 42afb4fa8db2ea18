/** The rule editor's log_lines kind: its fields, the spec it sends, and its texts in Chinese. */
import type { RulePreview } from '@falconet/protocol/api';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AlertsPage } from '../src/alerts/AlertsPage.tsx';
import { describeRule } from '../src/alerts/client.ts';
import { logAlertsEn } from '../src/i18n/log-alerts.ts';
import { DICTS } from '../src/i18n.tsx';
import { agent } from './agents.ts';
import { FakeSocket } from './fake-socket.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const SIGNED_IN = { mode: 'signed-in', user: { name: 'alice', role: 'admin', kind: 'session' }, csrfToken: 'c1', expiresMs: null };

beforeEach(() => {
  vi.stubGlobal('WebSocket', FakeSocket);
});

const preview: RulePreview = {
  atMs: 0,
  condition: 'lines matching "timeout" in 1m > 90',
  metric: null,
  hosts: 1,
  hostsRead: 1,
  truncated: false,
  items: [{ agent: 'a1', host: 'web-1', series: '', value: 120, breach: true }],
};

describe('log_lines rules in the editor', () => {
  it('shows query and scope instead of metric fields, and sends them', async () => {
    history.replaceState(null, '', '/alerts#rules');
    const server = stubFetch({
      'GET /api/alerts/rules': { body: { items: [] } },
      'GET /api/alerts/channels': { body: { items: [] } },
      'GET /api/metrics/names': { body: { names: [] } },
      'GET /api/agents': { body: { items: [agent('a1', { hostname: 'web-1' })], total: 1 } },
      'GET /api/auth/session': { body: SIGNED_IN },
      'POST /api/alerts/preview': { body: preview },
      'POST /api/alerts/rules': { status: 201, body: { id: 'r1', name: 'x' } },
    });
    renderPage(<AlertsPage />);
    await userEvent.click(await screen.findByTestId('new-rule'));
    const form = screen.getByTestId('rule-editor');
    await userEvent.type(within(form).getByLabelText('Name'), 'Timeouts');
    await userEvent.selectOptions(within(form).getByLabelText('Kind'), 'log_lines');
    expect(within(form).queryByRole('combobox', { name: 'Metric' })).toBeNull();
    await userEvent.type(within(form).getByLabelText('Log query'), 'timeout level>=error');
    await userEvent.selectOptions(within(form).getByLabelText('Count'), 'fleet');
    await userEvent.click(within(form).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(server.to('POST /api/alerts/rules')).toHaveLength(1));
    const sent = server.to('POST /api/alerts/rules')[0]?.body as Record<string, unknown>;
    expect(sent).toMatchObject({ name: 'Timeouts', kind: 'log_lines', query: 'timeout level>=error', scope: 'fleet', op: '>' });
    expect(sent.metric).toBeUndefined();
    expect(sent.aggregation).toBeUndefined();
  });

  it('describes a rule in one line and has every text in Chinese', () => {
    expect(describeRule({ name: 'x', kind: 'log_lines', query: 'oops', window: '5m', threshold: 3, scope: 'fleet' })).toBe(
      'lines matching "oops" in 5m (fleet) > 3',
    );
    for (const k of Object.keys(logAlertsEn) as (keyof typeof logAlertsEn)[]) {
      expect(DICTS.zh[k]).toBeTruthy();
      expect(DICTS.zh[k]).not.toBe(DICTS.en[k]);
    }
  });
});
