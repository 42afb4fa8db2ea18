/**
 * The dashboard's forms in Chromium against a real server and a real agent: a rule written
 * through the editor (metric picker, label filter fields, a live preview of the agent's values
 * with units), a channel from its schema's form (secret as a password, never shown back), a task
 * aimed with the agent picker and its refusal shown as such, settings inside the app shell, page
 * titles, and the icons the server serves. Screenshots in English and Chinese, light and dark.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

let server: ServerProc;
let agent: AgentProc;
let agentId = '';
let hostname = '';
let browser: Browser | undefined;

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

beforeAll(async () => {
  server = await startServer();
  agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}` });
  const line = await agent.waitFor(/"reporting to server"/);
  agentId = (JSON.parse(line) as { agentId: string }).agentId;
  // The CPU figure needs two reports; the preview reads the store, as the evaluator's warm-up does.
  await eventually(async () => {
    const a = await getJson<Json>(`${server.url}/api/agents/${agentId}`);
    hostname = a.hostname;
    const names = await getJson<Json>(`${server.url}/api/metrics/names?agent=${agentId}`);
    return names.names.includes('falconet_cpu_usage_percent');
  }, 60_000);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  await server?.stop();
});

async function open(path: string, opts: { lang?: 'en' | 'zh'; theme?: 'light' | 'dark'; width?: number } = {}): Promise<Page> {
  const page = await (browser as Browser).newPage({ viewport: { width: opts.width ?? 1280, height: 900 } });
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

describe('the dashboard forms on a real server and agent', () => {
  it('serves a favicon, an app icon and a manifest, named by the page', async () => {
    for (const [path, type] of [
      ['/favicon.svg', 'image/svg+xml'],
      ['/apple-touch-icon.png', 'image/png'],
      ['/icon-192.png', 'image/png'],
      ['/manifest.webmanifest', 'application/manifest+json'],
    ] as const) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toContain(type);
    }
    const manifest = await getJson<Json>(`${server.url}/manifest.webmanifest`);
    expect(manifest.icons.map((i: Json) => i.src)).toEqual(['/favicon.svg', '/icon-192.png', '/icon-512.png']);
    const html = await (await fetch(server.url)).text();
    expect(html).toContain('<link rel="icon" href="/favicon.svg"');
    expect(html).toContain('<link rel="apple-touch-icon" href="/apple-touch-icon.png"');
  });

  it('writes a rule with the metric picker and label fields, previewing the live value with its unit', async () => {
    const page = await open('/alerts#rules');
    try {
      await expect.poll(() => page.title()).toBe('Alerts · Falconet');
      await page.getByTestId('new-rule').click();
      const form = page.getByTestId('rule-editor');
      await form.getByLabel('Name', { exact: true }).fill('Busy CPU');
      const picker = form.getByRole('combobox', { name: 'Metric' });
      // Narrow enough that the host's container series (when it runs containers) do not rank first.
      await picker.fill('falconet cpu usage');
      const suggestions = form.getByRole('listbox', { name: 'Metric names' }).getByRole('option');
      await expect.poll(() => suggestions.first().textContent()).toContain('falconet_cpu_usage_percent');
      await picker.press('ArrowDown');
      await picker.press('Enter');
      expect(await picker.inputValue()).toBe('falconet_cpu_usage_percent');
      expect(await form.getByTestId('threshold-unit').textContent()).toBe('%');
      await form.getByLabel('Comparison', { exact: true }).selectOption('>=');
      await form.getByLabel('Threshold', { exact: true }).fill('0');

      // The agent's value now, with its unit, and that the draft would fire on it.
      const row = form.getByTestId('preview-row').filter({ hasText: hostname });
      await expect.poll(() => row.getAttribute('data-breach'), { timeout: 30_000 }).toBe('yes');
      expect(await row.getByTestId('preview-value').textContent()).toMatch(/^\d+(\.\d+)? %$/);
      await form.getByLabel('Threshold', { exact: true }).fill('1000');
      await expect.poll(() => row.getAttribute('data-breach'), { timeout: 30_000 }).toBe('no');

      // Host label filters as fields: another host name selects nobody, this one selects the agent.
      const hosts = form.getByTestId('host-labels');
      await hosts.getByRole('button', { name: 'Add filter' }).click();
      await hosts.getByLabel('Label name, row 1').fill('hostname');
      await hosts.getByLabel('Value, row 1').fill('no-such-host');
      await expect.poll(() => form.getByTestId('preview-empty').textContent(), { timeout: 30_000 }).toContain('No agent is selected');
      await hosts.getByLabel('Operator, row 1').selectOption('=~');
      await hosts.getByLabel('Value, row 1').fill(`${hostname.slice(0, 3)}.*`);
      await expect.poll(() => form.getByTestId('preview-row').count(), { timeout: 30_000 }).toBe(1);
      await page.screenshot({ path: artifactPath('forms-rule-editor-en-light.png'), fullPage: true });

      await form.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => page.locator('tr', { hasText: 'Busy CPU' }).textContent()).toContain('>= 1000 %');
      const rules = await getJson<Json>(`${server.url}/api/alerts/rules`);
      expect(rules.items.find((r: Json) => r.name === 'Busy CPU')).toMatchObject({
        metric: 'falconet_cpu_usage_percent',
        op: '>=',
        threshold: 1000,
        host_labels: [{ name: 'hostname', op: '=~', value: `${hostname.slice(0, 3)}.*` }],
      });
    } finally {
      await page.close();
    }
  });

  it('makes a channel from its type form, the secret a password field that is never shown back', async () => {
    const page = await open('/alerts#channels');
    try {
      await page.getByTestId('new-channel').click();
      const form = page.getByTestId('channel-editor');
      await form.getByLabel('Type', { exact: true }).selectOption('email');
      expect(await form.getByLabel('SMTP password').getAttribute('type')).toBe('password');
      await page.screenshot({ path: artifactPath('forms-channel-email-en-light.png'), fullPage: true });
      await form.getByLabel('Type', { exact: true }).selectOption('webhook');
      await form.getByLabel('Name', { exact: true }).fill('ops-hook');
      await form.getByLabel('URL *').fill('https://hooks.example.com/ops');
      const secret = form.getByLabel('Signing secret');
      expect(await secret.getAttribute('type')).toBe('password');
      await secret.fill('s3cret-value');
      await form.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => page.locator('tr', { hasText: 'ops-hook' }).count()).toBe(1);
      const channel = (await getJson<Json>(`${server.url}/api/alerts/channels`)).items.find((c: Json) => c.name === 'ops-hook');
      expect(channel).toMatchObject({ type: 'webhook', url: 'https://hooks.example.com/ops', secret: '********' });

      await page.locator('tr', { hasText: 'ops-hook' }).getByRole('button', { name: 'Edit' }).click();
      const again = page.getByTestId('channel-editor').getByLabel('Signing secret');
      expect(await again.inputValue()).toBe('');
      expect(await page.content()).not.toContain('s3cret-value');
      await page.getByTestId('channel-editor').getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => page.getByTestId('channel-editor').count()).toBe(0);
      await page.screenshot({ path: artifactPath('forms-channels-en-light.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('aims a task with the agent picker and shows the refusal as refused, with its reason', async () => {
    const page = await open('/tasks');
    try {
      await page.getByLabel('Command', { exact: true }).fill('/usr/bin/uptime');
      const search = page.getByRole('combobox', { name: 'Search host names and labels' });
      await search.fill(hostname.slice(0, 4));
      await page.getByRole('option', { name: new RegExp(hostname) }).click();
      expect(await page.getByTestId('agent-targets').textContent()).toBe(`Runs on 1 agent: ${hostname}`);
      await page.screenshot({ path: artifactPath('forms-tasks-picker-en-light.png'), fullPage: true });
      await page.getByRole('button', { name: 'Run' }).click();
      await page.waitForURL(/\/tasks\/[^/]+$/);
      const run = page.getByTestId('run');
      // This agent has tasks switched off: it refuses, and the page says so, not "done".
      await expect.poll(() => run.getAttribute('data-status'), { timeout: 30_000 }).toBe('refused');
      expect(await run.getByTestId('run-status').textContent()).toBe('refused');
      expect(await run.getByTestId('run-reason').textContent()).toContain('tasks are disabled on this agent');
      expect(await page.getByTestId('run-summary').textContent()).toBe('1 refused');
      await page.screenshot({ path: artifactPath('forms-task-refused-en-light.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('looks finished in English and Chinese, light and dark, desktop and phone: forms never wider than the screen', async () => {
    const combos = [
      { lang: 'en', theme: 'light', width: 1280 },
      { lang: 'en', theme: 'dark', width: 1280 },
      { lang: 'zh', theme: 'light', width: 1280 },
      { lang: 'zh', theme: 'dark', width: 1280 },
      { lang: 'en', theme: 'light', width: 390 },
      { lang: 'zh', theme: 'dark', width: 360 },
    ] as const;
    for (const c of combos) {
      const name = `${c.lang}-${c.theme}-${c.width}`;
      const page = await open('/alerts#rules', c);
      try {
        await page.getByTestId('new-rule').click();
        await page.getByTestId('preview-row').first().waitFor({ timeout: 30_000 });
        await page.getByTestId('series-labels').getByRole('button').last().click();
        await page.screenshot({ path: artifactPath(`forms-alerts-${name}.png`), fullPage: true });
        await page.goto(`${server.url}/tasks`);
        await page.getByTestId('agent-picker').waitFor();
        await page.screenshot({ path: artifactPath(`forms-tasks-${name}.png`), fullPage: true });
        await page.goto(`${server.url}/settings`);
        await page.getByTestId('new-token').waitFor();
        await page.screenshot({ path: artifactPath(`forms-settings-${name}.png`), fullPage: true });
        // The forms fit the screen, and the pages' tables scroll within themselves rather than widen the page.
        for (const [path, testid] of [
          ['/alerts#rules', 'rule-editor'],
          ['/tasks', 'agent-picker'],
          ['/settings', 'new-token'],
        ] as const) {
          await page.goto(`${server.url}${path}`);
          if (testid === 'rule-editor') await page.getByTestId('new-rule').click();
          const box = await page.getByTestId(testid).boundingBox();
          expect(box, `${name} ${testid}`).not.toBeNull();
          expect((box?.x ?? 0) + (box?.width ?? 0), `${name} ${testid}`).toBeLessThanOrEqual(c.width);
          const tables = await page.locator('main table').evaluateAll((ts) => ts.map((t) => Math.round(t.getBoundingClientRect().right)));
          expect(Math.max(0, ...tables), `${name} ${path} tables`).toBeLessThanOrEqual(c.width);
        }
      } finally {
        await page.close();
      }
    }
  });

  it('shows settings inside the app shell, titled, in Chinese and dark too', async () => {
    const page = await open('/settings', { lang: 'zh', theme: 'dark' });
    try {
      await page.getByTestId('settings-page').waitFor();
      expect(await page.title()).toBe('设置 · Falconet');
      for (const id of ['nav-overview', 'nav-tasks', 'nav-alerts', 'lang-switch', 'theme-switch']) {
        expect(await page.getByTestId(id).count(), id).toBe(1);
      }
      expect(await page.getByTestId('nav-settings').getAttribute('aria-current')).toBe('page');
      await page.screenshot({ path: artifactPath('forms-settings-zh-dark.png'), fullPage: true });
      await page.getByTestId('nav-alerts').click();
      await page.getByTestId('alerts-tab-rules').click();
      await page.getByTestId('new-rule').click();
      await page.getByTestId('preview-row').first().waitFor({ timeout: 30_000 });
      await page.screenshot({ path: artifactPath('forms-rule-editor-zh-dark.png'), fullPage: true });
      expect(await page.title()).toBe('告警 · Falconet');
    } finally {
      await page.close();
    }
  });
});
