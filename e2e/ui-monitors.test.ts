/**
 * The Monitors page in Chromium against a real server with users and a real agent: an operator
 * creates a TCP monitor run by the agent against a local TCP server (a refused target first, its
 * error beside the Target field), sees it up, stops the target and sees it down, with the
 * monitor's own page (charts, locations); a few hundred monitors created through the API are
 * searched, filtered by status and paged 50 at a time by the server; a viewer sees no edit
 * controls; Chinese; axe-core on the list, the form and the monitor's page.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import {
  type AgentProc,
  createToken,
  createUser,
  freePort,
  type ServerProc,
  startAgent,
  startServer,
  tempDir,
} from '../testing/processes.ts';

const AGENT_ID = 'monitor-agent-1';
const BULK = 300;

let server: ServerProc;
let agent: AgentProc;
let browser: Browser;
let target: Server;
let targetPort = 0;
const sockets = new Set<Socket>();
let api: Record<string, string> = {};

/** A TCP server that accepts and closes: what the monitor checks. */
async function listen(port: number): Promise<Server> {
  const s = createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.end();
  });
  await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
  return s;
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...api, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  server = await startServer();
  for (const role of ['operator', 'viewer']) await createUser(server.dataDir, `${role}-1`, role, `${role}-password`);
  api = { authorization: `Bearer ${(await createToken(server.dataDir, { api: 'e2e-monitors', role: 'operator' })).token}` };
  const agentDir = tempDir('falconet-monitor-agent-');
  writeFileSync(join(agentDir, 'agent-id'), `${AGENT_ID}\n`);
  const token = (await createToken(server.dataDir, { agent: hostname() })).token;
  agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, dataDir: agentDir, env: { FALCONET_SERVER_TOKEN: token } });
  await agent.waitFor(/"connected to server"/);
  targetPort = await freePort();
  target = await listen(targetPort);
  // The bulk of the list, made through the API: run by the same agent, against a port nobody listens on, paused.
  for (let i = 0; i < BULK; i++) {
    const r = await call('POST', '/api/monitors', {
      name: `bulk-${String(i).padStart(3, '0')}`,
      probe: { kind: 'tcp', target: `127.0.0.1:${9}`, interval: '60s', timeout: '1s' },
      agents: { ids: [AGENT_ID] },
      paused: true,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const s of sockets) s.destroy();
  target?.close();
  await agent?.stop();
  await server?.stop();
});

async function signedIn(role: 'operator' | 'viewer', lang: 'en' | 'zh' = 'en'): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 900 },
    locale: lang === 'zh' ? 'zh-CN' : 'en-US',
    // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
    bypassCSP: true,
  });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/monitors`);
  await page.getByTestId('signin-name').fill(`${role}-1`);
  await page.getByTestId('signin-password').fill(`${role}-password`);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('monitors-page').waitFor({ timeout: 15_000 });
  return { page, errors };
}

async function axe(page: Page, name: string): Promise<void> {
  const bad = await seriousA11yViolations(page);
  expect(bad, `${name}: ${JSON.stringify(bad, null, 1)}`).toEqual([]);
}

const rowNames = (page: Page) => page.locator('[data-testid="monitor-row"] [data-testid="monitor-name"]').allTextContents();
const rowStatus = (page: Page, name: string) =>
  page.locator('[data-testid="monitor-row"]', { has: page.getByText(name, { exact: true }) }).getAttribute('data-status');

describe('the Monitors page', () => {
  it('creates a TCP monitor run by a real agent, shows it up, and down once its target stops', async () => {
    const { page, errors } = await signedIn('operator');
    await page.getByTestId('monitors-new').click();
    const form = page.getByTestId('monitor-form');
    await form.locator('[data-field="name"]').fill('local tcp');
    await form.locator('[data-field="kind"]').selectOption('tcp');
    await form.locator('[data-field="target"]').fill('no port here');
    await form.locator('[data-field="interval"]').fill('10s');
    await form.locator('[data-field="timeout"]').fill('2s');
    await form.getByTestId('agent-search').fill(AGENT_ID.slice(0, 8));
    await form.getByTestId('option-host').first().click();
    await axe(page, 'monitor form');
    await form.getByTestId('monitor-save').click();
    // The server's refusal, beside the field it names.
    const targetInput = form.locator('[data-field="target"]');
    await expect.poll(() => targetInput.getAttribute('aria-invalid')).toBe('true');
    const note = await targetInput.getAttribute('aria-describedby');
    expect(await page.locator(`[id="${note}"]`).textContent()).toMatch(/HOST:PORT/);

    await targetInput.fill(`127.0.0.1:${targetPort}`);
    await form.getByTestId('monitor-save').click();
    await page.getByTestId('monitor-form').waitFor({ state: 'detached' });
    await page.getByTestId('monitors-search').fill('local tcp');
    await expect.poll(() => rowNames(page)).toEqual(['local tcp']);
    await expect.poll(() => rowStatus(page, 'local tcp'), { timeout: 60_000, interval: 1000 }).toBe('up');
    const row = page.getByTestId('monitor-row').first();
    expect(await row.getByTestId('monitor-locations').textContent()).toBe('0 / 1');
    expect(await row.getByTestId('monitor-latency').textContent()).toMatch(/ms$/);
    await axe(page, 'monitors list');
    await page.screenshot({ path: artifactPath('monitors-list.png'), fullPage: true });

    target.close();
    for (const s of sockets) s.destroy();
    await expect.poll(() => rowStatus(page, 'local tcp'), { timeout: 60_000, interval: 1000 }).toBe('down');
    expect(await row.getByTestId('monitor-locations').textContent()).toBe('1 / 1');

    // Its own page: the location's latest check and the charts.
    await row.getByTestId('monitor-name').click();
    const detail = page.getByTestId('monitor-page');
    await expect.poll(() => detail.getAttribute('data-status')).toBe('down');
    expect(await page.getByTestId('monitor-location').getAttribute('data-up')).toBe('false');
    await expect.poll(() => page.getByTestId('chart-monitor-latency').getAttribute('data-empty'), { timeout: 20_000 }).toBe('false');
    await axe(page, 'monitor page');
    await page.screenshot({ path: artifactPath('monitor-page.png'), fullPage: true });

    target = await listen(targetPort);
    await expect.poll(() => detail.getAttribute('data-status'), { timeout: 60_000, interval: 1000 }).toBe('up');
    expect(errors).toEqual([]);
    await page.context().close();
  }, 240_000);

  it('searches, filters by status and pages through a few hundred monitors, fifty at a time', async () => {
    const { page, errors } = await signedIn('operator');
    const total = page.getByTestId('monitors-total');
    await expect.poll(() => total.getAttribute('data-total')).toBe(String(BULK + 1));
    expect(await page.getByTestId('monitor-row').count()).toBe(50);
    expect(await page.getByTestId('monitors-pageno').getAttribute('data-pages')).toBe(String(Math.ceil((BULK + 1) / 50)));
    expect(await page.getByTestId('monitors-chip-paused').getAttribute('data-count')).toBe(String(BULK));
    expect((await rowNames(page)).slice(0, 2)).toEqual(['bulk-000', 'bulk-001']);

    await page.getByTestId('monitors-next').click();
    await expect.poll(async () => (await rowNames(page))[0]).toBe('bulk-050');
    expect(page.url()).toContain('page=1');
    await page.getByTestId('monitors-sort').selectOption('name');
    await page.getByTestId('monitors-desc').check();
    await expect.poll(async () => (await rowNames(page))[0]).toBe('local tcp');
    expect(await page.getByTestId('monitors-pageno').getAttribute('data-page')).toBe('1');

    await page.getByTestId('monitors-search').fill('bulk-123');
    await expect.poll(() => rowNames(page)).toContain('bulk-123');
    expect(Number(await total.getAttribute('data-total'))).toBeLessThan(BULK);

    await page.getByTestId('monitors-search').fill('');
    await page.getByTestId('monitors-chip-up').click();
    await expect.poll(() => rowNames(page)).toEqual(['local tcp']);
    await page.getByTestId('monitors-chip-paused').click();
    await expect.poll(() => total.getAttribute('data-total')).toBe(String(BULK));
    // The address keeps the list's state: a reload shows the same.
    await page.reload();
    await expect.poll(() => total.getAttribute('data-total')).toBe(String(BULK));
    expect(await page.getByTestId('monitors-chip-paused').getAttribute('aria-pressed')).toBe('true');
    expect(errors).toEqual([]);
    await page.context().close();
  }, 120_000);

  it('edits and deletes as an operator; a viewer sees no edit controls', async () => {
    const { page } = await signedIn('operator');
    await page.getByTestId('monitors-search').fill('bulk-299');
    await expect.poll(() => rowNames(page)).toEqual(['bulk-299']);
    await page.getByTestId('monitor-edit').click();
    await page.locator('[data-field="name"]').fill('bulk-299-renamed');
    await page.getByTestId('monitor-save').click();
    await expect
      .poll(() => page.locator('[data-testid="monitor-row"] [data-testid="monitor-name"]').first().textContent())
      .toBe('bulk-299-renamed');
    await page.getByTestId('monitor-delete').click();
    await page.getByTestId('monitor-delete-confirm').click();
    await expect.poll(() => page.getByTestId('monitors-empty').count()).toBe(1);
    await page.context().close();

    const viewer = await signedIn('viewer');
    await expect.poll(() => viewer.page.getByTestId('monitor-row').count()).toBe(50);
    expect(await viewer.page.getByTestId('monitors-new').count()).toBe(0);
    expect(await viewer.page.getByTestId('monitor-edit').count()).toBe(0);
    expect(await viewer.page.getByTestId('monitor-delete').count()).toBe(0);
    await viewer.page.getByTestId('monitor-name').first().click();
    await viewer.page.getByTestId('monitor-page').waitFor();
    expect(await viewer.page.getByTestId('monitor-edit').count()).toBe(0);
    // The API says no as well, to the viewer's own session with its CSRF token.
    const id = await viewer.page.evaluate(
      () => (globalThis as unknown as { location: { pathname: string } }).location.pathname.split('/')[2],
    );
    const refused = await viewer.page.evaluate(async (monitorId) => {
      const { csrfToken } = (await (await fetch('/api/auth/session')).json()) as { csrfToken: string };
      const res = await fetch(`/api/monitors/${monitorId}`, { method: 'DELETE', headers: { 'x-falconet-csrf': csrfToken } });
      return res.status;
    }, id as string);
    expect(refused).toBe(403);
    await viewer.page.context().close();
  }, 120_000);

  it('speaks Chinese', async () => {
    const { page, errors } = await signedIn('viewer', 'zh');
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('监测');
    expect(await page.getByTestId('monitors-chip-paused').textContent()).toContain('已暂停');
    expect(errors).toEqual([]);
    await page.context().close();
  }, 60_000);
});
