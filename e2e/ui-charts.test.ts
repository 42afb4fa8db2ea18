/**
 * The host page's charts in Chromium against a real server, fed by scripted agents over the real
 * agent channel with points at chosen moments: one point, a few points and an offline agent on an
 * axis that spans the range; each range preset; dates in en-US, en-GB and Chinese, the same in the
 * axis and the legend; ticks that do not overlap on a phone or a desktop; an agent slowing from
 * 10 s to 60 s reports without a false gap and a real outage with one (in the overview's sparkline
 * too); drag to zoom (all charts follow), double-click back; legend hide and solo.
 */
import type { Sample } from '@falconet/protocol';
import type { Browser, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawStream, rawStream, registerMessage, registerOn, reportMessage } from '../testing/agent-channel.ts';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { eventually, getJson, type ServerProc, startServer } from '../testing/processes.ts';

const S = 1000;
const MIN = 60 * S;
const POLL = { timeout: 30_000, interval: 250 };

let server: ServerProc;
let browser: Browser;
const streams = new Map<string, { stream: RawStream; seq: number }>();
/** When the points were planned: every agent's moments count back from here. */
let t0 = 0;
let slowdownPoints = 0;
let outagePoints = 0;

const gauge = (name: string, value: number, timestampMs: number): Sample => ({ name, labels: {}, value, timestampMs });

/** One report as the agent sends it: CPU, the load averages and, when given, the agent's report interval. */
function samplesAt(t: number, i: number, intervalSec?: number): Sample[] {
  const out = [
    gauge('falconet_cpu_usage_percent', 20 + 10 * Math.sin(i / 3), t),
    gauge('node_load1', 1 + Math.sin(i / 4), t),
    gauge('node_load5', 0.8, t),
    gauge('node_load15', 0.5, t),
  ];
  if (intervalSec !== undefined) out.push(gauge('falconet_agent_report_interval_seconds', intervalSec, t));
  return out;
}

/** A scripted agent: registers, sends one report per moment (waiting for each acknowledgement), stays connected. */
async function scriptedAgent(id: string, moments: { t: number; interval?: number }[], registeredIntervalMs = 10_000): Promise<void> {
  const stream = rawStream(`127.0.0.1:${server.grpcPort}`);
  await registerOn(stream, registerMessage(id, { hostname: `${id}-host`, intervalMs: registeredIntervalMs }));
  const agent = { stream, seq: 0 };
  streams.set(id, agent);
  for (const [i, m] of moments.entries()) await report(id, m.t, i, m.interval);
}

async function report(id: string, t: number, i: number, interval?: number): Promise<void> {
  const agent = streams.get(id);
  if (!agent) throw new Error(`no scripted agent ${id}`);
  agent.seq++;
  agent.stream.send(reportMessage(agent.seq, samplesAt(t, i, interval)));
  const ack = await agent.stream.next();
  if (ack.body?.$case !== 'ack' || ack.body.value.error) throw new Error(`${id}: report ${agent.seq} not taken: ${JSON.stringify(ack)}`);
}

/** Moments `every` seconds apart from `fromMin` to `toMin` minutes before t0 (inclusive). */
function every(seconds: number, fromMin: number, toMin: number, interval?: number): { t: number; interval?: number }[] {
  const out: { t: number; interval?: number }[] = [];
  for (let t = t0 - fromMin * MIN; t <= t0 - toMin * MIN; t += seconds * S) out.push(interval === undefined ? { t } : { t, interval });
  return out;
}

beforeAll(async () => {
  server = await startServer();
  t0 = Date.now();
  await scriptedAgent('one', [{ t: t0 - 2 * MIN }]);
  await scriptedAgent(
    'few',
    [5, 4, 3, 2].map((m) => ({ t: t0 - m * MIN })),
  );
  // Nine points eight to six minutes ago, then gone.
  await scriptedAgent('gone', every(15, 8, 6));
  streams.get('gone')?.stream.close();
  streams.delete('gone');
  // An idle host: 10 s reports, then 60 s ones from six minutes ago, each report saying its interval.
  const slowdown = [...every(10, 9, 6.25, 10), ...every(60, 6, 1, 60)];
  slowdownPoints = slowdown.length;
  await scriptedAgent('slowdown', slowdown, 60_000);
  // 10 s reports with three minutes of silence in the middle.
  const outage = [...every(10, 9, 6.5, 10), ...every(10, 3.5, 1, 10)];
  outagePoints = outage.length;
  await scriptedAgent('outage', outage);
  await eventually(async () => {
    const r = await getJson<{ items: { id: string; status: string }[] }>(`${server.url}/api/agents?limit=100`);
    return r.items.find((a) => a.id === 'gone')?.status === 'offline' && r.items.length === 5;
  }, 30_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  for (const { stream } of streams.values()) stream.close();
  await browser?.close();
  await server?.stop();
});

async function hostPage(id: string, opts: BrowserContextOptions = {}): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'UTC', ...opts });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/agents/${id}`);
  await page.getByTestId('chart-CPU').waitFor({ timeout: 30_000 });
  return { page, errors };
}

const num = async (l: Locator, attr: string) => Number(await l.getAttribute(attr));
/** The x scale's span in ms, as the chart reports uPlot's u.scales.x. */
const xSpan = async (l: Locator) => (await num(l, 'data-x-max')) - (await num(l, 'data-x-min'));

/** Waits until the chart has drawn its history (at least `points` of them) on an axis ending now. */
async function drawn(chart: Locator, points: number): Promise<void> {
  await expect.poll(() => num(chart, 'data-points'), POLL).toBeGreaterThanOrEqual(points);
  await expect.poll(() => num(chart, 'data-x-max'), POLL).toBeGreaterThan(t0);
}

describe("gaps only where data is missing for longer than the agent's interval", () => {
  it('no gap where the agent slowed from 10 s to 60 s reports; one where three minutes are missing', async () => {
    const { page, errors } = await hostPage('slowdown');
    const cpu = page.getByTestId('chart-CPU');
    await drawn(cpu, slowdownPoints);
    expect(await cpu.getAttribute('data-gaps')).toBe('0');
    expect(await page.getByTestId('chart-load').getAttribute('data-gaps')).toBe('0');
    await page.screenshot({ path: artifactPath('charts-slowdown.png'), fullPage: true });
    await page.goto(`${server.url}/agents/outage`);
    await drawn(cpu, outagePoints);
    expect(await cpu.getAttribute('data-gaps')).toBe('1');
    // Three lines on the load chart, each broken once.
    expect(await page.getByTestId('chart-load').getAttribute('data-gaps')).toBe('3');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('the same in the sparkline of the overview', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(server.url);
    const spark = (id: string) => page.locator(`[data-testid="agent-row"][data-agent-id="${id}"] svg`);
    await expect.poll(async () => (await spark('outage').locator('path').getAttribute('d'))?.length ?? 0, POLL).toBeGreaterThan(0);
    await expect.poll(() => spark('outage').getAttribute('data-gaps'), POLL).toBe('1');
    await expect.poll(async () => (await spark('slowdown').locator('path').getAttribute('d'))?.length ?? 0, POLL).toBeGreaterThan(0);
    expect(await spark('slowdown').getAttribute('data-gaps')).toBe('0');
    await context.close();
  });
});

describe('the x axis spans the chosen range, whatever the data', () => {
  it('one point: the last 15 minutes, the point two minutes from the right edge', async () => {
    const { page, errors } = await hostPage('one');
    const cpu = page.getByTestId('chart-CPU');
    await drawn(cpu, 1);
    expect(await xSpan(cpu)).toBe(15 * MIN);
    expect(Math.abs((await num(cpu, 'data-x-max')) - Date.now())).toBeLessThan(MIN);
    expect(await num(cpu, 'data-last-ts')).toBe(t0 - 2 * MIN);
    await page.screenshot({ path: artifactPath('charts-first-minute-en.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a few points: each preset spans its own length, and a live report slides the window', async () => {
    const { page, errors } = await hostPage('few');
    const cpu = page.getByTestId('chart-CPU');
    await drawn(cpu, 4);
    expect(await xSpan(cpu)).toBe(15 * MIN);
    for (const [preset, span] of [
      ['1h', 60 * MIN],
      ['6h', 360 * MIN],
      ['24h', 1440 * MIN],
      ['7d', 7 * 1440 * MIN],
      ['30d', 30 * 1440 * MIN],
      ['15m', 15 * MIN],
    ] as const) {
      await page.getByTestId(`range-${preset}`).click();
      await expect.poll(() => xSpan(cpu), POLL).toBe(span);
      await expect.poll(() => num(cpu, 'data-points'), POLL).toBeGreaterThan(0);
      expect(Math.abs((await num(cpu, 'data-x-max')) - Date.now()), preset).toBeLessThan(2 * MIN);
    }
    // A report arriving now is drawn at the right edge, and the window moves with it.
    const before = await num(cpu, 'data-x-max');
    await report('few', Date.now(), 5);
    await expect.poll(() => num(cpu, 'data-points'), POLL).toBe(5);
    expect(await num(cpu, 'data-x-max')).toBeGreaterThan(before);
    expect(await xSpan(cpu)).toBe(15 * MIN);
    // A custom range: its own bounds.
    await page.getByTestId('range-custom').click();
    const form = page.getByTestId('custom-range');
    const inputs = form.locator('input');
    await inputs.nth(0).fill('2026-01-01T00:00');
    await inputs.nth(1).fill('2026-01-02T00:00');
    await form.getByRole('button').click();
    await expect.poll(() => num(cpu, 'data-x-min'), POLL).toBe(Date.UTC(2026, 0, 1));
    expect(await num(cpu, 'data-x-max')).toBe(Date.UTC(2026, 0, 2) + 59_999);
    expect(await cpu.getAttribute('data-empty')).toBe('true');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('an offline agent: its last points where they were, empty up to now', async () => {
    const { page, errors } = await hostPage('gone');
    await expect.poll(() => page.getByTestId('host-status').textContent(), POLL).toBe('offline');
    const cpu = page.getByTestId('chart-CPU');
    await drawn(cpu, 9);
    expect(await xSpan(cpu)).toBe(15 * MIN);
    const last = await num(cpu, 'data-last-ts');
    expect(last).toBe(t0 - 6 * MIN);
    expect((await num(cpu, 'data-x-max')) - last).toBeGreaterThan(6 * MIN - S);
    expect(await cpu.getAttribute('data-gaps')).toBe('0');
    expect(errors).toEqual([]);
    await page.context().close();
  });
});

describe('dates and times in the language of the page, the same on the axis and in the legend', () => {
  /** The axis's tick labels and the legend's time while the pointer is over the middle of the CPU chart. */
  async function datesOf(page: Page): Promise<{ ticks: string[]; legend: string }> {
    const cpu = page.getByTestId('chart-CPU');
    await drawn(cpu, 4);
    const box = await cpu.locator('.u-over').boundingBox();
    if (!box) throw new Error('no plot area');
    // Over the points, two to five minutes ago: the right fifth of the plot.
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
    const legend = cpu.locator('.u-legend .u-series').first().locator('td');
    await expect.poll(() => legend.textContent(), POLL).toMatch(/\d/);
    return { ticks: ((await cpu.getAttribute('data-x-labels')) ?? '').split('|'), legend: (await legend.textContent()) ?? '' };
  }

  it('en-US: a 12-hour clock and month/day in both', async () => {
    const { page } = await hostPage('few', { locale: 'en-US' });
    const { ticks, legend } = await datesOf(page);
    expect(ticks[0]).toMatch(/^\d{1,2}:\d{2} [AP]M \d{1,2}\/\d{1,2}$/);
    for (const t of ticks) expect(t).toMatch(/^\d{1,2}:\d{2} [AP]M/);
    expect(legend).toMatch(/^\d{1,2}\/\d{1,2}\/\d{4}, \d{1,2}:\d{2}:\d{2} [AP]M$/);
    // The day on the axis is the legend's day, written the same way.
    expect(legend.startsWith(`${(ticks[0] as string).split(' ')[2]}/`)).toBe(true);
    await page.context().close();
  });

  it('en-GB: a 24-hour clock and day/month in both', async () => {
    const { page } = await hostPage('few', { locale: 'en-GB' });
    const { ticks, legend } = await datesOf(page);
    expect(ticks[0]).toMatch(/^\d{2}:\d{2} \d{2}\/\d{2}$/);
    for (const t of ticks) expect(t).not.toMatch(/[AP]M/i);
    expect(legend).toMatch(/^\d{2}\/\d{2}\/\d{4}, \d{2}:\d{2}:\d{2}$/);
    expect(legend.startsWith(`${(ticks[0] as string).split(' ')[1]}/`)).toBe(true);
    await page.context().close();
  });

  it('Chinese: year-month-day and a 24-hour clock in both, and Chinese line names', async () => {
    const { page } = await hostPage('few', { locale: 'zh-CN' });
    const { ticks, legend } = await datesOf(page);
    expect(ticks[0]).toMatch(/^\d{2}:\d{2} \d{2}-\d{2}$/);
    expect(legend).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(legend.slice(5, 10)).toBe((ticks[0] as string).split(' ')[1]);
    expect(await page.getByTestId('chart-CPU').locator('.u-legend .u-series').nth(1).locator('th').textContent()).toBe('CPU 使用');
    await page.screenshot({ path: artifactPath('charts-zh.png'), fullPage: true });
    await page.context().close();
  });
});

describe('ticks never overlap', () => {
  for (const [name, width] of [
    ['a phone', 360],
    ['a desktop', 1280],
  ] as const) {
    it(`on ${name} (${width} px), in each range`, async () => {
      const { page } = await hostPage('slowdown', { viewport: { width, height: 800 } });
      const charts = page.locator('.plot[data-testid^="chart-"]:not([data-empty="true"])');
      await drawn(page.getByTestId('chart-CPU'), 1);
      for (const preset of ['15m', '1h', '24h', '30d']) {
        await page.getByTestId(`range-${preset}`).click();
        await expect.poll(() => xSpan(page.getByTestId('chart-CPU')), POLL).toBeGreaterThan(14 * MIN);
        await expect.poll(() => num(page.getByTestId('chart-CPU'), 'data-points'), POLL).toBeGreaterThan(0);
        // Read in one go: a chart that re-renders between a listing and a per-chart read would stall it.
        const drawnCharts = await charts.evaluateAll((els) =>
          els.map((e) => ({
            id: e.getAttribute('data-testid'),
            x: e.getAttribute('data-x-labels') ?? '',
            xo: e.getAttribute('data-x-overlaps'),
            yo: e.getAttribute('data-y-overlaps'),
          })),
        );
        for (const { id, x, xo, yo } of drawnCharts) {
          const labels = x.split('|').filter(Boolean);
          expect(labels.length, `${id} ${preset}: ${labels.join(', ')}`).toBeGreaterThanOrEqual(2);
          expect(xo, `${id} ${preset}: ${labels.join(', ')}`).toBe('0');
          expect(yo, `${id} ${preset}`).toBe('0');
        }
      }
      if (width === 360) await page.screenshot({ path: artifactPath('charts-phone.png'), fullPage: true });
      await page.context().close();
    });
  }
});

describe('zoom and legend', () => {
  it('drag zooms every chart of the host; a double-click goes back to the range', async () => {
    const { page, errors } = await hostPage('slowdown');
    const cpu = page.getByTestId('chart-CPU');
    const load = page.getByTestId('chart-load');
    await page.getByTestId('range-1h').click();
    await expect.poll(() => xSpan(cpu), POLL).toBe(60 * MIN);
    await drawn(cpu, slowdownPoints);
    const box = await cpu.locator('.u-over').boundingBox();
    if (!box) throw new Error('no plot area');
    const y = box.y + box.height / 2;
    // Over the last twelve minutes of the hour, where the points are.
    await page.mouse.move(box.x + box.width * 0.8, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, y, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.999, y, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => cpu.getAttribute('data-zoomed'), POLL).toBe('true');
    const span = await xSpan(cpu);
    expect(span).toBeGreaterThan(11 * MIN);
    expect(span).toBeLessThan(13 * MIN);
    await expect.poll(() => load.getAttribute('data-x-min'), POLL).toBe(await cpu.getAttribute('data-x-min'));
    expect(await load.getAttribute('data-x-max')).toBe(await cpu.getAttribute('data-x-max'));
    await page.screenshot({ path: artifactPath('charts-zoomed.png'), fullPage: true });

    await load.locator('.u-over').dblclick();
    await expect.poll(() => cpu.getAttribute('data-zoomed'), POLL).toBe('false');
    expect(await xSpan(cpu)).toBe(60 * MIN);
    expect(await xSpan(load)).toBe(60 * MIN);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('a click on a legend entry hides its line; Ctrl-click shows it alone, again shows all', async () => {
    const { page, errors } = await hostPage('slowdown');
    const load = page.getByTestId('chart-load');
    await drawn(load, 1);
    const entry = (name: string) => load.locator('.u-legend .u-series th').filter({ hasText: new RegExp(`^${name}$`) });
    expect(await entry('1m').getAttribute('title')).toMatch(/Ctrl\/Cmd-click/);
    await entry('1m').click();
    await expect.poll(() => load.getAttribute('data-hidden'), POLL).toBe('1');
    await entry('1m').click();
    await expect.poll(() => load.getAttribute('data-hidden'), POLL).toBe('0');
    await entry('5m').click({ modifiers: ['Control'] });
    await expect.poll(() => load.getAttribute('data-hidden'), POLL).toBe('2');
    expect(await load.locator('.u-legend .u-series.u-off th').allTextContents()).toEqual(['1m', '15m']);
    await entry('5m').click({ modifiers: ['Control'] });
    await expect.poll(() => load.getAttribute('data-hidden'), POLL).toBe('0');
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
