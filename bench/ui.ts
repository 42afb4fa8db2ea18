/**
 * The dashboard at fleet size: a real server, 5,000 simulated agents (bench/lib-agents.ts
 * processes) and headless Chromium. Each simulated agent sends the series a default agent sends
 * on this machine, measured first (lib-fleet.ts, measureDefaultAgent; printed as
 * `default_agent_samples_per_report`). Prints, as JSON lines:
 * - overview first render: navigation start to the first rows painted with the whole fleet
 *   counted (goal <= 1.5 s). Cold (`overview_first_render_cold_ms`): each load in a browser
 *   launched for it, with a fresh profile, so nothing is cached (HTTP cache, compiled scripts);
 *   warm (`overview_first_render_ms`): reloads in one page that has loaded the dashboard once
 *   before (that load not counted). The median of each, every run listed in `runs`;
 * - heatmap first render (`heatmap_first_render_ms`, `_cold_ms`): navigation start to the frame
 *   after `/?view=heatmap` drew one cell per agent (goal <= 1 s), warm and cold as above, and
 *   of that the canvas paint alone (`heatmap_paint_ms`, the page's own measure);
 * - the longest task while scrolling the virtualized list (PerformanceObserver "longtask";
 *   goal: none > 100 ms), wheel scrolling and jumps end to end;
 * - ingest to screen: from the moment the server ingested a probe agent's report (the agent's
 *   lastSeenMs, set by the server when the report arrives) to the moment the row showing it
 *   was painted in the browser (goal <= 1 s), measured while every agent is reporting.
 *
 * usage: npm run bench -- ui [--quick] [--agents N]
 */
import type { Page } from 'playwright-core';
import { launchChromium } from '../testing/browser.ts';
import { getJson, tempDir } from '../testing/processes.ts';
import { AgentSimulator, hostSummarySeries } from '../testing/simulator.ts';
import { emit, median, percentile, progress, quick, sleep } from './lib.ts';
import { defaultAgentFigure, measureDefaultAgent, startBenchServer, startLoad } from './lib-fleet.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const AGENTS = Number(arg('--agents') ?? (quick ? 1000 : 5000));
const LOADS = quick ? 3 : 5;
const PROBE_SECONDS = quick ? 15 : 30;

progress('ui: measuring what a default agent sends per report on this machine');
const defaultAgent = await measureDefaultAgent();
emit(defaultAgentFigure('ui', defaultAgent));
const server = await startBenchServer(tempDir('falconet-bench-ui-'), { FALCONET_STORE_ENGINE: 'embedded' });
const load = startLoad({
  grpc: `127.0.0.1:${server.grpcPort}`,
  agents: AGENTS,
  series: defaultAgent.series,
  intervalMs: 10_000,
  processes: 2,
});
// The probe reports every second; its host name sorts first, so its row is on screen.
const probe = new AgentSimulator({
  server: `127.0.0.1:${server.grpcPort}`,
  count: 1,
  intervalMs: 1000,
  prefix: 'a-probe',
  ledger: false,
  series: hostSummarySeries,
});
const browser = await launchChromium();

/** Navigation start to the frame after the list shows the whole fleet (the probe included) with data in its first row. */
async function firstRender(page: Page): Promise<number> {
  await page.goto(`${server.url}/`, { waitUntil: 'commit' });
  return await page.evaluate(
    (total) =>
      new Promise<number>((resolve) => {
        const g = globalThis as unknown as {
          document: { querySelector(s: string): { textContent: string | null } | null };
          requestAnimationFrame(cb: () => void): void;
        };
        const check = () => {
          const count = g.document.querySelector('[data-testid="agent-count"]')?.textContent ?? '';
          const row = g.document.querySelector('[data-testid="agent-row"] [data-testid="cpu"]')?.textContent ?? '';
          if (count.includes(`of ${total} `) && row && row !== '–') g.requestAnimationFrame(() => resolve(performance.now()));
          else g.requestAnimationFrame(check);
        };
        check();
      }),
    AGENTS + 1,
  );
}

/** Navigation start to the frame after the heatmap drew a cell for every agent (the probe included). */
const heatPaints: number[] = [];
async function heatmapFirstRender(page: Page): Promise<number> {
  await page.goto(`${server.url}/?view=heatmap`, { waitUntil: 'commit' });
  const ms = await page.evaluate(
    (total) =>
      new Promise<number>((resolve) => {
        const g = globalThis as unknown as {
          document: { querySelector(s: string): { dataset: { cells?: string } } | null };
          requestAnimationFrame(cb: () => void): void;
        };
        const check = () => {
          if (g.document.querySelector('[data-testid="heatmap-canvas"]')?.dataset.cells === String(total))
            g.requestAnimationFrame(() => resolve(performance.now()));
          else g.requestAnimationFrame(check);
        };
        check();
      }),
    AGENTS + 1,
  );
  heatPaints.push(Number(await page.getByTestId('heatmap-canvas').getAttribute('data-paint-ms')));
  return ms;
}

try {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const r = await getJson<{ total: number }>(`${server.url}/api/agents?status=online&limit=1`);
    if (r.total >= AGENTS) break;
    if (Date.now() > deadline) throw new Error(`only ${r.total} of ${AGENTS} agents online`);
    progress(`ui: ${r.total} of ${AGENTS} agents online`);
    await sleep(3000);
  }
  await probe.start();
  progress(`ui: ${AGENTS} agents online; letting a few report rounds pass`);
  await sleep(20_000);

  const page: Page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.addInitScript(() => {
    const w = globalThis as unknown as { __longtasks: { start: number; duration: number }[] };
    w.__longtasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask' as never, buffered: true });
  });

  // Cold: a browser of its own for each load, with a fresh profile; warm: the page above, after one load.
  const cold: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const fresh = await launchChromium();
    try {
      const ms = await firstRender(await fresh.newPage({ viewport: { width: 1440, height: 900 } }));
      cold.push(ms);
      progress(`ui: first render, cold: ${ms.toFixed(0)} ms`);
    } finally {
      await fresh.close();
    }
  }
  progress(`ui: first render, the load before the warm ones: ${(await firstRender(page)).toFixed(0)} ms`);
  const warm: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const ms = await firstRender(page);
    warm.push(ms);
    progress(`ui: first render, warm: ${ms.toFixed(0)} ms`);
  }
  const fleet = { agents: AGENTS + 1, series_per_agent: defaultAgent.series.length };
  emit({
    bench: 'ui',
    metric: 'overview_first_render_ms',
    value: Math.round(median(warm)),
    unit: 'ms',
    ref: '<= 1500',
    cache: 'warm',
    runs: warm.map(Math.round),
    ...fleet,
  });
  emit({
    bench: 'ui',
    metric: 'overview_first_render_cold_ms',
    value: Math.round(median(cold)),
    unit: 'ms',
    ref: '<= 1500',
    cache: 'cold: a new browser and profile per load',
    runs: cold.map(Math.round),
    ...fleet,
  });

  // The heatmap: the same fleet as one canvas, cold (a browser per load) and warm (the page above).
  const heatCold: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const fresh = await launchChromium();
    try {
      const ms = await heatmapFirstRender(await fresh.newPage({ viewport: { width: 1440, height: 900 } }));
      heatCold.push(ms);
      progress(`ui: heatmap first render, cold: ${ms.toFixed(0)} ms`);
    } finally {
      await fresh.close();
    }
  }
  const heatWarm: number[] = [];
  for (let i = 0; i < LOADS; i++) {
    const ms = await heatmapFirstRender(page);
    heatWarm.push(ms);
    progress(`ui: heatmap first render, warm: ${ms.toFixed(0)} ms`);
  }
  emit({
    bench: 'ui',
    metric: 'heatmap_first_render_ms',
    value: Math.round(median(heatWarm)),
    unit: 'ms',
    ref: '<= 1000',
    cache: 'warm',
    runs: heatWarm.map(Math.round),
    ...fleet,
  });
  emit({
    bench: 'ui',
    metric: 'heatmap_first_render_cold_ms',
    value: Math.round(median(heatCold)),
    unit: 'ms',
    ref: '<= 1000',
    cache: 'cold: a new browser and profile per load',
    runs: heatCold.map(Math.round),
    ...fleet,
  });
  emit({
    bench: 'ui',
    metric: 'heatmap_paint_ms',
    value: median(heatPaints),
    unit: 'ms',
    max: Math.max(...heatPaints),
    runs: heatPaints,
    ...fleet,
  });
  // Back to the table for the measures that follow.
  await firstRender(page);

  // Idle first, as a baseline: the live stream alone (every agent reporting) with nobody scrolling.
  await page.waitForLoadState('networkidle');
  const takeTasks = () =>
    page.evaluate(() => {
      const g = globalThis as unknown as { __longtasks: { start: number; duration: number }[] };
      const out = g.__longtasks.map((t) => t.duration);
      g.__longtasks = [];
      return out;
    });
  await takeTasks();
  await sleep(10_000);
  const idle = await takeTasks();
  emit({
    bench: 'ui',
    metric: 'idle_longest_task_ms',
    value: Math.round(Math.max(0, ...idle)),
    unit: 'ms',
    longTasks: idle.length,
    over100: idle.filter((d) => d > 100).length,
    seconds: 10,
  });

  // Scrolling: wheel down and up through the list, then jumps, with long tasks counted only meanwhile.
  const t0 = Date.now();
  await page.mouse.move(700, 600);
  for (let i = 0; i < (quick ? 120 : 300); i++) {
    await page.mouse.wheel(0, i < (quick ? 60 : 150) ? 800 : -800);
    await sleep(16);
  }
  for (const frac of [1, 0, 0.5, 0.25, 0.75, 1, 0]) {
    await page.evaluate((f) => {
      const g = globalThis as unknown as { scrollTo(x: number, y: number): void; document: { documentElement: { scrollHeight: number } } };
      g.scrollTo(0, g.document.documentElement.scrollHeight * f);
    }, frac);
    await sleep(150);
  }
  const scrollMs = Date.now() - t0;
  const tasks = await page.evaluate(() =>
    (globalThis as unknown as { __longtasks: { duration: number }[] }).__longtasks.map((t) => t.duration),
  );
  const rows = await page.locator('[data-testid="agent-row"]').count();
  emit({
    bench: 'ui',
    metric: 'scroll_longest_task_ms',
    value: Math.round(Math.max(0, ...tasks)),
    unit: 'ms',
    ref: '<= 100',
    longTasks: tasks.length,
    over100: tasks.filter((d) => d > 100).length,
    scrollSeconds: Math.round(scrollMs / 100) / 10,
    rowsInDom: rows,
  });

  // Ingest to screen: the probe's row repaints with each report; its data-seen-ms is the server's ingest time.
  await page.evaluate(() => {
    const g = globalThis as unknown as { scrollTo(x: number, y: number): void };
    g.scrollTo(0, 0);
  });
  const row = page.locator('[data-testid="agent-row"][data-agent-id="a-probe-0"]');
  await row.waitFor({ timeout: 10_000 });
  const latencies = await page.evaluate(
    (seconds) =>
      new Promise<number[]>((resolve) => {
        const g = globalThis as unknown as {
          document: { querySelector(s: string): unknown };
          MutationObserver: new (cb: () => void) => { observe(el: unknown, o: unknown): void; disconnect(): void };
          requestAnimationFrame(cb: () => void): void;
        };
        const el = g.document.querySelector('[data-testid="agent-row"][data-agent-id="a-probe-0"]') as { dataset: { seenMs?: string } };
        const out: number[] = [];
        let last = el.dataset.seenMs;
        const obs = new g.MutationObserver(() => {
          const seen = el.dataset.seenMs;
          if (seen === last) return;
          last = seen;
          // The frame that shows the new value.
          g.requestAnimationFrame(() => out.push(Date.now() - Number(seen)));
        });
        obs.observe(el, { attributes: true, attributeFilter: ['data-seen-ms'] });
        setTimeout(() => {
          obs.disconnect();
          resolve(out);
        }, seconds * 1000);
      }),
    PROBE_SECONDS,
  );
  emit({
    bench: 'ui',
    metric: 'ingest_to_screen_p50_ms',
    value: Math.round(median(latencies)),
    unit: 'ms',
    ref: '<= 1000',
    p95: Math.round(percentile(latencies, 95)),
    max: Math.round(Math.max(...latencies)),
    samples: latencies.length,
  });
} finally {
  await browser.close();
  await probe.stop();
  await load.stop();
  await server.stop();
}
