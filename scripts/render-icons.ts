/**
 * Renders the dashboard's PNG icons from its SVG (packages/web/public/favicon.svg) with the system
 * Chromium: apple-touch-icon.png (180 px, square: iOS rounds the corners itself) and the web app
 * manifest's 192 and 512 px icons. Run again after changing the SVG: node scripts/render-icons.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from '../testing/browser.ts';
import { ROOT } from '../testing/processes.ts';

const dir = join(ROOT, 'packages/web/public');
const svg = readFileSync(join(dir, 'favicon.svg'), 'utf8');
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  for (const [file, size, square] of [
    ['apple-touch-icon.png', 180, true],
    ['icon-192.png', 192, false],
    ['icon-512.png', 512, false],
  ] as const) {
    const art = square ? svg.replace('rx="14"', 'rx="0"') : svg;
    await page.setViewportSize({ width: size, height: size });
    await page.setContent(
      `<html><body style="margin:0;background:transparent">${art.replace('<svg ', `<svg width="${size}" height="${size}" `)}</body></html>`,
    );
    await page.screenshot({ path: join(dir, file), omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
    console.log(`${file} ${size}x${size}`);
  }
} finally {
  await browser.close();
}
