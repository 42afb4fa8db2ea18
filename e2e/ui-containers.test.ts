/**
 * The host page's Containers tab in Chromium against a real server, fed by simulated agents whose
 * container series come from the agent's own collector writer and summary (testing/containers.ts):
 * the table, badges, counts, sorting, the exited filter, the Docker-down note, an expanded row's
 * charts with event marks, a live update over the page's one socket, Chinese, a phone, axe-core;
 * and the host header's addresses with the overview's search by any of them.
 */
import { createHash } from 'node:crypto';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { type SimulatedContainer, SimulatedContainerHost } from '../testing/containers.ts';
import { eventually, getJson, type ServerProc, startServer } from '../testing/processes.ts';
import { AgentSimulator, hostSummarySeries } from '../testing/simulator.ts';

const MiB = 2 ** 20;

const hex = (seed: string) => createHash('sha256').update(seed).digest('hex');

/** Host 0: Docker with containers in every state; host 1: Docker down; host 2: no container series. */
const POD: SimulatedContainer = {
  hexId: hex('cart'),
  name: '',
  image: 'docker.io/library/nginx:1.27',
  state: 'running',
  cpuCores: 0.15,
  memoryBytes: 300 * MiB,
  memoryLimitBytes: 512 * MiB,
  kubernetes: { namespace: 'shop', pod: 'cart-7d9f6', container: 'cart', podUid: '8a1e5f2c-1b2d-4c3e-9f4a-5b6c7d8e9f01' },
};
const POD_SHORT = POD.hexId.slice(0, 12);
const dockerHost = new SimulatedContainerHost({
  containers: [
    {
      hexId: hex('web'),
      name: 'web',
      image: 'nginx:1.27',
      state: 'running',
      health: 'healthy',
      cpuCores: 0.4,
      cpuLimitCores: 0.5,
      memoryBytes: 100 * MiB,
      memoryLimitBytes: 256 * MiB,
      receiveBps: 2048,
      transmitBps: 1024,
      readBps: 4096,
      writeBps: 8192,
      events: { start: 1 },
    },
    {
      hexId: hex('db'),
      name: 'db',
      image: 'postgres:16',
      state: 'running',
      cpuCores: 0.8,
      memoryBytes: 400 * MiB,
      restarts: 2,
      events: { start: 3, die: 2, oom: 1 },
    },
    {
      hexId: hex('cache'),
      name: 'cache',
      image: 'redis:7',
      state: 'paused',
      cpuCores: 0.2,
      memoryBytes: 50 * MiB,
      memoryLimitBytes: 128 * MiB,
    },
    { hexId: hex('flap'), name: 'flap', image: 'busybox:1.36', state: 'restarting', restarts: 5, events: { start: 5, die: 6 } },
    {
      hexId: hex('sick'),
      name: 'sick',
      image: 'busybox:1.36',
      state: 'running',
      health: 'unhealthy',
      cpuCores: 0.05,
      memoryBytes: 10 * MiB,
    },
    {
      hexId: hex('quit'),
      name: 'quit',
      image: 'busybox:1.36',
      state: 'running',
      cpuCores: 0.1,
      memoryBytes: 20 * MiB,
      events: { start: 1 },
    },
    { hexId: hex('old'), name: 'old', image: 'alpine:3.20', state: 'exited', exitCode: 0 },
    POD,
  ],
});
const downHost = new SimulatedContainerHost({
  docker: 'down',
  containers: [
    { hexId: hex('anon-1'), name: '', image: '', state: 'running', cpuCores: 0.3, memoryBytes: 30 * MiB },
    { hexId: hex('anon-2'), name: '', image: '', state: 'paused', memoryBytes: 5 * MiB },
  ],
});
const HOSTS = [dockerHost, downHost, undefined];
const ADDRESSES = ['10.1.0.5', '192.168.7.5', 'fd00::5'];

let server: ServerProc;
let sim: AgentSimulator;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  sim = new AgentSimulator({
    server: `127.0.0.1:${server.grpcPort}`,
    count: HOSTS.length,
    intervalMs: 1000,
    prefix: 'ctrsim',
    ledger: false,
    identity: (i) => (i === 0 ? { ips: ADDRESSES, primaryIp: ADDRESSES[0] as string } : {}),
    series: (i, t) => [...hostSummarySeries(i, t), ...(HOSTS[i]?.samples(t) ?? [])],
  });
  void sim.start();
  // Two reports at least: CPU % and the rates need two collections.
  await eventually(async () => {
    const q = new URLSearchParams({ agent: 'ctrsim-0', name: 'falconet_container_cpu_usage_percent' });
    const r = await getJson<{ samples: unknown[] }>(`${server.url}/api/metrics/latest?${q}`).catch(() => ({ samples: [] }));
    return r.samples.length >= 5;
  }, 30_000);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await sim?.stop();
  await server?.stop();
});

async function newPage(opts: { width?: number; height?: number; lang?: 'en' | 'zh' } = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({
    viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 },
    locale: opts.lang === 'zh' ? 'zh-CN' : 'en-US',
    // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
    bypassCSP: true,
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}

async function containersOf(page: Page, agentId: string): Promise<void> {
  await page.goto(`${server.url}/agents/${agentId}`);
  await page.getByTestId('tab-containers').click();
}

const row = (page: Page, name: string) => page.locator(`[data-testid="ctr-row"][data-name="${name}"]`);
const detail = (page: Page, name: string) => page.locator(`[data-testid="ctr-detail"][data-id="${rowId(name)}"]`);
const rowId = (name: string) =>
  SimulatedContainerHost.cgroupId(name === POD_SHORT ? POD : (dockerHost.containers.find((c) => c.name === name) as SimulatedContainer));
// One read of every match at once: rows that a re-render removes between listing and reading
// would leave a per-row read waiting for an element that is gone.
const attrs = (l: Locator, name: string) => l.evaluateAll((els, n) => els.map((e) => e.getAttribute(n)), name);
const names = (page: Page) => attrs(page.getByTestId('ctr-row'), 'data-name');
const count = (page: Page, state: string) =>
  page.locator(`[data-testid="ctr-counts"] li[data-state="${state}"]`).getAttribute('data-count');

async function axe(page: Page, name: string): Promise<void> {
  const bad = await seriousA11yViolations(page);
  expect(bad, `${name}: ${JSON.stringify(bad, null, 1)}`).toEqual([]);
}

/** How far the page (or an element) scrolls sideways. */
const overflow = (page: Page, selector?: string) =>
  page.evaluate((sel) => {
    const d = (
      globalThis as unknown as {
        document: {
          documentElement: { scrollWidth: number; clientWidth: number };
          querySelector(s: string): { scrollWidth: number; clientWidth: number } | null;
        };
      }
    ).document;
    const el = sel ? d.querySelector(sel) : d.documentElement;
    return el ? el.scrollWidth - el.clientWidth : 0;
  }, selector);

describe('the Containers tab', () => {
  it('lists every container with its state, health, figures and limits, and the counts by state', async () => {
    const { page, errors } = await newPage();
    await containersOf(page, 'ctrsim-0');
    await expect.poll(() => page.getByTestId('ctr-row').count(), { timeout: 20_000 }).toBe(8);
    await expect.poll(() => row(page, 'web').getByTestId('ctr-cpu').textContent(), { timeout: 20_000 }).toContain('40.0%');

    // Running first (by name), then paused and restarting, exited last.
    const running = ['db', 'quit', 'sick', 'web', POD_SHORT].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    expect(await names(page)).toEqual([...running, 'cache', 'flap', 'old']);
    const tone = (name: string) => row(page, name).getByTestId('ctr-state').getAttribute('data-tone');
    const tones = Object.fromEntries(
      await Promise.all(['web', 'db', 'cache', 'flap', 'sick', 'old', POD_SHORT].map(async (n) => [n, await tone(n)])),
    );
    expect(tones).toEqual({ web: 'ok', db: 'ok', cache: 'warn', flap: 'warn', sick: 'bad', old: 'muted', [POD_SHORT]: 'ok' });
    expect(await row(page, 'cache').getByTestId('ctr-state').textContent()).toBe('paused');
    expect(await row(page, 'web').getByTestId('ctr-health').textContent()).toBe('healthy');
    expect(await row(page, 'sick').getByTestId('ctr-health').textContent()).toBe('unhealthy');
    expect(await row(page, 'db').getByTestId('ctr-health').count()).toBe(0);

    const web = row(page, 'web');
    expect(await web.locator('.c-image').textContent()).toBe('nginx:1.27');
    expect(await web.getByTestId('ctr-cpu-limit').textContent()).toBe('limit 0.5 cores');
    expect(await web.getByTestId('ctr-mem').textContent()).toBe('100.0 MiB / 256.0 MiB');
    expect(await web.locator('.c-net').textContent()).toBe('2.0 KiB/s / 1.0 KiB/s');
    expect(await web.locator('.c-io').textContent()).toBe('4.0 KiB/s / 8.0 KiB/s');
    const fill = await web.locator('.c-mem .fill').getAttribute('style');
    expect(fill).toContain('width: 39.0625%');
    expect(await row(page, 'db').getByTestId('ctr-restarts').textContent()).toBe('2');
    // No limit of its own: the host's memory, as docker stats shows it.
    expect(await row(page, 'db').getByTestId('ctr-mem').textContent()).toBe('400.0 MiB / 8.0 GiB');
    expect(await row(page, 'old').locator('.c-state').textContent()).toBe('exited exit 0');
    expect(await row(page, 'old').getByTestId('ctr-cpu').textContent()).toBe('–');
    // Kubernetes: no name, so the short id; namespace / pod / container in their column.
    expect(await row(page, POD_SHORT).locator('.c-k8s').textContent()).toBe('shop / cart-7d9f6 / cart');

    expect(await count(page, 'running')).toBe('5');
    expect(await count(page, 'paused')).toBe('1');
    expect(await count(page, 'restarting')).toBe('1');
    expect(await count(page, 'exited')).toBe('1');
    expect(await page.locator('[data-testid="ctr-counts"] li.total').getAttribute('data-count')).toBe('8');
    expect(await page.getByTestId('docker-down').count()).toBe(0);
    await page.screenshot({ path: artifactPath('ui-containers-en.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('sorts by CPU and by memory, running first, and filters exited ones in or out', async () => {
    const { page, errors } = await newPage();
    await containersOf(page, 'ctrsim-0');
    await expect.poll(() => row(page, 'web').getByTestId('ctr-cpu').textContent(), { timeout: 20_000 }).toContain('40.0%');

    await page.getByTestId('ctr-sort-cpu').click();
    expect(await page.locator('th:has([data-testid="ctr-sort-cpu"])').getAttribute('aria-sort')).toBe('descending');
    expect(await names(page)).toEqual(['db', 'web', POD_SHORT, 'quit', 'sick', 'cache', 'flap', 'old']);
    const cpus = (await attrs(page.getByTestId('ctr-cpu'), 'data-value')).slice(0, 5).map(Number);
    expect(cpus).toEqual([...cpus].sort((a, b) => b - a));
    await page.getByTestId('ctr-sort-cpu').click();
    expect(await page.locator('th:has([data-testid="ctr-sort-cpu"])').getAttribute('aria-sort')).toBe('ascending');
    expect((await names(page)).slice(0, 5)).toEqual(['sick', 'quit', POD_SHORT, 'web', 'db']);

    await page.getByTestId('ctr-sort-memory').click();
    expect(await page.locator('th:has([data-testid="ctr-sort-cpu"])').getAttribute('aria-sort')).toBeNull();
    expect((await names(page)).slice(0, 5)).toEqual(['db', POD_SHORT, 'web', 'quit', 'sick']);

    await page.getByTestId('ctr-filter').selectOption('exited');
    await expect.poll(() => names(page)).toEqual(['old']);
    expect(await page.getByTestId('ctr-shown').textContent()).toBe('1 of 8 containers');
    await page.getByTestId('ctr-filter').selectOption('active');
    await expect.poll(() => page.getByTestId('ctr-row').count()).toBe(7);
    expect(await attrs(page.getByTestId('ctr-row'), 'data-state')).not.toContain('exited');
    await page.getByTestId('ctr-filter').selectOption('all');
    await expect.poll(() => page.getByTestId('ctr-row').count()).toBe(8);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('says when the Docker API is down, and when an agent sends no container series', async () => {
    const { page, errors } = await newPage();
    await containersOf(page, 'ctrsim-1');
    await expect
      .poll(() => page.getByTestId('docker-down').textContent(), { timeout: 20_000 })
      .toBe('Docker API unavailable: showing cgroup data only');
    await expect.poll(() => page.getByTestId('ctr-row').count()).toBe(2);
    // Without Docker's names, the short ids.
    expect((await names(page)).sort()).toEqual([hex('anon-1').slice(0, 12), hex('anon-2').slice(0, 12)].sort());
    await page.screenshot({ path: artifactPath('ui-containers-docker-down.png'), fullPage: true });

    await containersOf(page, 'ctrsim-2');
    await expect.poll(() => page.getByTestId('ctr-none').textContent(), { timeout: 20_000 }).toBe('No container metrics from this agent.');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('expands a row to its CPU and memory charts with its events marked', async () => {
    const { page, errors } = await newPage();
    await containersOf(page, 'ctrsim-0');
    await row(page, 'db').getByTestId('ctr-expand').click();
    expect(await row(page, 'db').getByTestId('ctr-expand').getAttribute('aria-expanded')).toBe('true');
    const db = detail(page, 'db');
    const cpu = db.getByTestId('chart-ctr-cpu');
    const mem = db.getByTestId('chart-ctr-memory');
    await expect.poll(async () => Number(await cpu.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(async () => Number(await mem.getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(0);
    // start, die and oom counted before the range's first report: the series appeared with them.
    await expect.poll(() => db.locator('[data-testid="ctr-events"] li').allTextContents(), { timeout: 20_000 }).toHaveLength(3);
    expect((await db.locator('[data-testid="ctr-events"] li .what').allTextContents()).sort()).toEqual(['OOM', 'die ×2', 'start ×3']);
    await expect.poll(async () => Number(await cpu.getAttribute('data-marks')), { timeout: 20_000 }).toBe(3);
    await expect.poll(async () => Number(await mem.getAttribute('data-marks')), { timeout: 20_000 }).toBe(3);
    // Only db's own series: one line each (no limits).
    expect(await cpu.getAttribute('data-series')).toBe('1');
    expect(await mem.getAttribute('data-series')).toBe('1');

    // A limited container charts its limits too.
    await row(page, 'web').getByTestId('ctr-expand').click();
    const web = detail(page, 'web');
    await expect.poll(async () => web.getByTestId('chart-ctr-cpu').getAttribute('data-series'), { timeout: 20_000 }).toBe('2');
    await expect.poll(async () => web.getByTestId('chart-ctr-memory').getAttribute('data-series'), { timeout: 20_000 }).toBe('2');
    await expect.poll(async () => Number(await web.getByTestId('chart-ctr-cpu').getAttribute('data-marks')), { timeout: 20_000 }).toBe(1);
    // A longer range reads the history again, marks included.
    await page.getByTestId('range-1h').click();
    await expect.poll(async () => Number(await cpu.getAttribute('data-marks')), { timeout: 20_000 }).toBe(3);
    await page.getByTestId('range-15m').click();
    await page.screenshot({ path: artifactPath('ui-containers-expanded.png'), fullPage: true });
    await axe(page, 'containers tab, rows expanded');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('updates live with each report, over the page\u2019s one socket', async () => {
    const { page, errors } = await newPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await containersOf(page, 'ctrsim-0');
    await expect.poll(() => row(page, 'quit').getAttribute('data-state'), { timeout: 20_000 }).toBe('running');
    await row(page, 'quit').getByTestId('ctr-expand').click();
    const quit = detail(page, 'quit');
    await expect
      .poll(async () => Number(await quit.getByTestId('chart-ctr-cpu').getAttribute('data-points')), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => quit.locator('[data-testid="ctr-events"] li').count()).toBe(1);
    expect(await count(page, 'exited')).toBe('1');

    const c = dockerHost.get('quit');
    c.state = 'exited';
    c.exitCode = 3;
    c.events = { ...c.events, die: 1 };
    dockerHost.get('web').cpuCores = 0.9;

    await expect.poll(() => row(page, 'quit').getAttribute('data-state'), { timeout: 20_000 }).toBe('exited');
    await expect.poll(() => count(page, 'exited')).toBe('2');
    expect(await count(page, 'running')).toBe('4');
    expect(await row(page, 'quit').locator('.c-state').textContent()).toBe('exited exit 3');
    expect(await quit.getByTestId('ctr-exit').textContent()).toBe('Exited with code 3');
    // The exited container goes to the end; its details stay open.
    expect((await names(page)).at(-1)).toBe('quit');
    await expect.poll(() => quit.locator('[data-testid="ctr-events"] li[data-event="die"]').count(), { timeout: 20_000 }).toBe(1);
    await expect.poll(async () => Number(await quit.getByTestId('chart-ctr-cpu').getAttribute('data-marks'))).toBe(2);
    await expect.poll(() => row(page, 'web').getByTestId('ctr-cpu').textContent(), { timeout: 20_000 }).toContain('90.0%');
    expect(sockets.filter((u) => u.endsWith('/api/live'))).toHaveLength(1);
    expect(sockets).toHaveLength(1);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('speaks Simplified Chinese', async () => {
    const { page, errors } = await newPage({ lang: 'zh' });
    await containersOf(page, 'ctrsim-0');
    await expect.poll(() => page.getByTestId('ctr-row').count(), { timeout: 20_000 }).toBe(8);
    expect(await page.getByTestId('tab-containers').textContent()).toBe('容器');
    expect(await page.locator('.ctr-table thead th').allTextContents()).toEqual([
      '名称 ↑',
      '镜像',
      '状态',
      '健康',
      'CPU',
      '内存',
      '网络 入 / 出',
      '磁盘 读 / 写',
      '重启次数',
      '命名空间 / Pod / 容器',
    ]);
    expect(await row(page, 'web').getByTestId('ctr-state').textContent()).toBe('运行中');
    expect(await row(page, 'cache').getByTestId('ctr-state').textContent()).toBe('已暂停');
    expect(await row(page, 'flap').getByTestId('ctr-state').textContent()).toBe('重启中');
    expect(await row(page, 'old').getByTestId('ctr-state').textContent()).toBe('已退出');
    expect(await row(page, 'sick').getByTestId('ctr-health').textContent()).toBe('不健康');
    await expect.poll(() => row(page, 'web').getByTestId('ctr-cpu-limit').textContent()).toBe('限制 0.5 核');
    expect(await page.locator('[data-testid="ctr-counts"] li.total').textContent()).toBe('合计 8');
    await row(page, 'db').getByTestId('ctr-expand').click();
    await expect
      .poll(() => detail(page, 'db').locator('[data-testid="ctr-events"] li').allTextContents(), { timeout: 20_000 })
      .toEqual(expect.arrayContaining([expect.stringContaining('启动 ×3'), expect.stringContaining('内存溢出')]));
    const text = await page.getByTestId('containers').innerText();
    const english = ['running', 'paused', 'exited', 'Name', 'Image', 'State', 'Health', 'Memory', 'Restarts', 'Show', 'healthy', 'limit'];
    expect(english.filter((w) => new RegExp(`\\b${w}\\b`).test(text))).toEqual([]);
    await page.screenshot({ path: artifactPath('ui-containers-zh.png'), fullPage: true });

    await containersOf(page, 'ctrsim-1');
    await expect
      .poll(() => page.getByTestId('docker-down').textContent(), { timeout: 20_000 })
      .toBe('Docker API 不可用：仅显示 cgroup 数据');
    await axe(page, 'containers tab in Chinese');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('fits a phone without sideways scrolling, rows expanded', async () => {
    const { page, errors } = await newPage({ width: 390, height: 844 });
    await containersOf(page, 'ctrsim-0');
    await expect.poll(() => page.getByTestId('ctr-row').count(), { timeout: 20_000 }).toBe(8);
    await row(page, 'web').getByTestId('ctr-expand').click();
    await expect
      .poll(async () => Number(await detail(page, 'web').getByTestId('chart-ctr-cpu').getAttribute('data-points')), { timeout: 20_000 })
      .toBeGreaterThan(0);
    expect(await overflow(page)).toBeLessThanOrEqual(0);
    expect(await overflow(page, '.ctr-scroll')).toBeLessThanOrEqual(0);
    // What the phone's columns leave out is in the details.
    expect(await detail(page, 'web').locator('.ctr-facts').textContent()).toContain('nginx:1.27');
    await page.screenshot({ path: artifactPath('ui-containers-phone.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('host addresses', () => {
  it('lists every address on the host page, the primary first; the overview finds the host by any of them', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/agents/ctrsim-0`);
    const ips = page.locator('[data-testid="host-ips"] li');
    await expect.poll(() => ips.count(), { timeout: 20_000 }).toBe(3);
    expect(await ips.allTextContents()).toEqual(['10.1.0.5primary', '192.168.7.5', 'fd00::5']);
    expect(await page.locator('[data-testid="host-ips"] li[data-primary="true"]').count()).toBe(1);

    await page.goto(server.url);
    await expect.poll(() => page.getByTestId('agent-row').count(), { timeout: 20_000 }).toBe(3);
    // The overview keeps the primary address; search finds the others too.
    expect(await page.locator('[data-agent-id="ctrsim-0"] .c-host .sub').textContent()).toBe('10.1.0.5');
    await page.getByTestId('agent-search').fill('192.168.7.5');
    await expect.poll(() => attrs(page.getByTestId('agent-row'), 'data-agent-id'), { timeout: 20_000 }).toEqual(['ctrsim-0']);
    await page.getByTestId('agent-search').fill('fd00::5');
    await expect.poll(() => attrs(page.getByTestId('agent-row'), 'data-agent-id'), { timeout: 20_000 }).toEqual(['ctrsim-0']);
    await page.getByTestId('agent-search').fill('');
    expect(errors).toEqual([]);
    await page.close();
  });
});
