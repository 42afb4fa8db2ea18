/**
 * Forgetting a host in Chromium against a real server with users and a real agent: the control is
 * an admin's, and only once the agent is stopped; the dialog names the host and asks about its
 * data; confirming takes the host off every open dashboard, its samples out of the store and its
 * token out of use, while another host stays.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawStream, registerMessage, registerOn, reportMessage } from '../testing/agent-channel.ts';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { type AgentProc, createToken, createUser, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

let server: ServerProc;
let agent: AgentProc | undefined;
let browser: Browser;
let agentToken = '';
const agentDir = tempDir('falconet-agent-');
const HOST = hostname();

beforeAll(async () => {
  server = await startServer();
  for (const role of ['admin', 'operator']) await createUser(server.dataDir, `${role}-1`, role, `${role}-password`);
  agentToken = (await createToken(server.dataDir, { agent: HOST })).token;
  agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, dataDir: agentDir, args: ['--token', agentToken] });
  // Another host, which stays.
  const otherToken = (await createToken(server.dataDir, { agent: 'keeper-host' })).token;
  const s = rawStream(`127.0.0.1:${server.grpcPort}`);
  await registerOn(s, registerMessage('keeper-1', { hostname: 'keeper-host', token: otherToken }));
  s.send(reportMessage(1, [{ name: 'keeper_value', labels: {}, value: 1, timestampMs: Date.now() }]));
  await s.next();
  s.close();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await agent?.stop();
  await browser?.close();
  await server?.stop();
});

async function signedIn(role: string, path: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${server.url}${path}`);
  await page.getByTestId('signin-name').fill(`${role}-1`);
  await page.getByTestId('signin-password').fill(`${role}-password`);
  await page.getByTestId('signin-submit').click();
  return page;
}

async function api(page: Page, path: string): Promise<{ status: number; body: Json }> {
  return await page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, body: await r.json() };
  }, path);
}

describe('forgetting a host from its page', () => {
  it("is an admin's once the agent is stopped; the dialog's choice drops its data and every dashboard drops the host", async () => {
    const agentId = readFileSync(join(agentDir, 'agent-id'), 'utf8').trim();

    // An operator watches the overview; sees the host page's control disabled, with why.
    const operator = await signedIn('operator', `/agents/${agentId}`);
    await operator.getByTestId('forget-open').waitFor({ timeout: 20_000 });
    expect(await operator.getByTestId('forget-open').isDisabled()).toBe(true);
    expect(await operator.getByTestId('forget-reason').textContent()).toBe('Only an admin can forget a host');
    await operator.goto(`${server.url}/`);
    await operator.getByText(HOST, { exact: true }).first().waitFor({ timeout: 20_000 });

    // The admin, while the agent runs: stop it first.
    const admin = await signedIn('admin', `/agents/${agentId}`);
    await admin.getByTestId('forget-open').waitFor({ timeout: 20_000 });
    await expect
      .poll(() => admin.getByTestId('forget-reason').textContent(), { timeout: 20_000 })
      .toBe(`Connected: stop the agent on ${HOST} before forgetting it`);
    expect(await admin.getByTestId('forget-open').isDisabled()).toBe(true);
    expect((await api(admin, `/api/metrics/names?agent=${agentId}`)).body.names).toContain('falconet_cpu_usage_percent');

    await agent?.stop();
    agent = undefined;
    await expect.poll(() => admin.getByTestId('forget-open').isEnabled(), { timeout: 30_000 }).toBe(true);
    expect(await admin.getByTestId('forget-reason').count()).toBe(0);

    await admin.getByTestId('forget-open').click();
    const dialog = admin.getByRole('dialog', { name: `Forget ${HOST}?` });
    await dialog.waitFor();
    expect(await admin.getByTestId('forget-keep').isChecked()).toBe(true);
    await admin.getByTestId('forget-drop').check();
    expect(await seriousA11yViolations(admin)).toEqual([]);
    await admin.screenshot({ path: artifactPath('host-forget-dialog.png') });
    await dialog.getByRole('button', { name: `Forget ${HOST}` }).click();

    // Back on the overview without the host; the other host is there.
    await admin.waitForURL(`${server.url}/`, { timeout: 20_000 });
    await admin.getByText('keeper-host', { exact: true }).first().waitFor({ timeout: 20_000 });
    expect(await admin.getByText(HOST, { exact: true }).count()).toBe(0);
    // The operator's overview dropped it live, without a reload.
    await expect.poll(() => operator.getByText(HOST, { exact: true }).count(), { timeout: 20_000 }).toBe(0);
    expect(await operator.getByText('keeper-host', { exact: true }).count()).toBeGreaterThan(0);

    expect((await api(admin, `/api/agents/${agentId}`)).status).toBe(404);
    expect((await api(admin, `/api/metrics/names?agent=${agentId}`)).body.names).toEqual([]);
    expect((await api(admin, '/api/metrics/names?agent=keeper-1')).body.names).toEqual(['keeper_value']);
    const audit = (await api(admin, '/api/audit?action=agent.forget')).body.items as Json[];
    expect(audit.find((e) => e.target === agentId)).toMatchObject({ actor: 'admin-1', outcome: 'ok', detail: { data: 'drop' } });

    // Started again with its token, the agent is refused: it does not come back on its own.
    agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, dataDir: agentDir, args: ['--token', agentToken] });
    await agent.waitFor(/server refused this agent/, 30_000);
    expect((await api(admin, `/api/agents/${agentId}`)).status).toBe(404);
    await operator.context().close();
    await admin.context().close();
  });

  it('speaks Chinese in the dialog', async () => {
    const admin = await signedIn('admin', '/agents/keeper-1');
    await admin.getByTestId('forget-open').waitFor({ timeout: 20_000 });
    await admin.evaluate(() =>
      (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('falconet.lang', 'zh'),
    );
    await admin.reload();
    await admin.getByRole('button', { name: '移除此主机…' }).click();
    await admin.getByRole('dialog', { name: '移除 keeper-host？' }).waitFor();
    expect(await admin.getByTestId('forget-keep').isChecked()).toBe(true);
    await admin.screenshot({ path: artifactPath('host-forget-dialog-zh.png') });
    await admin.getByRole('button', { name: '取消' }).click();
    expect(await admin.getByRole('dialog').count()).toBe(0);
    await admin.context().close();
  });
});
