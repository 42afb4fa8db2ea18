/**
 * Screenshots of every page, kept under test-results/ for a person to look at: the overview, a
 * host page in its agent's first minute and one with an hour of history, the fleet heatmap,
 * alerts, tasks and settings, each in English and Chinese, light and dark, on a desktop
 * (1440x900) and a phone (390x844), named `screen-<page>-<lang>-<theme>-<device>.png`.
 *
 * One real server, real agents and simulated hosts (one backfilled with an hour of samples over
 * its real gRPC stream), one browser, one context per language, theme and device. Each shot
 * first checks the page is what it claims to be: its heading in the shot's language, charts
 * with points, the theme applied, nothing wider than the screen; a blank shot fails.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadAgentId } from '../packages/agent/src/identity.ts';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { BUSY_RULE, type DashboardScene, HISTORY_AGENT, startDashboardScene } from '../testing/dashboard-scene.ts';
import { measureFit } from '../testing/page-fit.ts';
import { type AgentProc, createToken, eventually, startAgent, tempDir } from '../testing/processes.ts';

const LANGS = ['en', 'zh'] as const;
const THEMES = ['light', 'dark'] as const;
const DEVICES = {
  desktop: { viewport: { width: 1440, height: 900 } },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
} as const;
type Lang = (typeof LANGS)[number];
type Theme = (typeof THEMES)[number];
type Device = keyof typeof DEVICES;

interface Variant {
  lang: Lang;
  theme: Theme;
  device: Device;
  context: BrowserContext;
}

/** The page headings in each language, as the dictionaries have them. */
const HEADINGS = {
  agents: { en: 'Agents', zh: '主机' },
  alerts: { en: 'Alerts', zh: '告警' },
  tasks: { en: 'Tasks', zh: '任务' },
  settings: { en: 'Settings', zh: '设置' },
} satisfies Record<string, Record<Lang, string>>;

const WAIT = { timeout: 60_000 };
/** Pages loading at once: the machine's two cores stay busy without the pages starving each other. */
const AT_ONCE = 3;
const SIMULATED = 8;
/** The scene's real agent, its simulated hosts and the one with history, and the fresh agent of the first test. */
const AGENTS = 1 + SIMULATED + 1 + 1;

let scene: DashboardScene;
let browser: Browser;
const variants: Variant[] = [];
const saved: string[] = [];

beforeAll(async () => {
  scene = await startDashboardScene({ simulated: SIMULATED, history: true });
  browser = await launchChromium();
  for (const device of Object.keys(DEVICES) as Device[]) {
    for (const lang of LANGS) {
      for (const theme of THEMES) {
        const context = await browser.newContext({ ...DEVICES[device], locale: lang === 'zh' ? 'zh-CN' : 'en-US' });
        await scene.signInContext(context);
        // The dashboard reads its language and theme from localStorage before the first paint.
        await context.addInitScript(
          ([l, t]) => {
            const store = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage;
            store.setItem('falconet.lang', l as string);
            store.setItem('falconet.theme', t as string);
          },
          [lang, theme],
        );
        variants.push({ lang, theme, device, context });
      }
    }
  }
}, 240_000);

afterAll(async () => {
  for (const v of variants) await v.context.close();
  await browser?.close();
  await scene?.stop();
});

/** What every page must show before its picture is taken. */
async function expectPage(page: Page, v: Variant, heading: string): Promise<void> {
  await expect.poll(() => page.locator('main h1').first().textContent(), WAIT).toContain(heading);
  const shown = await page.evaluate(() => {
    const d = (globalThis as unknown as { document: { documentElement: { lang: string; dataset: Record<string, string> } } }).document;
    return { lang: d.documentElement.lang, theme: d.documentElement.dataset.theme };
  });
  expect(shown).toEqual({ lang: v.lang === 'zh' ? 'zh-CN' : 'en', theme: v.theme });
  const fit = await measureFit(page);
  expect(fit.escapees, `${heading} (${v.device}): elements past the screen's edge`).toEqual([]);
  expect(fit.scrollWidth).toBeLessThanOrEqual(fit.viewport);
}

/** Each chart named has points drawn. */
async function expectCharts(page: Page, ids: string[], atLeast: number): Promise<void> {
  for (const id of ids) {
    await expect
      .poll(async () => Number(await page.getByTestId(`chart-${id}`).getAttribute('data-points')), WAIT)
      .toBeGreaterThanOrEqual(atLeast);
  }
}

/** Opens `path` in every variant, waits for `ready`, checks the page and keeps its picture; a few variants at a time. */
async function shoot(name: string, path: string, ready: (page: Page, v: Variant) => Promise<void>): Promise<void> {
  const queue = [...variants];
  const one = async (v: Variant) => {
    const page = await v.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const file = `screen-${name}-${v.lang}-${v.theme}-${v.device}.png`;
    try {
      await page.goto(`${scene.server.url}${path}`);
      await ready(page, v);
      // Let a chart that just got its data finish drawing before the picture.
      await page.evaluate(
        () =>
          new Promise((r) =>
            (globalThis as unknown as { requestAnimationFrame(f: () => void): void }).requestAnimationFrame(() => r(null)),
          ),
      );
      await page.screenshot({ path: artifactPath(file), fullPage: true });
      saved.push(file);
      expect(errors, `${file}: errors on the page`).toEqual([]);
    } catch (err) {
      await page.screenshot({ path: artifactPath(`failed-${file}`), fullPage: true }).catch(() => undefined);
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    } finally {
      await page.close();
    }
  };
  const worker = async () => {
    for (let v = queue.shift(); v; v = queue.shift()) await one(v);
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
}

describe('screenshots', () => {
  it("the host page in its agent's first minute", async () => {
    // A real agent started now, as a new user starts one: its own token, its default 10 s interval.
    const dataDir = tempDir('falconet-fresh-agent-');
    const id = loadAgentId(dataDir);
    const { token } = await createToken(scene.server.dataDir, { agent: id });
    const config = join(dataDir, 'agent.yaml');
    writeFileSync(config, stringify({ server: { token } }));
    let fresh: AgentProc | undefined;
    try {
      fresh = await startAgent({ server: `127.0.0.1:${scene.server.grpcPort}`, dataDir, interval: '10s', args: ['--config', config] });
      const started = Date.now();
      // Known to the server once its first registration is taken.
      const { hostname } = await eventually(async () => {
        const res = await fetch(`${scene.server.url}/api/agents/${encodeURIComponent(id)}`, { headers: scene.admin.headers });
        return res.ok ? ((await res.json()) as { hostname: string }) : undefined;
      }, 60_000);
      await shoot('host-first-minute', `/agents/${encodeURIComponent(id)}`, async (page, v) => {
        await expectCharts(page, ['CPU'], 1);
        await page.getByTestId('mounts').waitFor(WAIT);
        await expectPage(page, v, hostname);
      });
      // What the pictures show is a first minute only if they were all taken within it.
      const age = Date.now() - started;
      if (age > 60_000) console.warn(`the first-minute pictures took ${Math.round(age / 1000)} s after the agent started`);
    } finally {
      await fresh?.stop();
    }
  }, 240_000);

  it('the overview', async () => {
    await shoot('overview', '/', async (page, v) => {
      await expect.poll(() => page.getByTestId('fleet-agents').textContent(), WAIT).toBe(String(AGENTS));
      await expect.poll(async () => (await page.getByTestId('cpu').first().textContent())?.trim(), WAIT).toMatch(/\d/);
      await expectPage(page, v, HEADINGS.agents[v.lang]);
    });
  }, 240_000);

  it('a host page with an hour of history', async () => {
    await shoot('host-hour', `/agents/${HISTORY_AGENT}`, async (page, v) => {
      await page.getByTestId('range-1h').click();
      // An hour at one report per 10 s: the CPU chart holds most of its 360 points.
      await expectCharts(page, ['CPU'], 300);
      await expectCharts(page, ['cpu-cores', 'load', 'Memory', 'network'], 100);
      await expectPage(page, v, 'history-host-00000');
    });
  }, 240_000);

  it('the fleet heatmap', async () => {
    await shoot('heatmap', '/?view=heatmap', async (page, v) => {
      // The heatmap where the dashboard has it; until then the URL shows the table.
      await page.locator('[data-testid="heatmap"], [data-testid="agent-row"]').first().waitFor(WAIT);
      if ((await page.getByTestId('heatmap').count()) > 0) {
        const size = await page.getByTestId('heatmap').boundingBox();
        expect(size?.width ?? 0).toBeGreaterThan(100);
      } else {
        await expect.poll(() => page.getByTestId('agent-row').count(), WAIT).toBeGreaterThanOrEqual(3);
      }
      await expectPage(page, v, HEADINGS.agents[v.lang]);
    });
  }, 240_000);

  it('alerts', async () => {
    await shoot('alerts', '/alerts', async (page, v) => {
      await expect.poll(() => page.getByTestId('alerts-page').locator('tbody tr', { hasText: BUSY_RULE }).count(), WAIT).toBeGreaterThan(0);
      await expectPage(page, v, HEADINGS.alerts[v.lang]);
    });
  }, 240_000);

  it('tasks', async () => {
    await shoot('tasks', '/tasks', async (page, v) => {
      await expect.poll(() => page.getByTestId('task-row').count(), WAIT).toBe(2);
      await expectPage(page, v, HEADINGS.tasks[v.lang]);
    });
  }, 240_000);

  it('settings', async () => {
    await shoot('settings', '/settings', async (page, v) => {
      await expect.poll(() => page.getByTestId('user-row').count(), WAIT).toBe(2);
      await expect.poll(() => page.getByTestId('token-row').count(), WAIT).toBe(1);
      await expectPage(page, v, HEADINGS.settings[v.lang]);
    });
  }, 240_000);

  it('kept one picture per page, language, theme and device', () => {
    expect(saved.length).toBe(7 * variants.length);
  });
});
