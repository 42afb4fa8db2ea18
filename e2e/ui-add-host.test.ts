/**
 * The overview's "Add host" dialog in Chromium against a real server with users: admins only; it
 * makes a one-use enrollment token (labels optional, checked), shows the install command with this
 * server's address and the token, copies it, says when the token expires and which targets the
 * server holds no agent binary for; in English and Simplified Chinese, and at phone width. The
 * token in the command is one the server accepts: exchanged for an agent token, which registers.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseStore } from '../packages/server/src/releases/store.ts';
import { rawStream, registerMessage, registerOn } from '../testing/agent-channel.ts';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { createUser, type ServerProc, startServer, tempDir } from '../testing/processes.ts';
import { fakeAgentBinary } from '../testing/release.ts';

/** What the page scripts below touch in the browser (this file is type-checked without the DOM library). */
interface PageGlobals {
  document: {
    documentElement: { scrollWidth: number };
    querySelector(selector: string): { getBoundingClientRect(): { right: number } } | null;
  };
  innerWidth: number;
  navigator: { clipboard: { readText(): Promise<string> } };
}

let server: ServerProc;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  // A binary for linux-x64 only: the dialog must name linux-arm64 as missing.
  const file = join(tempDir('falconet-held-'), 'falconet-agent');
  writeFileSync(file, fakeAgentBinary('a held agent'));
  new ReleaseStore(server.dataDir).add({ file, version: '0.1.0', target: 'linux-x64' });
  for (const role of ['admin', 'viewer']) await createUser(server.dataDir, `${role}-1`, role, `${role}-password`);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function signedIn(role: string, opts: { lang?: 'zh'; width?: number } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: 860 }, bypassCSP: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  if (opts.lang) await context.addInitScript(() => localStorage.setItem('falconet.lang', 'zh'));
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByTestId('signin-name').fill(`${role}-1`);
  await page.getByTestId('signin-password').fill(`${role}-password`);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('fleet-summary').waitFor({ timeout: 20_000 });
  return page;
}

/** Opens the dialog, makes a token with `labels`, and returns the command shown. */
async function makeCommand(page: Page, labels = ''): Promise<string> {
  await page.getByTestId('add-host-open').click();
  await page.getByTestId('add-host-dialog').waitFor();
  if (labels) await page.getByTestId('add-host-labels').fill(labels);
  await page.getByTestId('add-host-create').click();
  await page.getByTestId('add-host-command').waitFor({ timeout: 20_000 });
  return (await page.getByTestId('add-host-command').textContent()) ?? '';
}

const COMMAND = /^curl -fsSL (http:\/\/127\.0\.0\.1:\d+)\/install\/agent\.sh \| sudo sh -s -- --token (fne_[A-Za-z0-9_-]+)$/;

describe('Add host', () => {
  it('is not offered to a viewer, and a viewer cannot make the token behind it', async () => {
    const page = await signedIn('viewer');
    expect(await page.getByTestId('add-host-open').count()).toBe(0);
    const status = await page.evaluate(async () => {
      const r = await fetch('/api/enrollment-tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', expires: '24h', maxUses: 1 }),
      });
      return r.status;
    });
    expect(status).toBe(403);
    await page.context().close();
  });

  it('gives an admin a command whose token the server accepts, once, with its labels', async () => {
    const page = await signedIn('admin');
    await page.getByTestId('add-host-open').click();
    await page.getByTestId('add-host-labels').fill('rack=7, 9bad=x');
    await page.getByTestId('add-host-create').click();
    expect(await page.getByText('Labels: "9bad=x" is not key=value').count()).toBe(1);
    expect(await page.getByTestId('add-host-command').count()).toBe(0);
    await page.getByTestId('add-host-close').click();

    const command = await makeCommand(page, 'rack=7, dc=ams');
    const [, origin, token] = COMMAND.exec(command) ?? [];
    expect(origin).toBe(server.url);
    expect(token).toMatch(/^fne_/);
    expect(await page.getByTestId('add-host-expires').textContent()).toMatch(/^The token works once, until .+\.$/);
    expect(await page.getByTestId('add-host-missing-linux-arm64').textContent()).toBe(
      'This server holds no agent binary for linux-arm64: hosts of that kind cannot install from it until an admin runs falconet-server release add FILE.',
    );
    expect(await page.getByTestId('add-host-missing-linux-x64').count()).toBe(0);
    await page.getByTestId('add-host-copy').click();
    await expect.poll(() => page.getByTestId('add-host-copy').textContent()).toBe('Copied');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.readText())).toBe(command);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('add-host-en.png') });

    // The token is the server's: exchanged once for an agent token, which registers on the agent channel.
    const exchange = async () =>
      await fetch(`${server.url}/install/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, hostname: 'ui-new-host' }),
      });
    const first = await exchange();
    expect(first.status).toBe(200);
    const agentToken = (await first.text()).trim();
    expect((await exchange()).status).toBe(401);
    const s = rawStream(`127.0.0.1:${server.grpcPort}`);
    await registerOn(s, registerMessage('ui-new-agent', { hostname: 'ui-new-host', token: agentToken }));
    s.close();
    const tokens = await page.evaluate(async () => (await (await fetch('/api/enrollment-tokens')).json()) as { items: unknown[] });
    expect(tokens.items[0]).toMatchObject({ name: 'add-host', maxUses: 1, uses: 1, labels: { rack: '7', dc: 'ams' } });
    await page.context().close();
  });

  it('speaks Simplified Chinese, and fits a phone screen', async () => {
    const page = await signedIn('admin', { lang: 'zh', width: 360 });
    expect(await page.getByTestId('add-host-open').textContent()).toBe('添加主机');
    const command = await makeCommand(page);
    expect(command).toMatch(COMMAND);
    expect(await page.getByRole('dialog', { name: '添加主机' }).count()).toBe(1);
    expect(await page.getByTestId('add-host-expires').textContent()).toMatch(/^该令牌仅可使用一次，有效期至 .+。$/);
    expect(await page.getByTestId('add-host-missing-linux-arm64').textContent()).toContain('此服务器没有 linux-arm64 的代理程序');
    expect(await page.getByTestId('add-host-copy').textContent()).toBe('复制');
    // Nothing wider than the screen: the page, the dialog, the command.
    const widths = await page.evaluate(() => {
      const { document, innerWidth } = globalThis as unknown as PageGlobals;
      const box = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.getBoundingClientRect();
      return {
        page: document.documentElement.scrollWidth,
        view: innerWidth,
        dialog: box('add-host-dialog')?.right ?? 0,
        command: box('add-host-command')?.right ?? 0,
      };
    });
    expect(widths.page).toBeLessThanOrEqual(widths.view);
    expect(widths.dialog).toBeLessThanOrEqual(widths.view);
    expect(widths.command).toBeLessThanOrEqual(widths.view);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('add-host-zh-phone.png') });
    await page.context().close();
  });
});
