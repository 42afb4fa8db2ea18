import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';
import { realisticHostSeries } from '../testing/series.ts';
import { AgentSimulator } from '../testing/simulator.ts';

const SIMULATED = 40;

let server: ServerProc;
let agent: AgentProc;
let sim: AgentSimulator;
let gone: AgentSimulator;
let browser: Browser;
let realId: string;

interface AgentList {
  items: { id: string; hostname: string; status: string }[];
}

beforeAll(async () => {
  server = await startServer();
  agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, interval: '1s' });
  const generate = realisticHostSeries({ seriesPerHost: 150 });
  sim = new AgentSimulator({
    server: `127.0.0.1:${server.grpcPort}`,
    count: SIMULATED,
    intervalMs: 1000,
    prefix: 'uisim',
    ledger: false,
    labels: (i) => ({ role: i % 2 ? 'web' : 'db', zone: `z${i % 3}` }),
    series: (i, t) => generate(i, t),
  });
  void sim.start();
  // One agent that reports a little and then stops: the dashboard must show it offline.
  gone = new AgentSimulator({ server: `127.0.0.1:${server.grpcPort}`, count: 1, intervalMs: 1000, prefix: 'uigone', ledger: false });
  void gone.start();
  const list = await eventually(async () => {
    const r = await getJson<AgentList>(`${server.url}/api/agents?status=online&limit=1000`);
    return r.items.length >= SIMULATED + 2 ? r : undefined;
  }, 60_000);
  realId = (list.items.find((a) => !a.id.startsWith('uisim') && !a.id.startsWith('uigone')) as { id: string }).id;
  await eventually(async () => {
    const r = await getJson<{ series: { points: unknown[] }[] }>(
      `${server.url}/api/metrics?agent=uigone-0&name=falconet_cpu_usage_percent`,
    );
    return (r.series[0]?.points.length ?? 0) >= 3 ? r : undefined;
  }, 30_000);
  await gone.stop();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await sim?.stop();
  await agent?.stop();
  await server?.stop();
});

async function newPage(opts: { width?: number; height?: number } = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({
    viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 },
    // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
    bypassCSP: true,
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}

async function axe(page: Page, name: string): Promise<void> {
  const bad = await seriousA11yViolations(page);
  expect(bad, `${name}: ${JSON.stringify(bad, null, 1)}`).toEqual([]);
}

const cpuOf = (page: Page, id: string) =>
  page.locator(`[data-testid="agent-row"][data-agent-id="${id}"] [data-testid="cpu"]`).textContent();

describe('overview', () => {
  it('lists every agent with live values that change, and filters, sorts and groups', async () => {
    const { page, errors } = await newPage();
    await page.goto(server.url);
    await expect.poll(() => page.getByTestId('live-status').getAttribute('data-live'), { timeout: 15_000 }).toBe('on');
    await expect.poll(() => page.getByTestId('agent-count').textContent(), { timeout: 15_000 }).toContain(`of ${SIMULATED + 2} agents`);
    await expect.poll(() => page.getByTestId('fleet-agents').textContent(), { timeout: 15_000 }).toBe(String(SIMULATED + 2));
    // A simulated agent's CPU cell changes with the samples that arrive over the socket.
    const first = await eventually(async () => {
      const v = await cpuOf(page, 'uisim-0');
      return v && v !== '–' ? v : undefined;
    }, 15_000);
    await expect.poll(() => cpuOf(page, 'uisim-0'), { timeout: 15_000 }).not.toBe(first);
    // The stopped agent turns offline in place.
    await expect
      .poll(() => page.locator('[data-testid="agent-row"][data-agent-id="uigone-0"]').getAttribute('data-status'), { timeout: 30_000 })
      .toBe('offline');

    await page.getByTestId('agent-search').fill('uisim-host-0001');
    await expect.poll(() => page.getByTestId('agent-row').count()).toBe(10);
    await page.getByTestId('agent-search').fill('');
    await page.getByTestId('filter-status').selectOption('offline');
    await expect.poll(() => page.getByTestId('agent-row').count()).toBe(1);
    await page.getByTestId('filter-status').selectOption('');
    await page.getByTestId('filter-label').selectOption('role=web');
    await expect.poll(() => page.getByTestId('agent-count').textContent()).toContain(`${SIMULATED / 2} of`);
    await page.getByTestId('filter-label').selectOption('');
    await page.getByTestId('group-by').selectOption('zone');
    await expect
      .poll(() => page.getByTestId('group-row').allTextContents())
      .toEqual(expect.arrayContaining([expect.stringContaining('zone=z0'), expect.stringContaining('zone=z1')]));
    await page.getByTestId('group-by').selectOption('');
    await page.getByTestId('sort').selectOption('cpu');
    await page.getByTestId('sort-desc').check();
    const cpus = async () =>
      (await page.locator('[data-testid="agent-row"] [data-testid="cpu"]').allTextContents())
        .map((s) => Number.parseFloat(s))
        .filter(Number.isFinite);
    const sorted = await cpus();
    expect(sorted.length).toBeGreaterThan(5);
    // Sorted when the list was made; values painted since may have moved a little.
    expect(sorted[0] as number).toBeGreaterThanOrEqual((sorted[sorted.length - 1] as number) - 5);
    await axe(page, 'overview');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the agents on a phone', async () => {
    const { page, errors } = await newPage({ width: 390, height: 844 });
    await page.goto(server.url);
    await page.getByTestId('agent-row').first().waitFor({ timeout: 15_000 });
    const overflow = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
      return d.documentElement.scrollWidth - d.documentElement.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: artifactPath('ui-phone-overview.png') });
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('host page', () => {
  it('renders data for each range, live by default, with synced charts', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/agents/${encodeURIComponent(realId)}`);
    const cpu = page.getByTestId('chart-CPU');
    const points = async () => Number(await cpu.getAttribute('data-points'));
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(0);
    const before = await points();
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(before);
    for (const id of ['cpu-cores', 'cpu-modes', 'load', 'Memory', 'memory-bytes', 'network', 'procs']) {
      await expect
        .poll(async () => Number(await page.getByTestId(`chart-${id}`).getAttribute('data-series')), { timeout: 20_000 })
        .toBeGreaterThan(0);
    }
    for (const range of ['1h', '6h', '24h', '7d', '30d', '15m']) {
      await page.getByTestId(`range-${range}`).click();
      await expect.poll(async () => (await page.getByTestId(`range-${range}`).getAttribute('aria-pressed')) === 'true').toBe(true);
      await expect.poll(points, { timeout: 20_000, message: `range ${range}` }).toBeGreaterThan(0);
    }
    await page.getByTestId('range-custom').click();
    await page.getByTestId('custom-range').getByRole('button').click();
    await expect.poll(points, { timeout: 20_000, message: 'custom range' }).toBeGreaterThan(0);
    // uPlot charts share one cursor: hovering one moves the others'.
    await page.getByTestId('range-15m').click();
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(1);
    const box = await page.locator('[data-testid="chart-CPU"] .u-over').boundingBox();
    if (!box) throw new Error('no plot area');
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
    await expect
      .poll(() =>
        page
          .locator('[data-testid="chart-Memory"] .u-cursor-x')
          .evaluate((e) => (e as unknown as { style: { transform: string } }).style.transform),
      )
      .toMatch(/translate/);
    await page.screenshot({ path: artifactPath('ui-host-cursor.png'), fullPage: true });
    await axe(page, 'host');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('says an agent is offline and shows its data up to then', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/agents/uigone-0`);
    await page.getByTestId('offline-banner').waitFor({ timeout: 30_000 });
    await expect
      .poll(async () => Number(await page.getByTestId('chart-CPU').getAttribute('data-points')), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await page.screenshot({ path: artifactPath('ui-host-offline.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the containers tab', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/agents/${encodeURIComponent(realId)}`);
    await page.getByTestId('tab-containers').click();
    // This machine may or may not run containers: the table, or a line saying there are none.
    await page.locator('[data-testid="containers"], [data-testid="ctr-none"]').first().waitFor({ timeout: 20_000 });
    expect(await page.getByRole('tab', { selected: true }).textContent()).toBe('Containers');
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('language and theme', () => {
  it('switch, persist, and look right in light/dark x English/Chinese', async () => {
    const { page, errors } = await newPage();
    await page.goto(server.url);
    await page.getByTestId('agent-row').first().waitFor({ timeout: 15_000 });
    await page.getByTestId('lang-switch').selectOption('zh');
    await expect.poll(() => page.getByTestId('nav-overview').textContent()).toBe('总览');
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await page.reload();
    await expect.poll(() => page.getByTestId('nav-overview').textContent()).toBe('总览');
    const before = await page.locator('html').getAttribute('data-theme');
    await page.getByTestId('theme-switch').click();
    const after = await page.locator('html').getAttribute('data-theme');
    expect(after).not.toBe(before);
    await page.reload();
    expect(await page.locator('html').getAttribute('data-theme')).toBe(after);

    for (const theme of ['light', 'dark'] as const) {
      for (const lang of ['en', 'zh'] as const) {
        await page.evaluate(
          ([th, la]) => {
            const ls = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage;
            ls.setItem('falconet.theme', th as string);
            ls.setItem('falconet.lang', la as string);
          },
          [theme, lang],
        );
        await page.goto(server.url);
        await page.getByTestId('agent-row').first().waitFor({ timeout: 15_000 });
        await expect.poll(() => page.getByTestId('nav-overview').textContent()).toBe(lang === 'zh' ? '总览' : 'Overview');
        expect(await page.locator('html').getAttribute('data-theme')).toBe(theme);
        await page.waitForTimeout(500);
        await page.screenshot({ path: artifactPath(`ui-overview-${theme}-${lang}.png`) });
        if (theme === 'dark') await axe(page, `overview ${theme} ${lang}`);
        await page.goto(`${server.url}/agents/${encodeURIComponent(realId)}`);
        await expect
          .poll(async () => Number(await page.getByTestId('chart-CPU').getAttribute('data-points')), { timeout: 20_000 })
          .toBeGreaterThan(0);
        await page.waitForTimeout(500);
        await page.screenshot({ path: artifactPath(`ui-host-${theme}-${lang}.png`), fullPage: true });
      }
    }
    await page.evaluate(() => (globalThis as unknown as { localStorage: { clear(): void } }).localStorage.clear());
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('accessibility', () => {
  it('axe-core finds no serious or critical violation on alerts, tasks and settings', async () => {
    const { page, errors } = await newPage();
    for (const [path, ready] of [
      ['/alerts', 'nav-alerts'],
      ['/tasks', 'nav-tasks'],
      ['/settings', undefined],
    ] as const) {
      await page.goto(`${server.url}${path}`);
      if (ready) await page.getByTestId(ready).waitFor();
      await page.waitForLoadState('networkidle');
      await axe(page, path);
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});
