/**
 * The dashboard's alert pages in Chromium against a real server: rules from the rules file and
 * a rule made through the form, a channel tested from its row, a silence added.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { eventually, getJson, type ServerProc, startServer, tempDir } from '../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../testing/receivers.ts';

let server: ServerProc;
let http: HttpReceiver;
let browser: Browser | undefined;

beforeAll(async () => {
  http = await startHttpReceiver();
  const dir = tempDir('falconet-alerts-ui-');
  const rules = join(dir, 'rules.yaml');
  writeFileSync(
    rules,
    `channels:\n  - name: team-hook\n    type: webhook\n    url: ${http.url}/team\nrules:\n  - name: Host down\n    kind: agent_offline\n    for: 2m\n    channels: [team-hook]\n`,
  );
  server = await startServer({ args: ['--config', writeConfig(dir, rules)] });
  browser = await launchChromium();
});

function writeConfig(dir: string, rules: string): string {
  const file = join(dir, 'falconet-server.yaml');
  writeFileSync(file, `alerts:\n  rules_file: ${rules}\n`);
  return file;
}

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await http?.close();
});

describe('alert pages', () => {
  it('lists file rules, creates a rule through the form, tests a channel and adds a silence', async () => {
    const page = await (browser as Browser).newPage();
    try {
      await page.goto(`${server.url}/`);
      await page.getByTestId('nav-alerts').click();
      await page.getByTestId('alerts-tab-rules').click();
      await expect.poll(() => page.locator('tr', { hasText: 'Host down' }).textContent()).toContain('file');

      await page.getByTestId('new-rule').click();
      const form = page.getByTestId('rule-editor');
      await form.getByLabel('Name', { exact: true }).fill('Browser CPU');
      await form.getByLabel('Threshold', { exact: true }).fill('85');
      await form.getByLabel('For', { exact: true }).fill('2m');
      await form.getByLabel('team-hook', { exact: true }).check();
      await form.getByRole('button', { name: 'Save' }).click();
      await expect
        .poll(() => page.locator('tr', { hasText: 'Browser CPU' }).textContent())
        .toContain('avg(falconet_cpu_usage_percent[1m]) > 85');
      const rules = await getJson<{ items: { name: string; threshold?: number; for?: string; channels: string[] }[] }>(
        `${server.url}/api/alerts/rules`,
      );
      expect(rules.items.find((r) => r.name === 'Browser CPU')).toMatchObject({ threshold: 85, for: '2m', channels: ['team-hook'] });

      // A mistake is named by the server, on the form.
      await page.getByTestId('new-rule').click();
      await form.getByLabel('Name', { exact: true }).fill('Broken');
      await form.getByLabel('Window', { exact: true }).fill('soon');
      await form.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => form.getByRole('alert').textContent()).toContain('"soon" is not a duration');
      await form.getByRole('button', { name: 'Cancel' }).click();

      await page.getByTestId('alerts-tab-channels').click();
      const before = http.requests.length;
      await page.locator('tr', { hasText: 'team-hook' }).getByRole('button', { name: 'Test' }).click();
      await expect.poll(() => page.locator('.notice').textContent()).toContain('Test message delivered to team-hook');
      await eventually(() => http.requests.length > before);

      await page.getByTestId('alerts-tab-silences').click();
      await page.getByLabel('Matchers', { exact: true }).fill('{host="db-1"}');
      await page.getByLabel('Comment', { exact: true }).fill('disk swap');
      await page.getByRole('button', { name: 'Add silence' }).click();
      await expect.poll(() => page.locator('tr', { hasText: 'disk swap' }).textContent()).toContain('active');
    } catch (err) {
      await page.screenshot({ path: artifactPath('alerts-browser.png') });
      throw err;
    } finally {
      await page.close();
    }
  });
});
