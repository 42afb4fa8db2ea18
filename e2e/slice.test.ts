import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { defaultRouteInterface, globalAddresses } from '../testing/host-network.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

interface AgentList {
  items: { id: string; hostname: string; status: string; ips: string[]; primaryIp: string }[];
}

describe('the thin slice: agent -> stream -> server -> store -> REST/WebSocket -> browser', () => {
  let server: ServerProc;
  let agent: AgentProc;
  let browser: Browser | undefined;

  beforeAll(async () => {
    server = await startServer();
    agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, interval: '1s' });
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await server?.stop();
  });

  it('lists the agent online and serves its points', async () => {
    const online = await eventually(async () => {
      const list = await getJson<AgentList>(`${server.url}/api/agents`);
      return list.items.find((a) => a.status === 'online');
    }, 30_000);
    const metrics = await eventually(async () => {
      const r = await getJson<{ series: { points: unknown[] }[] }>(
        `${server.url}/api/metrics?agent=${online.id}&name=node_cpu_seconds_total`,
      );
      return r.series.length > 0 && r.series.every((s) => s.points.length > 0) ? r : undefined;
    }, 30_000);
    expect(metrics.series.length).toBeGreaterThan(1);
    const usage = await eventually(async () => {
      const r = await getJson<{ series: { points: unknown[] }[] }>(
        `${server.url}/api/metrics?agent=${online.id}&name=falconet_cpu_usage_percent`,
      );
      return r.series[0]?.points.length ? r : undefined;
    });
    expect(usage.series).toHaveLength(1);
    // The agent's own exporter answers as node_exporter would.
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    expect(text).toContain('# TYPE node_cpu_seconds_total counter');
  });

  it('registers the host by its own addresses, though it reaches the server over loopback', async (ctx) => {
    const byInterface = globalAddresses();
    if (byInterface === undefined) return ctx.skip();
    const reference = [...byInterface.values()].flat();
    const agent = await eventually(async () => (await getJson<AgentList>(`${server.url}/api/agents`)).items[0]);
    // Every address the host has beyond loopback and link-local, as `ip addr` lists them.
    expect(new Set(agent.ips)).toEqual(new Set(reference));
    if (reference.length === 0) return expect(agent.primaryIp).toBe('127.0.0.1');
    expect(agent.primaryIp).not.toBe('127.0.0.1');
    const dev = defaultRouteInterface();
    expect(dev ? byInterface.get(dev) : agent.ips.slice(0, 1), JSON.stringify({ dev, agent })).toContain(agent.primaryIp);
  });

  it('shows the agent in the dashboard and its chart gains points', async () => {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url);
    const row = page.getByTestId('agent-row').first();
    await row.waitFor({ timeout: 20_000 });
    expect(await row.getAttribute('data-status')).toBe('online');
    await expect.poll(() => page.getByTestId('live-status').textContent(), { timeout: 10_000 }).toBe('live');
    await row.getByRole('link').click();
    const chart = page.getByTestId('chart-CPU');
    await chart.waitFor();
    const before = await eventually(async () => {
      const n = Number(await chart.getAttribute('data-points'));
      return n > 0 ? n : undefined;
    }, 20_000);
    const after = await eventually(async () => {
      const n = Number(await chart.getAttribute('data-points'));
      return n > before ? n : undefined;
    }, 20_000);
    expect(after).toBeGreaterThan(before);
    await page.screenshot({ path: artifactPath('slice-host-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
