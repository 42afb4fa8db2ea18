/**
 * The new channel types in the dashboard, in Chromium against a real server: an ntfy channel made
 * from its type's form (topic and token as password fields), then "Test" on its row delivers the
 * request ntfy documents to a recording server on loopback; the type list and a type's own field
 * labels in Chinese.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { getJson, type ServerProc, startServer } from '../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../testing/receivers.ts';

let server: ServerProc;
let http: HttpReceiver;
let browser: Browser | undefined;

beforeAll(async () => {
  http = await startHttpReceiver();
  server = await startServer();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await http?.close();
});

async function open(path: string, lang: 'en' | 'zh'): Promise<Page> {
  const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
  await page.addInitScript((l) => localStorage.setItem('falconet.lang', l), lang);
  await page.goto(`${server.url}${path}`);
  return page;
}

describe('new channel types in the dashboard', () => {
  it('makes an ntfy channel from its form and sends a test from its row', async () => {
    const page = await open('/alerts#channels', 'en');
    try {
      await page.getByTestId('new-channel').click();
      const form = page.getByTestId('channel-editor');
      await form.getByLabel('Type', { exact: true }).selectOption('ntfy');
      await form.getByLabel('Name', { exact: true }).fill('phone');
      await form.getByLabel('Server', { exact: true }).fill(http.url);
      const topic = form.getByLabel('Topic *');
      expect(await topic.getAttribute('type')).toBe('password');
      await topic.fill('ops-alerts-7f3a');
      await form.getByLabel('Access token', { exact: true }).fill('tk_browser');
      await page.screenshot({ path: artifactPath('channels-ntfy-en.png'), fullPage: true });
      await form.getByRole('button', { name: 'Save' }).click();
      const row = page.locator('tr', { hasText: 'phone' });
      await expect.poll(() => row.textContent()).toContain('ntfy');
      const stored = (await getJson<{ items: Record<string, unknown>[] }>(`${server.url}/api/alerts/channels`)).items.find(
        (c) => c.name === 'phone',
      );
      expect(stored).toMatchObject({ type: 'ntfy', topic: '********', token: '********' });

      const before = http.requests.length;
      await row.getByRole('button', { name: 'Test' }).click();
      await expect.poll(() => page.locator('.notice').textContent()).toContain('Test message delivered to phone');
      const [req] = (await http.waitFor((r) => r.length > before)).slice(before);
      expect(req).toMatchObject({ method: 'POST', url: '/' });
      expect(req?.headers.authorization).toBe('Bearer tk_browser');
      expect(req?.json).toMatchObject({ topic: 'ops-alerts-7f3a', title: '[FIRING:1] Falconet test notification' });
    } catch (err) {
      await page.screenshot({ path: artifactPath('channels-browser-failed.png') });
      throw err;
    } finally {
      await page.close();
    }
  });

  it('names the types and their fields in Chinese', async () => {
    const page = await open('/alerts#channels', 'zh');
    try {
      await page.getByTestId('new-channel').click();
      const form = page.getByTestId('channel-editor');
      const type = form.locator('select[data-field="type"]');
      const labels = await type.locator('option').allTextContents();
      expect(labels).toEqual(expect.arrayContaining(['Server酱', '钉钉', 'Discord', 'Prometheus Alertmanager', 'Matrix']));
      await type.selectOption('serverchan');
      expect(await form.getByLabel('SendKey 密钥 *').getAttribute('type')).toBe('password');
      await type.selectOption('matrix');
      await expect.poll(() => form.getByText('主服务器').count()).toBeGreaterThan(0);
      await page.screenshot({ path: artifactPath('channels-matrix-zh.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });
});
