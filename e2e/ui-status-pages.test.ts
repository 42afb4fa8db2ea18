/**
 * Status pages in Chromium against a real server with users and a real agent: an operator makes a
 * page with the agent's host and a monitor the agent runs (under a name of the operator's), and an
 * incident with a note, in the dashboard; a fresh browser with no
 * cookies opens /status/<slug> under the server's CSP and sees 90 bars (each saying its day and
 * percent), the incident and its note, without being given a cookie; the page switches to Chinese,
 * and a page written in Chinese opens in Chinese.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import {
  type AgentProc,
  createToken,
  createUser,
  eventually,
  type ServerProc,
  startAgent,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { signIn } from '../testing/sign-in.ts';

let server: ServerProc;
let agent: AgentProc | undefined;
let browser: Browser;
const agentDir = tempDir('falconet-agent-');
const HOST = hostname();
const SLUG = 'public-health';

beforeAll(async () => {
  server = await startServer();
  await createUser(server.dataDir, 'op-1', 'operator', 'operator-password');
  const token = (await createToken(server.dataDir, { agent: HOST })).token;
  agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, dataDir: agentDir, args: ['--token', token] });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await browser?.close();
  await server?.stop();
});

async function signedIn(path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.url}${path}`);
  await page.getByTestId('signin-name').fill('op-1');
  await page.getByTestId('signin-password').fill('operator-password');
  await page.getByTestId('signin-submit').click();
  return page;
}

describe('status pages', () => {
  it('are made in the dashboard and read by anyone, with no cookie, in English and Chinese', async () => {
    const agentId = readFileSync(join(agentDir, 'agent-id'), 'utf8').trim();
    // A monitor the real agent runs: a TCP check of the server's own HTTP port, up once it reports.
    const op = await signIn(server.url, 'op-1', 'operator-password');
    const post = (path: string, body: unknown) =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { ...op.mutating, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const madeMonitor = await post('/api/monitors', {
      name: 'Front door',
      probe: { kind: 'tcp', target: `127.0.0.1:${server.httpPort}`, interval: '10s' },
      agents: { ids: [agentId] },
    });
    expect(madeMonitor.status).toBe(201);
    const monitorId = ((await madeMonitor.json()) as { id: string }).id;
    await eventually(
      async () =>
        ((await (await fetch(`${server.url}/api/monitors/${monitorId}`, { headers: op.headers })).json()) as { status: string }).status ===
        'up',
      60_000,
    );

    const admin = await signedIn('/status-pages');
    await admin.getByTestId('status-new').click();
    const form = admin.getByTestId('status-form');
    await form.locator('input[name="title"]').fill('Acme public health');
    await form.locator('input[name="slug"]').fill(SLUG);
    await form.locator('textarea[name="description"]').fill('What our customers rely on');
    await form.locator(`input[name="host"][value="${agentId}"]`).check({ timeout: 20_000 });
    await form.locator(`input[name="monitor"][value="${monitorId}"]`).check({ timeout: 20_000 });
    await form.getByLabel('Name shown: Front door').fill('Website');
    await admin.getByTestId('status-save').click();
    await admin.getByTestId('status-page-row').first().waitFor();
    expect(await admin.getByTestId('status-page-row').first().textContent()).toContain(`/status/${SLUG}`);

    // An incident with its first note.
    const incident = admin.getByTestId('incident-form');
    await incident.locator('input[name="incident-title"]').fill('Slow sign-ins');
    await incident.locator('textarea[name="incident-body"]').fill('Sign-ins take 10 s for some users.');
    await incident.locator('select[name="incident-severity"]').selectOption('major');
    await admin.getByTestId('incident-open').click();
    const row = admin.getByTestId('incident-row').first();
    await row.waitFor();
    await row.getByRole('textbox').fill('Cause found: a full disk on the session store.');
    await row.getByRole('button', { name: 'Add note' }).click();
    await admin.getByText('Cause found: a full disk on the session store.').first().waitFor();
    await admin.getByTestId('status-preview').waitFor();
    await admin.screenshot({ path: artifactPath('status-pages-admin.png'), fullPage: true });

    // Anyone: a fresh browser with no cookies, the server's CSP in force.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const res = await page.goto(`${server.url}/status/${SLUG}`);
    expect(res?.status()).toBe(200);
    await page.getByTestId('status-title').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('status-title').textContent()).toBe('Acme public health');
    // 90 bars for the host, 90 for the monitor.
    await eventually(async () => (await page.getByTestId('status-bar').count()) === 180);
    const today = new Date().toISOString().slice(0, 10);
    const last = page.getByTestId('status-item').first().getByTestId('status-bar').last();
    expect(await last.getAttribute('data-day')).toBe(today);
    expect(await last.getAttribute('title')).toMatch(new RegExp(`^${today}: \\d+\\.\\d\\d %$`));
    expect(await page.getByTestId('status-bar').first().getAttribute('title')).toMatch(/: no data$/);
    expect(await page.getByTestId('status-item').first().textContent()).toContain(HOST);
    expect(await page.getByTestId('status-item').first().getAttribute('data-status')).toBe('up');
    // The monitor, under the name chosen, up, with today's bar from its stored probe_success.
    const service = page.getByTestId('status-item').nth(1);
    expect(await service.getAttribute('data-status')).toBe('up');
    expect(await service.textContent()).toContain('Website');
    expect(await service.textContent()).not.toContain('Front door');
    expect(await service.getByTestId('status-bar').last().getAttribute('title')).toBe(`${today}: 100.00 %`);
    const incidentText = await page.getByTestId('status-incident').first().textContent();
    expect(incidentText).toContain('Slow sign-ins');
    expect(incidentText).toContain('Sign-ins take 10 s for some users.');
    expect(incidentText).toContain('Cause found: a full disk on the session store.');
    expect(incidentText).toContain('Major');
    expect(await page.getByTestId('status-headline').textContent()).toBe('All systems operational');
    // Hovering a bar shows its day and percent (the browser's tooltip is the title).
    await last.hover();
    await page.screenshot({ path: artifactPath('status-page-en.png'), fullPage: true });
    expect(await context.cookies()).toEqual([]);
    expect(errors).toEqual([]);

    // The visitor switches to Chinese.
    await page.getByTestId('status-lang').selectOption('zh');
    await page.getByText('事件', { exact: true }).waitFor();
    expect(await page.getByTestId('status-headline').textContent()).toBe('所有系统运行正常');
    expect(await page.getByTestId('status-item').first().textContent()).toContain('正常');
    expect(await page.getByTestId('status-incident').first().textContent()).toContain('严重');
    expect(await last.getAttribute('title')).toMatch(new RegExp(`^${today}：\\d+\\.\\d\\d %$`));
    expect(page.url()).toContain('lang=zh');

    // A page written in Chinese opens in Chinese.
    const made = await post('/api/status-pages', { slug: 'zh-page', title: '公开状态', language: 'zh', hosts: [agentId] });
    expect(made.status).toBe(201);
    const zh = await context.newPage();
    await zh.goto(`${server.url}/status/zh-page`);
    await zh.getByTestId('status-title').waitFor({ timeout: 20_000 });
    expect(await zh.getByTestId('status-headline').textContent()).toBe('所有系统运行正常');
    expect(await zh.getByRole('heading', { name: '主机' }).count()).toBe(1);
    expect(await zh.locator('html').getAttribute('lang')).toBe('zh-CN');
    await zh.screenshot({ path: artifactPath('status-page-zh.png'), fullPage: true });

    // Accessible: checked in a context that lets axe's script in (the others keep the CSP).
    const a11y = await (await browser.newContext({ bypassCSP: true })).newPage();
    await a11y.goto(`${server.url}/status/${SLUG}`);
    await a11y.getByTestId('status-incident').first().waitFor({ timeout: 20_000 });
    expect(await seriousA11yViolations(a11y)).toEqual([]);

    // An unknown slug: the page says so, with a 404.
    const missing = await context.newPage();
    expect((await missing.goto(`${server.url}/status/no-such-page`))?.status()).toBe(404);
    await missing.getByText('There is no status page here.').waitFor();
    expect(await context.cookies()).toEqual([]);
  });
});
