import type { PublicStatusPage } from '@falconet/protocol/api';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { AuthGate } from '../src/auth/AuthGate.tsx';
import { StatusPagesPage } from '../src/status-pages/StatusPagesPage.tsx';
import { StatusView } from '../src/status-pages/StatusView.tsx';
import { percent, publicTranslator, uptimeClass } from '../src/status-pages/translate.ts';
import { agent } from './agents.ts';
import { stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const DAY = 86_400_000;
const FIRST = Date.UTC(2026, 8, 8);

const view: PublicStatusPage = {
  title: 'Acme',
  description: 'What we run',
  language: 'en',
  firstDayMs: FIRST,
  generatedMs: FIRST + 89 * DAY + 3_600_000,
  status: 'degraded',
  items: [
    {
      kind: 'host',
      name: 'web',
      status: 'up',
      days: [...new Array(88).fill(null), 0.99999, 0.5],
      uptime: 0.749995,
    },
    { kind: 'monitor', name: 'API', status: 'degraded', days: new Array(90).fill(0.96), uptime: 0.96, latencyMs: 12.5 },
  ],
  incidents: [
    {
      title: 'Slow API',
      body: '<img src=x onerror=alert(1)> all slow',
      severity: 'major',
      startedMs: FIRST + 89 * DAY,
      resolvedMs: null,
      updates: [{ atMs: FIRST + 89 * DAY + 60_000, body: 'Found it' }],
    },
  ],
};

describe('the public status view', () => {
  it('draws 90 bars per item, each naming its day and percent, coloured by uptime', () => {
    render(<StatusView view={view} lang="en" t={publicTranslator('en')} />);
    const [host, monitor] = screen.getAllByTestId('status-item');
    const bars = within(host as HTMLElement).getAllByTestId('status-bar');
    expect(bars).toHaveLength(90);
    expect(bars[0]?.getAttribute('title')).toBe('2026-09-08: no data');
    // Rounded down: a day with any downtime never reads 100.00 %.
    expect(bars[88]?.getAttribute('title')).toBe('2026-12-05: 99.99 %');
    expect(bars[89]?.getAttribute('title')).toBe('2026-12-06: 50.00 %');
    expect(bars[89]?.className).toContain('bad');
    expect(bars[88]?.className).toContain('good');
    expect(within(monitor as HTMLElement).getAllByTestId('status-bar')[0]?.className).toContain('poor');
    expect(monitor?.textContent).toContain('12.5 ms');
    expect(screen.getByTestId('status-headline').textContent).toBe('Some systems are degraded');
  });

  it('writes incident text as text, never as markup, and speaks Chinese', () => {
    const { container } = render(<StatusView view={view} lang="zh" t={publicTranslator('zh')} />);
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByTestId('status-incident').textContent).toContain('<img src=x onerror=alert(1)> all slow');
    expect(screen.getByTestId('status-incident').textContent).toContain('严重');
    expect(screen.getByText('事件')).toBeTruthy();
    expect(screen.getAllByTestId('status-bar')[89]?.getAttribute('title')).toBe('2026-12-06：50.00 %');
  });

  it('classes and percents', () => {
    expect([1, 0.999, 0.995, 0.95, 0.5, null].map(uptimeClass)).toEqual(['good', 'good', 'fair', 'poor', 'bad', 'none']);
    expect(percent(0.99995)).toBe('99.99 %');
    expect(percent(1)).toBe('100.00 %');
  });
});

describe('the Status pages admin view', () => {
  const session = (role: string) => ({
    mode: 'signed-in',
    user: { name: 'alice', role, kind: 'session' },
    csrfToken: 'c1',
    expiresMs: null,
  });
  const page = {
    id: 'p1',
    spec: {
      slug: 'acme',
      title: 'Acme',
      description: '',
      language: 'en',
      hosts: ['a-1'],
      monitors: [],
      display_names: {},
      show_values: false,
    },
    createdBy: 'alice',
    createdMs: 0,
    updatedMs: 0,
  };
  const mount = (role: string) => {
    const server = stubFetch({
      'GET /api/auth/session': { body: session(role) },
      'GET /api/status-pages': { body: { items: [page] } },
      'GET /api/agents': { body: { items: [agent('a-1', { hostname: 'web-1' }), agent('a-2', { hostname: 'db-1' })], total: 2 } },
      'GET /api/monitors': { body: { items: [], total: 0, counts: {} } },
      'POST /api/status-pages': (c) => ({ status: 201, body: { ...page, id: 'p2', spec: c.body } }),
    });
    renderPage(
      <AuthGate>
        <StatusPagesPage />
      </AuthGate>,
    );
    return server;
  };

  it('shows a viewer the pages without the controls that change them', async () => {
    mount('viewer');
    await screen.findByText('Acme');
    expect(screen.getByText('Viewers can see status pages; operators edit them.')).toBeTruthy();
    expect(screen.queryByTestId('status-new')).toBeNull();
    expect(screen.queryByText('Edit')).toBeNull();
    expect(screen.getByRole('link', { name: '/status/acme' }).getAttribute('href')).toBe('/status/acme');
  });

  it('lets an operator choose hosts, name them, and save a page', async () => {
    const server = mount('operator');
    await userEvent.click(await screen.findByTestId('status-new'));
    await userEvent.type(screen.getByLabelText('Title'), 'Public');
    await userEvent.type(screen.getByLabelText('Slug (lowercase letters, digits and -)'), 'public');
    await userEvent.click(await screen.findByRole('checkbox', { name: /db-1/ }));
    await userEvent.type(screen.getByLabelText('Name shown: db-1'), 'Database');
    expect(screen.getByText('No monitors on this server.')).toBeTruthy();
    await userEvent.click(screen.getByTestId('status-save'));
    await waitFor(() => expect(server.to('POST /api/status-pages')).toHaveLength(1));
    expect(server.to('POST /api/status-pages')[0]?.body).toMatchObject({
      slug: 'public',
      title: 'Public',
      hosts: ['a-2'],
      display_names: { 'a-2': 'Database' },
    });
    expect(server.to('POST /api/status-pages')[0]?.headers['x-falconet-csrf']).toBe('c1');
  });
});
