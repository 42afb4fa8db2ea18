/**
 * The fleet Traffic page in Chromium against a real server and two real agents: a row per host
 * with its current cycle (used against the quota, the percent bar, in and out, the cycle's end),
 * sorting by a column and back, a row leading to that host's Traffic panel, and the page in
 * Simplified Chinese.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

let server: ServerProc;
const agents: AgentProc[] = [];
let browser: Browser;
/** The host with a quota and a correction (2.5 GB out of 10 GB), and the one without a plan. */
let quota: string;
let plain: string;

const send = (method: string, path: string, body: unknown) =>
  fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  server = await startServer();
  for (let i = 0; i < 2; i++) agents.push(await startAgent({ server: `127.0.0.1:${server.grpcPort}`, interval: '1s' }));
  const ids = await eventually(async () => {
    const items = (await getJson<{ items: { id: string }[] }>(`${server.url}/api/agents?status=online`)).items;
    return items.length === 2 ? items.map((a) => a.id) : undefined;
  }, 60_000);
  [quota, plain] = ids as [string, string];
  expect(
    (await send('PUT', `/api/traffic/plans/${quota}`, { interfaces: ['lo'], quota_bytes: 10_000_000_000, quota_direction: 'out' })).status,
  ).toBe(200);
  expect((await send('POST', `/api/traffic/correction/${quota}`, { tx_bytes: 2_500_000_000 })).status).toBe(200);
  // Both hosts have a current cycle in the fleet answer before the page is opened.
  await eventually(async () => (await getJson<{ hosts: unknown[] }>(`${server.url}/api/traffic/fleet`)).hosts.length === 2, 60_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const a of agents) await a.stop();
  await server?.stop();
}, 60_000);

async function trafficPage(lang: 'en' | 'zh'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.addInitScript((l) => localStorage.setItem('falconet.lang', l), lang);
  await page.goto(`${server.url}/traffic`);
  await page.getByTestId('fleet-traffic-row').nth(1).waitFor({ timeout: 30_000 });
  return page;
}

const order = (page: Page) => page.getByTestId('fleet-traffic-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-agent')));

describe('the fleet Traffic page', () => {
  it("lists every host's cycle, sorts by a column and opens a host's Traffic panel", async () => {
    const page = await trafficPage('en');
    // Fullest first by default: the host with a quota, then the one without (no percentage).
    expect(await order(page)).toEqual([quota, plain]);
    const first = page.getByTestId('fleet-traffic-row').first();
    expect(await first.getByTestId('fleet-traffic-used').textContent()).toMatch(/^2\.\d GiB \/ 9\.3 GiB$/);
    expect(await first.getByTestId('fleet-traffic-percent').textContent()).toMatch(/^25\.\d%$/);
    const second = page.getByTestId('fleet-traffic-row').nth(1);
    expect(await second.getByTestId('fleet-traffic-used').textContent()).toMatch(/ \/ no quota$/);
    expect(await second.getByTestId('fleet-traffic-percent').textContent()).toBe('–');
    await page.screenshot({ path: artifactPath('ui-fleet-traffic-en.png'), fullPage: true });

    await page.getByTestId('fleet-traffic-sort-percent').click();
    expect(await page.getByTestId('fleet-traffic-sort-percent').locator('..').getAttribute('aria-sort')).toBe('ascending');
    expect(await order(page)).toEqual([plain, quota]);
    await page.getByTestId('fleet-traffic-sort-used').click();
    expect(await order(page)).toEqual([quota, plain]);

    await first.getByRole('link').click();
    await page.getByTestId('traffic').waitFor({ timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe(`/agents/${encodeURIComponent(quota)}`);
    expect(new URL(page.url()).hash).toBe('#traffic');
    expect(await page.getByTestId('traffic-used').textContent()).toMatch(/^2\.\d GiB of 9\.3 GiB/);
    await page.close();
  }, 90_000);

  it('in Chinese', async () => {
    const page = await trafficPage('zh');
    expect(await page.getByTestId('fleet-traffic').locator('h1').textContent()).toBe('各主机流量（当前计费周期）');
    expect(await page.getByTestId('nav-traffic').textContent()).toBe('流量');
    expect(await page.getByTestId('fleet-traffic-row').nth(1).getByTestId('fleet-traffic-used').textContent()).toMatch(/ \/ 未设配额$/);
    await page.close();
  }, 60_000);
});
