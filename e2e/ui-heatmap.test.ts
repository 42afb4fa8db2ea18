/**
 * The overview's heatmap at fleet size: a real server, 5,000 simulated agents on real gRPC streams
 * (reporting every 30 s, so two shared cores cope) and real Chromium. Also, on the same fleet: two
 * hosts of one name told apart, and the disk figure the same on the overview and the host page
 * (the simulated agents derive it with the agent's own HostSummary from the filesystem series
 * they send, which the host page's mounts table reads).
 */
import { HostSummary } from '@falconet/agent';
import type { Sample } from '@falconet/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { eventually, getJson, type ServerProc, startServer } from '../testing/processes.ts';
import { AgentSimulator } from '../testing/simulator.ts';

const AGENTS = 5000;
const GiB = 1024 ** 3;

let server: ServerProc;
let sim: AgentSimulator;
let browser: Browser;

/** Summary gauges with a spread of values, and `/`'s filesystem series with the agent's own disk figure. */
function fleetSeries(): (i: number, t: number) => Sample[] {
  const summaries = new Map<number, HostSummary>();
  return (i, t) => {
    const size = (50 + (i % 200)) * GiB;
    // Free includes the 5 % reserved for root, which is not available: the two definitions differ by it.
    const free = size * (0.1 + ((i * 37) % 80) / 100);
    const avail = Math.max(0, free - size * 0.05);
    const fs = { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/' };
    const families = [
      { name: 'node_filesystem_size_bytes', help: '', type: 'gauge' as const, metrics: [{ labels: fs, value: size }] },
      { name: 'node_filesystem_free_bytes', help: '', type: 'gauge' as const, metrics: [{ labels: fs, value: free }] },
      { name: 'node_filesystem_avail_bytes', help: '', type: 'gauge' as const, metrics: [{ labels: fs, value: avail }] },
    ];
    let summary = summaries.get(i);
    if (!summary) {
      summary = new HostSummary();
      summaries.set(i, summary);
    }
    const derived = summary.derive({ timestampMs: t, families });
    const g = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value, timestampMs: t });
    return [
      ...derived,
      ...families.map((f) => g(f.name, (f.metrics[0] as { value: number }).value, fs)),
      g('falconet_cpu_usage_percent', (i * 7 + t / 30_000) % 100),
      g('falconet_memory_used_percent', (i * 13) % 100),
      // Busy links: the fleet's totals come to hundreds of GiB/s, the longest figures the summary shows.
      g('falconet_network_receive_bytes_per_second', 123_456_789 + i),
      g('falconet_network_transmit_bytes_per_second', 98_765_432 + i),
    ];
  };
}

beforeAll(async () => {
  server = await startServer();
  sim = new AgentSimulator({
    server: `127.0.0.1:${server.grpcPort}`,
    count: AGENTS,
    intervalMs: 30_000,
    prefix: 'heat',
    ledger: false,
    series: fleetSeries(),
    // Two hosts named alike: the heatmap, the table and the host page must tell them apart.
    identity: (i) => (i === 1 || i === 2 ? { hostname: 'twin' } : {}),
  });
  await sim.start();
  sim.tick();
  await eventually(
    async () => (await getJson<{ total: number }>(`${server.url}/api/agents?status=online&limit=1`)).total >= AGENTS,
    300_000,
    2000,
  );
  // Every agent's first report stored (its summary is what the cells show).
  await eventually(
    async () => (await getJson<{ total: number }>(`${server.url}/api/agents?where=disk>0&limit=1`)).total >= AGENTS,
    120_000,
    2000,
  );
  browser = await launchChromium();
}, 420_000);

afterAll(async () => {
  await browser?.close();
  await sim?.stop();
  await server?.stop();
}, 120_000);

async function open(path: string, opts: { width?: number; height?: number; lang?: string; theme?: string } = {}): Promise<Page> {
  // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
  const page = await browser.newPage({ viewport: { width: opts.width ?? 1440, height: opts.height ?? 900 }, bypassCSP: true });
  await page.addInitScript(
    ([lang, theme]) => {
      localStorage.setItem('falconet.lang', lang as string);
      localStorage.setItem('falconet.theme', theme as string);
    },
    [opts.lang ?? 'en', opts.theme ?? 'light'],
  );
  await page.goto(`${server.url}${path}`);
  return page;
}

const canvasOf = (page: Page) => page.getByTestId('heatmap-canvas');

/** The page position of cell `i`'s centre, from the layout the canvas states. */
async function cellCentre(page: Page, i: number): Promise<{ x: number; y: number }> {
  const c = canvasOf(page);
  const box = await c.boundingBox();
  const cols = Number(await c.getAttribute('data-cols'));
  const cell = Number(await c.getAttribute('data-cell'));
  if (!box) throw new Error('no heatmap canvas on the page');
  return { x: box.x + (i % cols) * cell + cell / 2, y: box.y + Math.floor(i / cols) * cell + cell / 2 };
}

describe('the overview heatmap with 5,000 agents', () => {
  it('draws one cell per agent on one desktop screen, opens a host on a click, and switches CPU, memory and disk', async () => {
    const page = await open('/?view=heatmap');
    const c = canvasOf(page);
    await expect.poll(() => c.getAttribute('data-cells'), { timeout: 60_000 }).toBe(String(AGENTS));
    expect(await page.getByTestId('view-heatmap').getAttribute('aria-pressed')).toBe('true');
    // At a glance: the whole map inside the first screen, no scrolling.
    const box = await c.boundingBox();
    expect(box && box.y + box.height).toBeLessThanOrEqual(900);
    await page.screenshot({ path: artifactPath('heatmap-cpu-en-light.png') });
    expect(await seriousA11yViolations(page)).toEqual([]);

    // Hover names the host and its value with the unit; a click opens that host.
    const at = await cellCentre(page, 1234);
    await page.mouse.move(at.x, at.y);
    const tip = page.getByTestId('heatmap-tip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    expect(await tip.textContent()).toMatch(/^heat-host-\d{5}\nCPU \d+\.\d% used$/);
    const id = (await tip.getAttribute('data-agent-id')) as string;
    const host = ((await tip.textContent()) as string).split('\n')[0] as string;
    await page.mouse.click(at.x, at.y);
    await expect.poll(() => new URL(page.url()).pathname, { timeout: 15_000 }).toBe(`/agents/${id}`);
    expect(await page.locator('h1').first().textContent()).toContain(host);

    // Back: the heatmap again, from the address.
    await page.goBack();
    await expect.poll(() => c.getAttribute('data-cells'), { timeout: 30_000 }).toBe(String(AGENTS));
    for (const metric of ['memory', 'disk', 'cpu'] as const) {
      await page.getByTestId(`heat-${metric}`).click();
      await expect.poll(() => c.getAttribute('data-metric')).toBe(metric);
      expect(new URL(page.url()).search).toBe(metric === 'cpu' ? '?view=heatmap' : `?view=heatmap&metric=${metric}`);
      await page.mouse.move(at.x, at.y);
      const word = { cpu: 'CPU', memory: 'Memory', disk: 'Disk' }[metric];
      await expect.poll(() => tip.textContent()).toMatch(new RegExp(`\\n${word} \\d+\\.\\d% used$`));
      if (metric !== 'cpu') await page.screenshot({ path: artifactPath(`heatmap-${metric}-en-light.png`) });
    }
    await page.getByTestId('view-table').click();
    expect(new URL(page.url()).search).toBe('');
    await expect.poll(() => page.getByTestId('agent-row').count()).toBeGreaterThan(5);
    await page.close();
  }, 180_000);

  it('tells two hosts of one name apart in the heatmap, the table and the host page', async () => {
    const page = await open('/?view=heatmap&metric=disk', { lang: 'zh', theme: 'dark' });
    const c = canvasOf(page);
    await expect.poll(() => c.getAttribute('data-cells'), { timeout: 60_000 }).toBe(String(AGENTS));
    await page.screenshot({ path: artifactPath('heatmap-disk-zh-dark.png') });
    expect(await seriousA11yViolations(page)).toEqual([]);
    // Sorted by host name, the two `twin`s come last.
    for (const i of [AGENTS - 2, AGENTS - 1]) {
      const at = await cellCentre(page, i);
      await page.mouse.move(at.x, at.y);
      const tip = page.getByTestId('heatmap-tip');
      const id = (await tip.getAttribute('data-agent-id')) as string;
      await expect.poll(() => tip.textContent()).toMatch(new RegExp(`^twin \\(${id.slice(0, 8)} · 代理\\)\\n磁盘 \\d+\\.\\d% 已用$`));
    }
    // An agent that stops reporting: its cell turns grey and struck through, its tip says offline.
    await sim.streams[4]?.stop(0);
    const third = await cellCentre(page, 2);
    await expect
      .poll(
        async () => {
          await page.mouse.move(third.x, third.y + 1);
          await page.mouse.move(third.x, third.y);
          const tip = page.getByTestId('heatmap-tip');
          return [await tip.getAttribute('data-agent-id'), await tip.getAttribute('data-status'), await tip.textContent()];
        },
        { timeout: 60_000 },
      )
      .toEqual(['heat-4', 'offline', expect.stringMatching(/^heat-host-00004\n磁盘 \d+\.\d% 已用 · 离线$/)]);
    await page.screenshot({ path: artifactPath('heatmap-offline-zh-dark.png') });
    await page.getByTestId('view-table').click();
    await page.getByTestId('agent-search').fill('twin');
    await expect.poll(() => page.getByTestId('agent-row').count()).toBe(2);
    expect((await page.getByTestId('same-name').allTextContents()).sort()).toEqual(['heat-1 · 代理', 'heat-2 · 代理']);
    // Another host's row has no tag.
    await page.getByTestId('agent-search').fill('heat-host-00003');
    await expect.poll(() => page.getByTestId('agent-row').count()).toBe(1);
    expect(await page.getByTestId('same-name').count()).toBe(0);
    await page.goto(`${server.url}/agents/heat-2`);
    await expect.poll(() => page.locator('h1 [data-testid="same-name"]').textContent(), { timeout: 15_000 }).toBe('heat-2 · 代理');
    await page.close();
  }, 120_000);

  it('gives the same disk figure on the overview and in the host page mounts table', async () => {
    const page = await open('/');
    for (const i of [3, 42, 777]) {
      const host = `heat-host-${String(i).padStart(5, '0')}`;
      await page.getByTestId('agent-search').fill(host);
      const row = page.locator(`[data-testid="agent-row"][data-agent-id="heat-${i}"]`);
      await expect.poll(() => row.locator('[data-k="disk"] > span').first().textContent(), { timeout: 15_000 }).toMatch(/%$/);
      const overview = (await row.locator('[data-k="disk"] > span').first().textContent()) as string;
      expect(await row.locator('[data-k="disk"]').getAttribute('title')).toBe('/ mount, used / (used + available), as df computes it');
      await row.getByRole('link', { name: host }).click();
      const mount = page.locator('[data-testid="mounts"] tr[data-mount="/"]');
      await expect.poll(() => mount.getByTestId('mount-used').textContent(), { timeout: 15_000 }).toContain(`(${overview})`);
      await page.goBack();
    }
    await page.close();
  }, 120_000);

  it('keeps the summary figures on one line at every width down to 360 px, and shows the heatmap on a phone', async () => {
    const page = await open('/?view=heatmap', { width: 360, height: 740 });
    await expect.poll(() => canvasOf(page).getAttribute('data-cells'), { timeout: 60_000 }).toBe(String(AGENTS));
    await expect.poll(() => page.getByTestId('fleet-agents').textContent(), { timeout: 15_000 }).toBe(String(AGENTS));
    // One line each at every width down to 360 px: no taller than one line of its font, nothing cut off at the side.
    for (const w of [1440, 1024, 800, 600, 430, 390, 360]) {
      await page.setViewportSize({ width: w, height: 740 });
      const figures = await page.locator('[data-testid="fleet-summary"] dd').evaluateAll((dds) =>
        dds.map((dd) => {
          const el = dd as unknown as {
            textContent: string | null;
            scrollWidth: number;
            clientWidth: number;
            getBoundingClientRect(): { height: number };
          };
          const css = (globalThis as unknown as { getComputedStyle(e: unknown): { fontSize: string } }).getComputedStyle(dd);
          return {
            text: el.textContent,
            oneLine: el.getBoundingClientRect().height < 1.9 * Number.parseFloat(css.fontSize),
            overflow: el.scrollWidth > el.clientWidth,
          };
        }),
      );
      for (const f of figures) expect(f, `${w} px: ${JSON.stringify(f)}`).toMatchObject({ oneLine: true, overflow: false });
      // The longest figure there is: the fleet's hundreds of GiB/s each way.
      expect(figures.at(-1)?.text).toMatch(/^\d+\.\d GiB\/s \/ \d+\.\d GiB\/s$/);
    }
    // The map takes the new width with the resize event that follows: nothing wider than the screen then.
    await expect
      .poll(() =>
        page.evaluate(
          () => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth,
        ),
      )
      .toBeLessThanOrEqual(360);
    await page.screenshot({ path: artifactPath('heatmap-phone-en-light.png'), fullPage: true });
    await page.close();
  }, 120_000);
});
