/**
 * The Logs page's view in its address and its live tail across a dropped socket, in Chromium
 * against a real server fed by two scripted agents on the real agent channel: the query, range,
 * host and source filters and live mode survive a reload and a shared link, Back and Forward step
 * through them; a socket dropped while lines are stored brings them on reconnect.
 */
import { LogLevel, pb } from '@falconet/protocol';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logReportMessage, type RawStream, rawStream, registerMessage, registerOn } from '../testing/agent-channel.ts';
import { launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { eventually, getJson, type ServerProc, startServer } from '../testing/processes.ts';

let server: ServerProc;
let browser: Browser;
const agents: { stream: RawStream; seq: number }[] = [];

async function send(agent: { stream: RawStream; seq: number }, records: pb.LogRecord[]): Promise<void> {
  agent.stream.send(logReportMessage(++agent.seq, records));
  for (;;) {
    const m = await agent.stream.next();
    if (m.body?.$case === 'ack') {
      if (m.body.value.error) throw new Error(`report refused: ${m.body.value.error}`);
      return;
    }
  }
}

const record = (message: string, source: string, timeMs = Date.now()) =>
  pb.LogRecord.fromPartial({ timeMs, observedMs: timeMs, source, stream: source, level: LogLevel.LOG_LEVEL_INFO, message });

beforeAll(async () => {
  server = await startServer();
  for (const host of ['alpha', 'beta']) {
    const stream = rawStream(`127.0.0.1:${server.grpcPort}`);
    await registerOn(stream, registerMessage(`state-${host}`, { hostname: host }));
    agents.push({ stream, seq: 0 });
  }
  const start = Date.now() - 120_000;
  for (const [i, a] of agents.entries()) {
    await send(
      a,
      Array.from({ length: 12 }, (_, k) =>
        record(`${i ? 'beta' : 'alpha'} ${k % 2 ? 'nginx' : 'app'} line ${k}`, k % 2 ? 'nginx' : 'app', start + k * 1000),
      ),
    );
  }
  await eventually(async () => (await getJson<{ lines: unknown[] }>(`${server.url}/api/logs?limit=100`)).lines.length === 24);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  for (const a of agents) a.stream.close();
  await server?.stop();
});

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, bypassCSP: true });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, errors };
}

const lines = (page: Page) => page.getByTestId('log-line').allTextContents();
const count = (page: Page) => page.getByTestId('log-line').count();
const search = (page: Page) => new URL(page.url()).searchParams;

describe('the Logs page keeps its view in the address', () => {
  it('survives a reload; Back and Forward step through the changes; a shared link shows the same view', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${server.url}/logs`);
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(24);

    await page.getByTestId('logs-query').fill('line');
    await page.getByTestId('logs-search').click();
    await page.getByTestId('logs-range-6h').click();
    await page.getByTestId('logs-host').selectOption('beta');
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(12);
    await page.getByTestId('logs-source').selectOption('nginx');
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(6);
    await page.getByTestId('logs-tail').check();
    expect(Object.fromEntries(search(page))).toEqual({ q: 'line', range: '6h', host: 'beta', source: 'nginx', live: '1' });

    await page.reload();
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(6);
    expect((await lines(page)).every((l) => l.includes('beta nginx'))).toBe(true);
    expect(await page.getByTestId('logs-query').inputValue()).toBe('line');
    expect(await page.getByTestId('logs-range-6h').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('logs-host').inputValue()).toBe('beta');
    expect(await page.getByTestId('logs-source').inputValue()).toBe('nginx');
    expect(await page.getByTestId('logs-tail').isChecked()).toBe(true);

    // Back: live off, then the source filter gone; Forward: the source again.
    await page.goBack();
    await expect.poll(() => page.getByTestId('logs-tail').isChecked()).toBe(false);
    expect(search(page).get('source')).toBe('nginx');
    await page.goBack();
    await expect.poll(() => page.getByTestId('logs-source').inputValue()).toBe('');
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(12);
    await page.goForward();
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(6);
    expect(await page.getByTestId('logs-source').inputValue()).toBe('nginx');

    // A link someone shared, opened afresh: the same lines.
    const shared = await newPage();
    await shared.page.goto(`${server.url}/logs?q=${encodeURIComponent('"app line"')}&host=alpha`);
    await expect.poll(() => count(shared.page), { timeout: 20_000 }).toBe(6);
    expect((await lines(shared.page)).every((l) => l.includes('alpha app line'))).toBe(true);
    expect(await shared.page.getByTestId('logs-host').inputValue()).toBe('alpha');
    const bad = await seriousA11yViolations(shared.page);
    expect(bad, JSON.stringify(bad, null, 1)).toEqual([]);
    expect([...errors, ...shared.errors]).toEqual([]);
  });
});

describe('the live tail across a dropped socket', () => {
  it('shows the lines stored while the socket was down once it is back', async () => {
    const { page, errors } = await newPage();
    // The fault: the page's socket is closed from inside the page and reconnecting is held off
    // (new sockets go to a closed port) until released; server and agents stay real.
    await page.addInitScript(() => {
      const Real = WebSocket;
      const w = globalThis as unknown as { __sockets: WebSocket[]; __hold: boolean };
      w.__sockets = [];
      w.__hold = false;
      globalThis.WebSocket = class extends Real {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(w.__hold ? 'ws://127.0.0.1:9/held' : url, protocols);
          w.__sockets.push(this);
        }
      } as typeof WebSocket;
    });
    await page.goto(`${server.url}/logs?host=alpha&live=1`);
    await expect.poll(() => count(page), { timeout: 20_000 }).toBe(12);
    await expect.poll(() => page.getByTestId('live-status').getAttribute('data-live')).toBe('on');
    let n = 0;
    await eventually(async () => {
      await send(agents[0] as (typeof agents)[number], [record(`before the drop ${++n}`, 'app')]);
      return ((await lines(page))[0] ?? '').includes('before the drop');
    }, 30_000);

    await page.evaluate(() => {
      const w = globalThis as unknown as { __sockets: WebSocket[]; __hold: boolean };
      w.__hold = true;
      for (const s of w.__sockets) s.close();
    });
    await expect.poll(() => page.getByTestId('live-status').getAttribute('data-live')).toBe('off');
    for (let i = 1; i <= 5; i++) await send(agents[0] as (typeof agents)[number], [record(`while away ${i}`, 'app')]);
    await send(agents[1] as (typeof agents)[number], [record('another host, not tailed', 'app')]);
    await page.evaluate(() => {
      (globalThis as unknown as { __hold: boolean }).__hold = false;
    });
    await expect.poll(() => page.getByTestId('live-status').getAttribute('data-live'), { timeout: 30_000 }).toBe('on');
    await expect
      .poll(async () => (await lines(page)).slice(0, 5), { timeout: 20_000 })
      .toEqual([5, 4, 3, 2, 1].map((i) => expect.stringContaining(`while away ${i}`)));
    expect((await lines(page)).some((l) => l.includes('another host'))).toBe(false);
    expect(await page.getByTestId('logs-gap').count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
