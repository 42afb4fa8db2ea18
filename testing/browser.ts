/**
 * Headless Debian Chromium through playwright-core; no browser download is ever attempted.
 * playwright gives every launch a fresh, empty profile directory of its own.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { ROOT } from './processes.ts';

export const CHROMIUM = process.env.FALCONET_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test-results');

export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

const AXE = join(ROOT, 'node_modules/axe-core/axe.min.js');

export interface A11yViolation {
  id: string;
  impact: string;
  help: string;
  /** The first few elements it was found on. */
  nodes: string[];
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function seriousA11yViolations(page: Page): Promise<A11yViolation[]> {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const g = globalThis as unknown as {
      axe: {
        run(
          ctx: unknown,
          opts: unknown,
        ): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }>;
      };
      document: unknown;
    };
    const r = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
