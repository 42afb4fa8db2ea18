/**
 * The host page's Traffic panel in Chromium against a real server and agent: the cycle's dates,
 * used against the quota with its direction, the correction mark and one bar per day, in English
 * and Simplified Chinese.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

let server: ServerProc;
let agent: AgentProc;
let browser: Browser;
let agentId: string;

const send = (method: string, path: string, body: unknown) =>
  fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  // The quota feed to the alert evaluator every second instead of every minute.
  server = await startServer({ env: { FALCONET_TRAFFIC_ALERT_EVERY: '1s' } });
  agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, interval: '1s' });
  agentId = await eventually(
    async () => (await getJson<{ items: { id: string }[] }>(`${server.url}/api/agents?status=online`)).items[0]?.id,
    60_000,
  );
  // Loopback counts here (named in the plan), so the panel has traffic to show.
  expect(
    (await send('PUT', `/api/traffic/plans/${agentId}`, { interfaces: ['lo'], quota_bytes: 10_000_000_000, quota_direction: 'out' }))
      .status,
  ).toBe(200);
  expect((await send('POST', `/api/traffic/correction/${agentId}`, { tx_bytes: 2_500_000_000 })).status).toBe(200);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  await server?.stop();
}, 60_000);

async function hostPage(lang: 'en' | 'zh'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.addInitScript((l) => localStorage.setItem('falconet.lang', l), lang);
  await page.goto(`${server.url}/agents/${encodeURIComponent(agentId)}`);
  await page.getByTestId('traffic').waitFor({ timeout: 30_000 });
  return page;
}

describe('the Traffic panel', () => {
  it('shows used against the quota, the correction and the daily bars', async () => {
    const page = await hostPage('en');
    const used = await page.getByTestId('traffic-used').textContent();
    expect(used).toMatch(/^2\.\d GiB of 9\.3 GiB \(25\.\d%\) \(outbound\)$/);
    expect(await page.getByTestId('traffic').textContent()).toContain('corrected to the provider’s figure');
    expect(await page.locator('.traffic-day').count()).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: artifactPath('ui-traffic-en.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('in Chinese', async () => {
    const page = await hostPage('zh');
    expect(await page.getByTestId('traffic').textContent()).toContain('本周期流量');
    expect(await page.getByTestId('traffic-used').textContent()).toMatch(/^已用 2\.\d GiB \/ 9\.3 GiB（25\.\d%） \(出站\)$/);
    await page.close();
  }, 60_000);

  it('gives the quota use to the alert evaluator: a threshold rule at 20 % fires, one at 80 % does not', async () => {
    const rule = async (threshold: number) => {
      const res = await send('POST', '/api/alerts/rules', {
        name: `Traffic ${threshold}%`,
        metric: 'falconet_traffic_quota_used_percent',
        aggregation: 'last',
        window: '5m',
        op: '>=',
        threshold,
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const low = await rule(20);
    const high = await rule(80);
    type Alerts = { items: { agent: string; state: string; value: number }[] };
    const firing = await eventually(
      async () =>
        (await getJson<Alerts>(`${server.url}/api/alerts?rule=${low}`)).items.find((a) => a.agent === agentId && a.state === 'firing'),
      60_000,
    );
    expect(firing.value).toBeGreaterThanOrEqual(25);
    expect((await getJson<Alerts>(`${server.url}/api/alerts?rule=${high}`)).items).toEqual([]);
  }, 90_000);
});
