/**
 * Every page of the dashboard on a phone, in Chromium against a real server with a real agent,
 * simulated hosts, a firing rule and two tasks: at 360, 390 and 430 px no page is wider than the
 * screen (nothing to swipe sideways to), wide tables scroll inside their own box, and the header
 * spans the width.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium, seriousA11yViolations } from '../testing/browser.ts';
import { BUSY_RULE, type DashboardScene, startDashboardScene } from '../testing/dashboard-scene.ts';
import { measureFit } from '../testing/page-fit.ts';

const WIDTHS = [360, 390, 430] as const;
const WAIT = { timeout: 60_000 };

let scene: DashboardScene;
let browser: Browser;

beforeAll(async () => {
  scene = await startDashboardScene({ simulated: 6, interval: '2s' });
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await scene?.stop();
});

interface PhonePage {
  name: string;
  /** Opens the page and waits until it shows what it is about. */
  open(page: Page): Promise<void>;
  /** Seen signed out (the sign-in page). */
  signedOut?: boolean;
}

const points = (page: Page, id: string) => async () => Number(await page.getByTestId(id).getAttribute('data-points'));

const PAGES: PhonePage[] = [
  {
    name: 'sign-in',
    signedOut: true,
    async open(page) {
      await page.goto(scene.server.url);
      await page.getByTestId('signin-form').waitFor(WAIT);
    },
  },
  {
    name: 'overview',
    async open(page) {
      await page.goto(scene.server.url);
      await expect.poll(() => page.getByTestId('agent-row').count(), WAIT).toBeGreaterThanOrEqual(7);
      await expect.poll(() => page.getByTestId('fleet-agents').textContent(), WAIT).toBe('7');
    },
  },
  {
    name: 'host',
    async open(page) {
      await page.goto(`${scene.server.url}/agents/${encodeURIComponent(scene.realId)}`);
      await page.getByTestId('mounts').waitFor(WAIT);
      await expect.poll(points(page, 'chart-CPU'), WAIT).toBeGreaterThan(1);
      await expect.poll(points(page, 'chart-network'), WAIT).toBeGreaterThan(0);
    },
  },
  {
    name: 'host-1h',
    async open(page) {
      await page.goto(`${scene.server.url}/agents/web-0`);
      await page.getByTestId('range-1h').click();
      await expect.poll(points(page, 'chart-CPU'), WAIT).toBeGreaterThan(1);
      await page.getByTestId('mounts').waitFor(WAIT);
    },
  },
  {
    name: 'containers',
    async open(page) {
      await page.goto(`${scene.server.url}/agents/web-0`);
      await page.getByTestId('tab-containers').click();
      await page.getByTestId('ctr-table').waitFor(WAIT);
    },
  },
  {
    name: 'containers-none',
    async open(page) {
      await page.goto(`${scene.server.url}/agents/${encodeURIComponent(scene.realId)}`);
      await page.getByTestId('tab-containers').click();
      await page.locator('[data-testid="ctr-none"], [data-testid="docker-down"], [data-testid="ctr-table"]').first().waitFor(WAIT);
    },
  },
  {
    name: 'alerts',
    async open(page) {
      await page.goto(`${scene.server.url}/alerts`);
      await expect.poll(() => page.getByTestId('alerts-page').locator('tbody tr').count(), WAIT).toBeGreaterThan(0);
    },
  },
  {
    name: 'alert-rules',
    async open(page) {
      await page.goto(`${scene.server.url}/alerts#rules`);
      await page.locator('tr', { hasText: BUSY_RULE }).first().waitFor(WAIT);
    },
  },
  {
    name: 'alert-editor',
    async open(page) {
      await page.goto(`${scene.server.url}/alerts#rules`);
      await page.getByTestId('new-rule').click();
      await page.getByTestId('rule-editor').waitFor(WAIT);
    },
  },
  {
    name: 'tasks',
    async open(page) {
      await page.goto(`${scene.server.url}/tasks`);
      await expect.poll(() => page.getByTestId('task-row').count(), WAIT).toBe(2);
    },
  },
  {
    name: 'task',
    async open(page) {
      await page.goto(`${scene.server.url}/tasks/${encodeURIComponent(scene.tasks.ran)}`);
      await expect.poll(() => page.getByTestId('run').getAttribute('data-status'), WAIT).toBe('succeeded');
      await expect.poll(() => page.getByTestId('run-output').textContent(), WAIT).toContain('Linux');
    },
  },
  {
    name: 'settings',
    async open(page) {
      await page.goto(`${scene.server.url}/settings`);
      await expect.poll(() => page.getByTestId('user-row').count(), WAIT).toBe(2);
      await expect.poll(() => page.getByTestId('audit-row').count(), WAIT).toBeGreaterThan(0);
    },
  },
];

for (const width of WIDTHS) {
  describe(`a phone ${width} px wide`, () => {
    let signedIn: BrowserContext;
    let signedOut: BrowserContext;

    beforeAll(async () => {
      // axe-core is injected as a script tag, which the server's CSP (rightly) forbids.
      const options = { viewport: { width, height: 800 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, bypassCSP: true };
      signedIn = await browser.newContext(options);
      await scene.signInContext(signedIn);
      signedOut = await browser.newContext(options);
    });

    afterAll(async () => {
      await signedIn?.close();
      await signedOut?.close();
    });

    for (const p of PAGES) {
      it(`${p.name}: nothing wider than the screen, the header across it`, { timeout: 120_000 }, async () => {
        const page = await (p.signedOut ? signedOut : signedIn).newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        try {
          await p.open(page);
          const fit = await measureFit(page);
          expect(fit.viewport, 'the layout viewport is the phone').toBe(width);
          expect(fit.escapees, `${p.name} at ${width} px: elements past the screen's edge`).toEqual([]);
          expect(fit.scrollWidth, `${p.name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(width);
          if (!p.signedOut) {
            expect(fit.header, `${p.name}: the app header`).not.toBeNull();
            expect(fit.header?.left).toBeLessThanOrEqual(0);
            expect(fit.header?.right).toBeGreaterThanOrEqual(width);
          }
          // A table that scrolls in its own box must stay usable without a pointer (axe: scrollable-region-focusable).
          if (width === 390) expect(await seriousA11yViolations(page), `${p.name} at ${width} px`).toEqual([]);
          expect(errors).toEqual([]);
        } catch (err) {
          await page.screenshot({ path: artifactPath(`phone-${p.name}-${width}.png`), fullPage: true });
          throw err;
        } finally {
          await page.close();
        }
      });
    }
  });
}
