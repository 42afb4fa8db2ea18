/**
 * The Updates page in Chromium against a real server process with users, a release stored by the
 * real CLI, and four scripted agents on the real agent channel: reached from the navigation, an
 * admin starts a 50% rollout and two agents get the offer; an agent's refusal shows with its reason
 * in its colour; pause and resume; a viewer reads but cannot act; the page speaks Chinese and fits
 * a phone.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { pb } from '@falconet/protocol';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawStream, rawStream, registerMessage, registerOn } from '../testing/agent-channel.ts';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { measureFit } from '../testing/page-fit.ts';
import { createToken, createUser, runServer, type ServerProc, startServer, tempDir } from '../testing/processes.ts';

const WAIT = { timeout: 30_000 };
let server: ServerProc;
let browser: Browser;
const agents = new Map<string, RawStream>();

beforeAll(async () => {
  server = await startServer();
  await createUser(server.dataDir, 'admin-1', 'admin', 'admin-password');
  await createUser(server.dataDir, 'viewer-1', 'viewer', 'viewer-password');
  const file = join(tempDir(), 'falconet-agent-0.2.0-linux-x64');
  copyFileSync('/bin/true', file);
  const added = await runServer(['release', 'add', file, '--data-dir', server.dataDir]);
  expect(added.code, added.out.join('\n')).toBe(0);
  for (const id of ['u1', 'u2', 'u3', 'u4']) {
    const { token } = await createToken(server.dataDir, { agent: id });
    const s = rawStream(`127.0.0.1:${server.grpcPort}`);
    await registerOn(s, registerMessage(id, { token, version: '0.1.0', releaseTarget: 'linux-x64', updateBlocked: '' }));
    agents.set(id, s);
  }
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  for (const s of agents.values()) s.close();
  await browser?.close();
  await server?.stop();
});

async function signedIn(role: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
  const context: BrowserContext = await browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByTestId('signin-name').fill(`${role}-1`);
  await page.getByTestId('signin-password').fill(`${role}-password`);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('nav-updates').waitFor(WAIT);
  return page;
}

const offered = () => [...agents.entries()].filter(([, s]) => s.received.some((m) => m.body?.$case === 'updateOffer')).map(([id]) => id);

describe('the Updates page', () => {
  it('an admin starts a 50% rollout from the navigation; offers, a refusal with its reason, pause and resume show', async () => {
    const page = await signedIn('admin');
    await page.getByTestId('nav-updates').click();
    await page.waitForURL(`${server.url}/updates`);
    await page.getByRole('heading', { name: 'Agent updates' }).waitFor(WAIT);
    await expect.poll(() => page.getByTestId('release-row').count(), WAIT).toBe(1);
    expect(await page.getByTestId('release-row').textContent()).toContain('0.2.0');

    const form = page.getByRole('form', { name: 'New rollout' });
    await form.getByLabel('Share of eligible agents').fill('50');
    await form.getByRole('button', { name: 'Start rollout' }).click();
    const card = page.getByTestId('rollout');
    await card.waitFor(WAIT);
    await expect.poll(() => card.getAttribute('data-status'), WAIT).toBe('active');
    await expect.poll(() => offered().length, WAIT).toBe(2);
    await expect.poll(() => card.textContent(), WAIT).toContain('2 chosen');

    // One of the two refuses; its row shows the state and the reason in the refusal's colour.
    const [refuser, other] = offered() as [string, string];
    const rolloutId = (await card.getAttribute('data-rollout-id')) as string;
    agents.get(refuser)?.send({
      body: {
        $case: 'updateStatus',
        value: {
          rolloutId,
          state: pb.UpdateState.UPDATE_STATE_REFUSED,
          fromVersion: '0.1.0',
          toVersion: '0.2.0',
          reason: 'downgrade from 0.3.0 to 0.2.0 refused',
          timeMs: Date.now(),
        },
      },
    });
    await page.getByTestId('rollout-agents-toggle').click();
    const refusedRow = page.locator(`[data-testid=rollout-agent][data-agent-id=${refuser}]`);
    await expect.poll(() => refusedRow.getAttribute('data-state'), WAIT).toBe('refused');
    expect(await refusedRow.textContent()).toContain('downgrade from 0.3.0 to 0.2.0 refused');
    const otherRow = page.locator(`[data-testid=rollout-agent][data-agent-id=${other}]`);
    expect(await otherRow.getAttribute('data-state')).toBe('offered');
    const colour = (row: typeof refusedRow) =>
      row
        .locator('.update-state')
        .evaluate(
          (e) =>
            (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor,
        );
    expect(await colour(refusedRow)).not.toBe(await colour(otherRow));
    await expect.poll(() => page.locator('[data-testid=rollout-count][data-state=refused]').textContent(), WAIT).toBe('refused 1');

    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('updates-admin.png'), fullPage: true });

    await page.getByTestId('rollout-pause').click();
    await expect.poll(() => card.getAttribute('data-status'), WAIT).toBe('paused');
    expect(await page.getByTestId('rollout-status').textContent()).toBe('paused');
    await page.getByTestId('rollout-resume').click();
    await expect.poll(() => card.getAttribute('data-status'), WAIT).toBe('active');
    await page.context().close();
  });

  it('a viewer reads the rollouts and agent states but has nothing to act with', async () => {
    const page = await signedIn('viewer');
    await page.getByTestId('nav-updates').click();
    await page.getByTestId('rollout').waitFor(WAIT);
    expect(await page.getByText('Only an admin can start or change a rollout.').count()).toBe(1);
    expect(await page.getByRole('form', { name: 'New rollout' }).count()).toBe(0);
    expect(await page.getByTestId('rollout-pause').count()).toBe(0);
    expect(await page.getByTestId('rollout-cancel').count()).toBe(0);
    await page.getByTestId('rollout-agents-toggle').click();
    await expect.poll(() => page.getByTestId('rollout-agent').count(), WAIT).toBe(2);
    // The API refuses the viewer too, whatever the page shows.
    const status = await page.evaluate(async () => (await fetch('/api/rollouts', { method: 'POST' })).status);
    expect(status).toBe(403);
    await page.context().close();
  });

  it('speaks Chinese', async () => {
    const page = await signedIn('admin');
    await page.evaluate(() =>
      (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('falconet.lang', 'zh'),
    );
    await page.goto(`${server.url}/updates`);
    await page.getByRole('heading', { name: '代理更新' }).waitFor(WAIT);
    expect(await page.getByTestId('nav-updates').textContent()).toBe('更新');
    await page.getByRole('form', { name: '新建发布' }).waitFor(WAIT);
    expect(await page.getByTestId('rollout-status').textContent()).toBe('进行中');
    await page.getByTestId('rollout-agents-toggle').click();
    await expect
      .poll(() => page.locator('[data-testid=rollout-agent][data-state=refused] .update-state').textContent(), WAIT)
      .toBe('已拒绝');
    await page.screenshot({ path: artifactPath('updates-admin-zh.png'), fullPage: true });
    await page.context().close();
  });

  it('fits a phone', async () => {
    const page = await signedIn('admin', { width: 390, height: 800 });
    await page.goto(`${server.url}/updates`);
    await page.getByTestId('rollout').waitFor(WAIT);
    await page.getByTestId('rollout-agents-toggle').click();
    await expect.poll(() => page.getByTestId('rollout-agent').count(), WAIT).toBe(2);
    const fit = await measureFit(page);
    expect(fit.escapees).toEqual([]);
    expect(fit.scrollWidth).toBeLessThanOrEqual(390);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('updates-phone.png'), fullPage: true });
    await page.context().close();
  });
});
