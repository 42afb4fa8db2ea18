/**
 * The Logs page and the host Logs tab in Chromium against a real server, fed through the real
 * agent channel by a scripted agent (a gRPC stream sending metric and log reports): search with a
 * refused query's position, a facet click, an expanded line, the live tail showing a new line and
 * holding lines back while scrolled down, a chart click opening the host's logs around that time,
 * Chinese, a phone's width, and axe-core.
 */
import { LogLevel, pb } from '@falconet/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logReportMessage, type RawStream, rawStream, registerMessage, registerOn, reportMessage } from '../testing/agent-channel.ts';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { eventually, getJson, type ServerProc, startServer } from '../testing/processes.ts';
import { hostSummarySeries } from '../testing/simulator.ts';

const AGENT = 'logsim-1';
const HOST = 'logs-host';
const START = Date.now();
/** The one line ten minutes back: a chart click there must find it, and none of the recent ones. */
const OLD_MS = START - 600_000;

let server: ServerProc;
let stream: RawStream;
let browser: Browser;
let seq = 0;

function record(message: string, timeMs: number, over: Partial<pb.LogRecord> = {}): pb.LogRecord {
  return pb.LogRecord.fromPartial({
    timeMs,
    observedMs: timeMs,
    source: 'app',
    stream: '/var/log/app.log',
    level: LogLevel.LOG_LEVEL_INFO,
    message,
    ...over,
  });
}

/** Sends one report and waits for its Ack, so what follows sees it stored. */
async function send(msg: pb.AgentMessage): Promise<void> {
  stream.send(msg);
  for (;;) {
    const m = await stream.next();
    if (m.body?.$case === 'ack') {
      if (m.body.value.error) throw new Error(`report refused: ${m.body.value.error}`);
      return;
    }
  }
}

const logs = (records: pb.LogRecord[]) => send(logReportMessage(++seq, records));

beforeAll(async () => {
  server = await startServer();
  stream = rawStream(`127.0.0.1:${server.grpcPort}`);
  await registerOn(stream, registerMessage(AGENT, { hostname: HOST, intervalMs: 30_000 }));
  // Twenty minutes of host samples, so the System charts have points to click.
  for (let t = START - 1_200_000; t <= START; t += 30_000) await send(reportMessage(++seq, hostSummarySeries(0, t)));
  await logs([record('disk quota exceeded on /srv', OLD_MS, { source: 'kernel', level: LogLevel.LOG_LEVEL_WARN })]);
  // Forty recent lines (the last four minutes): enough to scroll the list.
  await logs(
    Array.from({ length: 40 }, (_, i) =>
      record(i % 4 === 0 ? `upstream connection refused ${i}` : `GET /item/${i} 200`, START - 240_000 + i * 5000, {
        source: i % 2 ? 'nginx' : 'app',
        level: i % 4 === 0 ? LogLevel.LOG_LEVEL_ERROR : LogLevel.LOG_LEVEL_INFO,
        labels: i % 2 ? { unit: 'nginx.service' } : {},
        fields: i % 4 === 0 ? { status: '502', upstream: '10.0.0.7:8080' } : {},
      }),
    ),
  );
  await eventually(
    async () => (await getJson<{ lines: unknown[] }>(`${server.url}/api/logs?limit=100&from=0`)).lines.length === 41,
    30_000,
  );
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  stream?.close();
  await server?.stop();
});

async function newPage(opts: { width?: number; lang?: 'en' | 'zh' } = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({
    viewport: { width: opts.width ?? 1400, height: 900 },
    locale: opts.lang === 'zh' ? 'zh-CN' : 'en-US',
    // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
    bypassCSP: true,
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}

const lineTexts = (page: Page) => page.getByTestId('log-line').allTextContents();
const lineCount = (page: Page) => page.getByTestId('log-line').count();

async function axe(page: Page, name: string): Promise<void> {
  const bad = await seriousA11yViolations(page);
  expect(bad, `${name}: ${JSON.stringify(bad, null, 1)}`).toEqual([]);
}

async function search(page: Page, q: string): Promise<void> {
  await page.getByTestId('logs-query').fill(q);
  await page.getByTestId('logs-search').click();
}

describe('the Logs page', () => {
  it('searches, shows a refusal with its position, adds a facet to the query and expands a line', async () => {
    const { page, errors } = await newPage();
    await page.goto(server.url);
    await page.getByTestId('nav-logs').click();
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(41);
    expect(await page.getByTestId('logs-histogram').getAttribute('data-total')).toBe('41');
    // Newest first: the last line sent leads.
    expect((await lineTexts(page))[0]).toContain('GET /item/39 200');
    expect(await page.getByTestId('log-line').first().getAttribute('data-level')).toBe('info');

    await search(page, '"connection refused"');
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(10);
    expect((await lineTexts(page)).every((t) => t.includes('connection refused'))).toBe(true);
    expect(await page.getByTestId('logs-histogram').getAttribute('data-total')).toBe('10');

    await search(page, 'refused level>=loud');
    const refusal = page.getByTestId('logs-refusal');
    await expect.poll(() => refusal.getAttribute('data-position'), { timeout: 20_000 }).toBe('9');
    expect(await refusal.textContent()).toContain('position 9: unknown level "loud"');

    await search(page, '');
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(41);
    await page.locator('[data-testid="logs-facet"][data-term="source:app"]').click();
    expect(await page.getByTestId('logs-query').inputValue()).toBe('source:app');
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(20);
    await page.locator('[data-testid="logs-facet"][data-term="level:error"]').click();
    expect(await page.getByTestId('logs-query').inputValue()).toBe('source:app level:error');
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(10);
    expect(await page.locator('[data-testid="log-line"][data-level="error"]').count()).toBe(10);

    await search(page, 'status:502');
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(10);
    const first = page.getByTestId('log-line').first();
    await first.getByRole('button').click();
    const detail = first.getByTestId('log-detail');
    expect(await detail.textContent()).toContain('upstream=10.0.0.7:8080');
    expect(await detail.textContent()).toContain('/var/log/app.log');
    await axe(page, 'logs page');
    await page.screenshot({ path: artifactPath('logs-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('tails new lines over the socket and holds them back while scrolled down', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/logs`);
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBeGreaterThanOrEqual(41);
    await page.getByTestId('logs-tail').check();
    await expect.poll(() => page.getByTestId('logs').getAttribute('data-tail')).toBe('on');
    // The tail starts once the server has the query: lines sent until one shows.
    let n = 0;
    await eventually(async () => {
      await logs([record(`tailed line ${++n}`, Date.now())]);
      return ((await lineTexts(page))[0] ?? '').includes('tailed line');
    }, 30_000);

    const list = page.getByTestId('logs-lines');
    await list.evaluate((el) => {
      el.scrollTop = 400;
    });
    await expect.poll(() => list.evaluate((el) => el.scrollTop)).toBeGreaterThan(24);
    const before = await lineCount(page);
    await logs([record('held back while scrolled', Date.now())]);
    const resume = page.getByTestId('logs-resume');
    await expect.poll(() => resume.textContent(), { timeout: 20_000 }).toBe('1 new lines, resume');
    expect(await lineCount(page)).toBe(before);
    await resume.click();
    await expect.poll(async () => (await lineTexts(page))[0], { timeout: 20_000 }).toContain('held back while scrolled');
    expect(await list.evaluate((el) => el.scrollTop)).toBe(0);
    expect(errors).toEqual([]);
  });

  it('opens the host Logs tab around the moment clicked on a chart', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/agents/${AGENT}`);
    const chart = page.getByTestId('chart-CPU');
    await expect.poll(() => chart.getAttribute('data-empty'), { timeout: 20_000 }).toBe('false');
    const [xMin, xMax] = [Number(await chart.getAttribute('data-x-min')), Number(await chart.getAttribute('data-x-max'))];
    const over = chart.locator('.u-over');
    const box = await over.boundingBox();
    if (!box) throw new Error('the chart has no plot area');
    const x = ((OLD_MS - xMin) / (xMax - xMin)) * box.width;
    await over.click({ position: { x, y: box.height / 2 } });
    await page.getByTestId('chart-logs-at').first().click();
    await expect.poll(() => page.getByTestId('tab-logs').getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBe(1);
    expect((await lineTexts(page))[0]).toContain('disk quota exceeded on /srv');
    // The host's range became the ±5 minutes around the click.
    expect(await page.getByTestId('range-custom').getAttribute('aria-pressed')).toBe('true');
    await axe(page, 'host logs tab');
    expect(errors).toEqual([]);
  });

  it('speaks Chinese and fits a phone', async () => {
    const { page, errors } = await newPage({ width: 360, lang: 'zh' });
    await page.goto(`${server.url}/logs`);
    await expect.poll(() => lineCount(page), { timeout: 20_000 }).toBeGreaterThanOrEqual(41);
    expect(await page.getByTestId('nav-logs').textContent()).toBe('日志');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('日志');
    expect(await page.getByTestId('logs-search').textContent()).toBe('搜索');
    await page.getByTestId('log-line').first().getByRole('button').click();
    const wide = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document;
      return d.documentElement.scrollWidth - d.documentElement.clientWidth;
    });
    expect(wide).toBe(0);
    await page.screenshot({ path: artifactPath('logs-phone-zh.png'), fullPage: true });
    await axe(page, 'logs on a phone');
    expect(errors).toEqual([]);
  });
});
