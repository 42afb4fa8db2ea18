import { type AgentIdentity, ReportStream, SequenceCounter } from '@falconet/agent';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { createUser, eventually, getJson, type ServerProc, startServer, tempDir } from '../testing/processes.ts';
import { hostSummarySeries } from '../testing/simulator.ts';

/**
 * The dashboard in Chromium against a real server: agents whose host names and labels carry
 * XSS payloads render as text and nothing executes, under the server's strict CSP, before and
 * after the first user exists; then sign-in, settings and sign-out through the UI.
 */
const PAYLOADS = [
  '<img src=x onerror="window.__xss=1;alert(1)">',
  '<script>window.__xss=2</script>',
  '"><svg onload=window.__xss=3>',
  'javascript:window.__xss=4//',
  '<iframe srcdoc="<script>parent.__xss=5</script>"></iframe>',
  "{{constructor.constructor('window.__xss=6')()}}",
  '</title><a href="javascript:window.__xss=7">x</a>',
];

/** The little of the DOM the page functions below use; the tests' tsconfig has no DOM library. */
interface PageElement {
  attributes: ArrayLike<{ name: string }>;
  getAttribute(name: string): string | null;
}
interface PageGlobals {
  __xss?: number;
  document: {
    title: string;
    cookie: string;
    querySelectorAll(selector: string): ArrayLike<PageElement>;
    addEventListener(type: string, listener: (e: { violatedDirective: string; blockedURI: string }) => void): void;
  };
}

let server: ServerProc;
let browser: Browser | undefined;
const streams: ReportStream[] = [];

beforeAll(async () => {
  server = await startServer();
  // Connected before the first user exists, so no agent token is needed (the Access rule).
  PAYLOADS.forEach((payload, i) => {
    const identity: AgentIdentity = {
      agentId: `xss-${i}`,
      hostname: `${payload}-host`,
      ips: ['10.9.9.9'],
      primaryIp: '10.9.9.9',
      os: `Linux ${payload}`,
      kernel: payload,
      arch: 'x64',
      platform: 'linux',
      bootTimeMs: Date.now() - 3_600_000,
    };
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port: server.grpcPort, tls: false },
      identity,
      labels: { note: payload, team: `</script><script>window.__xss=${10 + i}</script>` },
      token: '',
      intervalMs: 60_000,
      log: pino({ level: 'silent' }),
      sequence: new SequenceCounter(tempDir()),
    });
    stream.start();
    stream.enqueue(hostSummarySeries(i, Date.now()));
    streams.push(stream);
  });
  await eventually(async () => {
    const list = await getJson<{ items: { id: string; status: string }[] }>(`${server.url}/api/agents`);
    return list.items.filter((a) => a.id.startsWith('xss-') && a.status === 'online').length === PAYLOADS.length;
  }, 30_000);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const s of streams) await s.stop();
  await server?.stop();
});

interface Watch {
  dialogs: string[];
  errors: string[];
  violations: string[];
}

async function watchedPage(): Promise<{ page: Page; watch: Watch }> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  const watch: Watch = { dialogs: [], errors: [], violations: [] };
  page.on('dialog', (d) => {
    watch.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => watch.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.text().startsWith('csp-violation ')) watch.violations.push(m.text());
  });
  await page.addInitScript(() => {
    const { document } = globalThis as unknown as PageGlobals;
    document.addEventListener('securitypolicyviolation', (e) => console.log(`csp-violation ${e.violatedDirective} ${e.blockedURI}`));
  });
  return { page, watch };
}

/**
 * Nothing the payloads carry became markup: no handlers, frames or inline scripts, no flag set,
 * and the tab's title is the page's own (a host page's names the host, as text).
 */
async function expectInert(page: Page, watch: Watch, title = 'Overview · Falconet'): Promise<void> {
  const found = await page.evaluate(() => {
    const page = globalThis as unknown as PageGlobals;
    const all = (selector: string) => Array.from(page.document.querySelectorAll(selector));
    return {
      flag: page.__xss,
      handlers: all('*').filter((e) => Array.from(e.attributes).some((a) => a.name.startsWith('on'))).length,
      frames: all('iframe, frame, object, embed').length,
      inlineScripts: all('script:not([src])').length,
      jsLinks: all('a[href]').filter((a) => a.getAttribute('href')?.trim().toLowerCase().startsWith('javascript:')).length,
      title: page.document.title,
    };
  });
  expect(found).toEqual({ flag: undefined, handlers: 0, frames: 0, inlineScripts: 0, jsLinks: 0, title });
  expect(watch.dialogs).toEqual([]);
  expect(watch.errors).toEqual([]);
}

async function expectAgentsAsText(page: Page): Promise<void> {
  const rows = page.getByTestId('agent-row');
  await expect.poll(() => rows.count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(PAYLOADS.length);
  for (const [i, payload] of PAYLOADS.entries()) {
    const row = page.locator(`[data-testid="agent-row"][data-agent-id="xss-${i}"]`);
    // The payload is on the page as the very characters it is made of.
    expect(await row.textContent()).toContain(`${payload}-host`);
  }
}

describe('XSS payloads in host names and labels', () => {
  it('render as text in the list and on the host page, under a CSP that reports nothing', async () => {
    const { page, watch } = await watchedPage();
    await page.goto(server.url);
    await expectAgentsAsText(page);
    await expectInert(page, watch);
    for (const i of [0, 2, 4]) {
      await page.locator(`[data-testid="agent-row"][data-agent-id="xss-${i}"]`).getByRole('link').click();
      await expect.poll(() => page.locator('h1').textContent(), { timeout: 10_000 }).toContain(`${PAYLOADS[i]}-host`);
      await page.getByTestId('chart-CPU').waitFor();
      await expectInert(page, watch, `${PAYLOADS[i]}-host · Falconet`);
      await page.goBack();
    }
    await page.screenshot({ path: artifactPath('auth-xss-agents.png'), fullPage: true });
    // The dashboard works under the server's Content-Security-Policy: nothing was blocked.
    expect(watch.violations).toEqual([]);
    await page.close();
  });
});

describe('sign-in, settings and sign-out in the dashboard', () => {
  it('asks for sign-in once a user exists, and manages users and tokens', async () => {
    await createUser(server.dataDir, 'root', 'admin', 'root-password');

    const { page, watch } = await watchedPage();
    await page.goto(server.url);
    await page.getByTestId('signin-form').waitFor({ timeout: 10_000 });
    await page.getByTestId('signin-name').fill('root');
    await page.getByTestId('signin-password').fill('wrong-password');
    await page.getByTestId('signin-submit').click();
    await expect.poll(() => page.getByTestId('signin-error').textContent(), { timeout: 10_000 }).toBe('wrong name or password');
    await page.getByTestId('signin-password').fill('root-password');
    await page.getByTestId('signin-submit').click();

    // Signed in: the same hostile agents, still inert, and the live socket connects with the cookie.
    await expectAgentsAsText(page);
    await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 15_000 }).toBe('live');
    await expect.poll(() => page.getByTestId('account-menu').textContent()).toContain('root (admin)');
    await expectInert(page, watch);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'falconet_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.cookie)).toBe('');

    await page.getByRole('link', { name: 'Settings' }).click();
    // A server without cluster.nats says it runs alone and lists itself.
    await expect.poll(() => page.getByTestId('cluster-alone').textContent(), { timeout: 10_000 }).toContain('runs alone');
    await expect.poll(() => page.getByTestId('cluster-node').count()).toBe(1);
    const form = page.getByTestId('new-user');
    await form.getByLabel('Name', { exact: true }).fill('watcher');
    await form.getByLabel('Password', { exact: true }).fill('watcher-password');
    await form.getByRole('button', { name: 'Add user' }).click();
    await page.locator('[data-testid="user-row"][data-name="watcher"]').waitFor();
    const tokenForm = page.getByTestId('new-token');
    await tokenForm.getByLabel('Name', { exact: true }).fill('grafana');
    await tokenForm.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('new-token-secret').textContent()) ?? '';
    expect(secret).toMatch(/^fnt_/);
    expect((await fetch(`${server.url}/api/agents`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
    await page.reload();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBeGreaterThan(2);
    await page.screenshot({ path: artifactPath('auth-settings.png'), fullPage: true });

    await page.goto(server.url);
    await page.getByTestId('signout').click();
    await page.getByTestId('signin-form').waitFor();
    expect((await page.context().cookies()).find((c) => c.name === 'falconet_session')).toBeUndefined();
    expect(watch.violations).toEqual([]);
    expect(watch.errors).toEqual([]);
    await page.close();
  });
});
