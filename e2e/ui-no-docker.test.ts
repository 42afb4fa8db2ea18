/**
 * The Containers tab of a real agent that finds no Docker socket: a real server, a real agent
 * whose `containers.docker_socket` names a path with nothing there, and Chromium. The tab says
 * why (from the agent's falconet_docker_info) and what to set, in English and Chinese.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactPath, launchChromium } from '../testing/browser.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

let server: ServerProc;
let agent: AgentProc;
let browser: Browser;
let agentId: string;
const socket = join(tempDir('falconet-nodocker-'), 'docker.sock');

beforeAll(async () => {
  server = await startServer();
  agent = await startAgent({
    server: `127.0.0.1:${server.grpcPort}`,
    interval: '1s',
    env: { FALCONET_CONTAINERS_DOCKER_SOCKET: socket },
  });
  agentId = await eventually(async () => {
    const r = await getJson<{ items: { id: string }[] }>(`${server.url}/api/agents?status=online`);
    return r.items[0]?.id;
  }, 60_000);
  // The collector's verdict stored: what the tab reads first.
  await eventually(async () => {
    const r = await getJson<{ samples: { labels: Record<string, string> }[] }>(
      `${server.url}/api/metrics/latest?agent=${encodeURIComponent(agentId)}&name=falconet_docker_info`,
    );
    return r.samples.some((s) => s.labels.problem === 'no_socket');
  }, 60_000);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  await server?.stop();
}, 60_000);

async function containersTab(lang: 'en' | 'zh'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.addInitScript((l) => localStorage.setItem('falconet.lang', l), lang);
  await page.goto(`${server.url}/agents/${encodeURIComponent(agentId)}`);
  await page.getByTestId('tab-containers').click();
  return page;
}

describe('the Containers tab of an agent without Docker', () => {
  it('says there is no Docker socket where the agent looks, and which setting to change', async () => {
    const page = await containersTab('en');
    const down = page.getByTestId('docker-down');
    await expect
      .poll(() => down.textContent(), { timeout: 30_000 })
      .toBe(`No Docker socket at ${socket}: the agent reports containers from cgroups only, without names, images or states.`);
    expect(await page.getByTestId('docker-fix').textContent()).toContain('set containers.docker_socket in the agent configuration');
    await page.screenshot({ path: artifactPath('ui-containers-no-docker-en.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('says so in Chinese', async () => {
    const page = await containersTab('zh');
    await expect
      .poll(() => page.getByTestId('docker-down').textContent(), { timeout: 30_000 })
      .toBe(`在 ${socket} 没有找到 Docker 套接字：代理仅从 cgroup 报告容器，没有名称、镜像和状态。`);
    expect(await page.getByTestId('docker-fix').textContent()).toContain('containers.docker_socket');
    await page.screenshot({ path: artifactPath('ui-containers-no-docker-zh.png'), fullPage: true });
    await page.close();
  }, 60_000);
});
