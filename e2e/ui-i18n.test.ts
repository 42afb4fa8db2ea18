import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { createUser, type ServerProc, startServer } from '../testing/processes.ts';

/** The little of the DOM the page functions below use; the tests' tsconfig has no DOM library. */
interface PageGlobals {
  document: { body: { innerText: string }; documentElement: { lang: string } };
  localStorage: { setItem(k: string, v: string): void };
}

let server: ServerProc;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Chinese chosen either in the dashboard (saved in localStorage, browser in English) or by the
 * browser's own language with nothing saved (as on the sign-in page, which has no switch).
 */
async function chinesePage(by: 'choice' | 'browser'): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({
    viewport: { width: 1400, height: 900 },
    locale: by === 'browser' ? 'zh-CN' : 'en-US',
    // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
    bypassCSP: true,
  });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(server.url);
  if (by === 'choice') await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.setItem('falconet.lang', 'zh'));
  return { page, errors };
}

const bodyText = (page: Page) => page.evaluate(() => (globalThis as unknown as PageGlobals).document.body.innerText);

/** None of these English words or phrases, as whole words, is on the page. */
async function expectNoEnglish(page: Page, what: string, words: string[]): Promise<void> {
  const text = await bodyText(page);
  const left = words.filter((w) => new RegExp(`\\b${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(text));
  expect(left, `${what} still shows English: ${JSON.stringify(left)}`).toEqual([]);
}

async function axe(page: Page, name: string): Promise<void> {
  const bad = await seriousA11yViolations(page);
  expect(bad, `${name}: ${JSON.stringify(bad, null, 1)}`).toEqual([]);
}

describe('the dashboard in Simplified Chinese', () => {
  it('shows the alerts pages, the rule and channel editors in Chinese', async () => {
    const { page, errors } = await chinesePage('choice');
    await page.goto(`${server.url}/alerts`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('告警');
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await page.getByTestId('alerts-tab-rules').textContent()).toBe('规则');
    await expect.poll(() => bodyText(page)).toContain('没有触发中的告警。');
    await expect.poll(() => bodyText(page)).toContain('0 条触发中，0 条待定');
    expect(await bodyText(page)).toContain('开始于');
    await expectNoEnglish(page, 'active alerts', ['Alerts', 'Nothing firing', 'firing', 'pending', 'State', 'Since', 'Series']);
    await axe(page, 'alerts active zh');

    await page.getByTestId('alerts-tab-rules').click();
    await page.getByTestId('new-rule').click();
    const editor = page.getByTestId('rule-editor');
    await expect.poll(() => editor.locator('h3').textContent()).toBe('新建规则');
    await editor.getByLabel('阈值', { exact: true }).waitFor();
    expect(await editor.getByRole('button', { name: '保存' }).count()).toBe(1);
    expect(await editor.getByLabel('种类').inputValue()).toBe('threshold');
    await editor.getByLabel('种类').selectOption('disk_full');
    await editor.getByLabel('预计写满时间内').waitFor();
    await page.screenshot({ path: artifactPath('ui-i18n-rule-editor-zh.png'), fullPage: true });
    await expectNoEnglish(page, 'rule editor', [
      'New rule',
      'Name',
      'Kind',
      'Severity',
      'Threshold',
      'Full within',
      'Fit over',
      'Hosts',
      'Host labels',
      'Channels',
      'More settings',
      'Save',
      'Cancel',
      'Condition',
    ]);
    await axe(page, 'rule editor zh');

    await page.getByTestId('alerts-tab-channels').click();
    await page.getByRole('button', { name: '新建通知渠道' }).click();
    await expect.poll(() => page.locator('form h3').textContent()).toBe('新建通知渠道');
    await expectNoEnglish(page, 'channel editor', ['New channel', 'Delivered', 'Failed', 'Last error', 'Settings', 'Type']);
    await axe(page, 'channel editor zh');

    await page.getByTestId('alerts-tab-silences').click();
    await page.getByRole('button', { name: '添加静默' }).waitFor();
    await expectNoEnglish(page, 'silences', ['Matchers', 'Comment', 'Add silence', 'Every', 'When']);
    await axe(page, 'silences zh');

    for (const tab of ['history', 'deliveries'] as const) {
      await page.getByTestId(`alerts-tab-${tab}`).click();
      await expect.poll(() => bodyText(page)).toContain('时间');
      await expectNoEnglish(page, tab, ['Time', 'Rule', 'Change', 'Channel', 'Outcome', 'Attempts', 'Error']);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('shows the tasks page and the settings page in Chinese', async () => {
    const { page, errors } = await chinesePage('choice');
    await page.goto(`${server.url}/tasks`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('任务');
    await page.getByRole('button', { name: '运行' }).waitFor();
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual(['最近的任务', '审计日志']);
    await page.getByLabel('命令', { exact: true }).waitFor();
    await page.getByRole('combobox', { name: '搜索主机名和标签' }).waitFor();
    await page.getByLabel('Cron 计划（留空：立即运行）').fill('*/5 * * * *');
    await page.getByRole('button', { name: '加入计划' }).waitFor();
    await expectNoEnglish(page, 'tasks', [
      'Tasks',
      'Recent tasks',
      'Audit log',
      'Command',
      'Arguments',
      'by labels',
      'by id',
      'Time zone',
      'Timeout',
      'Run',
      'Schedule',
      'Status',
      'Created',
    ]);
    await page.screenshot({ path: artifactPath('ui-i18n-tasks-zh.png'), fullPage: true });
    await axe(page, 'tasks zh');

    await page.goto(`${server.url}/settings`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('设置');
    await expect.poll(() => page.getByRole('heading', { level: 2 }).allTextContents()).toEqual(['用户', 'API 令牌', '审计日志', '集群']);
    await page.getByTestId('new-user').getByRole('button', { name: '添加用户' }).waitFor();
    await page.getByTestId('new-token').getByRole('button', { name: '创建令牌' }).waitFor();
    expect(await page.locator('section.settings p.sub code').allTextContents()).toEqual([
      'Authorization: Bearer TOKEN',
      '*',
      '/api/metrics',
    ]);
    await expectNoEnglish(page, 'settings', [
      'Settings',
      'Users',
      'API tokens',
      'Audit log',
      'Add user',
      'Create token',
      'For scripts',
      'Last used',
      'Expires',
      'viewer',
      'Cluster',
      'Agents held',
      'Last heard',
    ]);
    await page.screenshot({ path: artifactPath('ui-i18n-settings-zh.png'), fullPage: true });
    await axe(page, 'settings zh');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('signs in in Chinese when the browser asks for it, once a user exists', async () => {
    await createUser(server.dataDir, 'root', 'admin', 'root-password');
    const { page, errors } = await chinesePage('browser');
    await page.getByTestId('signin-form').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('signin-submit').textContent()).toBe('登录');
    await page.getByLabel('用户名').fill('root');
    await page.getByLabel('密码').fill('root-password');
    await expectNoEnglish(page, 'sign-in', ['Name', 'Password', 'Sign in']);
    await axe(page, 'sign-in zh');
    await page.getByTestId('signin-submit').click();
    await expect.poll(() => page.getByTestId('account-menu').textContent(), { timeout: 15_000 }).toContain('root（管理员）');
    expect(await page.getByTestId('signout').textContent()).toBe('退出登录');
    expect(errors).toEqual([]);
    await page.close();
  });
});
