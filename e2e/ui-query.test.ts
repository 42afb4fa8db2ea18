/**
 * The Query page in Chromium against a real server and a real agent: reached from the navigation,
 * a PromQL expression draws a graph and fills a table, a malformed one shows the API's own error,
 * the ranges re-run it, the page speaks Chinese and fits a phone.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { measureFit } from '../testing/page-fit.ts';
import { type AgentProc, createUser, eventually, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

const WAIT = { timeout: 30_000 };
let server: ServerProc;
let agent: AgentProc;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  // The agent reports before the first user exists (loopback, no token needed), so there is data to chart.
  agent = await startAgent({ server: `http://127.0.0.1:${server.grpcPort}`, interval: '1s' });
  await eventually(async () => {
    const r = (await (await fetch(`${server.url}/api/v1/query?query=node_load1`)).json()) as { data?: { result: unknown[] } };
    return (r.data?.result.length ?? 0) > 0;
  }, 60_000);
  await agent.stop();
  await createUser(server.dataDir, 'viewer-1', 'viewer', 'viewer-password');
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await agent?.stop();
  await browser?.close();
  await server?.stop();
});

async function signedIn(viewport = { width: 1280, height: 900 }): Promise<Page> {
  // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
  const context: BrowserContext = await browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.getByTestId('signin-name').fill('viewer-1');
  await page.getByTestId('signin-password').fill('viewer-password');
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('nav-query').waitFor(WAIT);
  return page;
}

async function runQuery(page: Page, expr: string): Promise<void> {
  await page.getByTestId('query-expr').fill(expr);
  await page.getByTestId('query-run').click();
}

describe('the Query page', () => {
  it('is reached from the navigation; a query draws a graph and fills the table; ranges re-run it', async () => {
    const page = await signedIn();
    await page.getByTestId('nav-query').click();
    await page.waitForURL(`${server.url}/query`);
    await page.getByRole('heading', { name: 'Query' }).waitFor(WAIT);
    await runQuery(page, 'node_load1');
    await page.getByTestId('query-graph').waitFor(WAIT);
    expect(await page.getByTestId('query-graph').getAttribute('data-series')).toBe('1');
    await expect.poll(() => page.locator('[data-testid=query-table] tbody tr').count(), WAIT).toBe(1);
    const row = (await page.locator('[data-testid=query-table] tbody tr').textContent()) ?? '';
    expect(row).toMatch(/^node_load1\{.*instance="[^"]+".*job="falconet"\}[0-9.e+-]+$/);
    // The address carries the query; a longer range asks again with a coarser step.
    expect(page.url()).toContain('q=node_load1');
    const before = await page.getByTestId('query-summary').textContent();
    await page.getByTestId('query-range-24h').click();
    await expect.poll(() => page.getByTestId('query-summary').textContent(), WAIT).not.toBe(before);
    expect(await page.getByTestId('query-summary').textContent()).toMatch(/1 series, step 216 s/);
    await page.screenshot({ path: artifactPath('query-graph.png'), fullPage: true });
    await page.context().close();
  });

  it('shows the API error of a malformed query, and a query with no data says so', async () => {
    const page = await signedIn();
    await page.goto(`${server.url}/query`);
    await runQuery(page, 'rate(node_load1[5m]');
    const err = page.getByTestId('query-error');
    await err.waitFor(WAIT);
    // The server's errorType and message, as Prometheus' API gives them.
    expect(await err.textContent()).toMatch(/^The server refused the query: bad_data: .+/);
    await runQuery(page, 'no_such_metric_anywhere');
    await page.getByTestId('query-empty').waitFor(WAIT);
    expect(await page.getByTestId('query-error').count()).toBe(0);
    await page.context().close();
  });

  it('speaks Chinese', async () => {
    const page = await signedIn();
    await page.evaluate(() =>
      (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('falconet.lang', 'zh'),
    );
    await page.goto(`${server.url}/query`);
    await page.getByRole('heading', { name: '查询' }).waitFor(WAIT);
    expect(await page.getByTestId('nav-query').textContent()).toBe('查询');
    expect(await page.getByTestId('query-run').textContent()).toBe('执行');
    await runQuery(page, 'sum(rate(');
    expect(await page.getByTestId('query-error').textContent()).toMatch(/^服务器拒绝了查询：bad_data/);
    await page.context().close();
  });

  it('fits a phone', async () => {
    const page = await signedIn({ width: 390, height: 800 });
    await page.goto(`${server.url}/query?q=${encodeURIComponent('node_cpu_seconds_total')}`);
    await page.getByTestId('query-run').click();
    await page.getByTestId('query-graph').waitFor(WAIT);
    const fit = await measureFit(page);
    expect(fit.escapees).toEqual([]);
    expect(fit.scrollWidth).toBeLessThanOrEqual(390);
    expect(await seriousA11yViolations(page)).toEqual([]);
    await page.screenshot({ path: artifactPath('query-phone.png'), fullPage: true });
    await page.context().close();
  });
});
