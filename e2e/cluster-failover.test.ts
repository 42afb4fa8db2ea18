/**
 * An agent given two servers of a cluster (one PostgreSQL for metadata and samples, a real
 * nats-server), each a real falconet-server process: it reports to the first of its rendezvous
 * ranking, and a browser on the other node shows its chart gaining points; that server is killed
 * with SIGKILL; the agent is on the other within 30 s, replays
 * what was not acknowledged, and the store holds every report once: one node_load1 point a
 * second across the kill, no hole and no timestamp twice.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterStatus } from '@falconet/protocol/api';
import { afterAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../testing/browser.ts';
import { type NatsProc, startNats } from '../testing/nats.ts';
import { createTempDatabase, type TempDatabase } from '../testing/postgres.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

describe('cluster: an agent fails over to another node', () => {
  let nats: NatsProc | undefined;
  let db: TempDatabase | undefined;
  const servers: ServerProc[] = [];
  let agent: AgentProc | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    for (const s of servers) await s.stop().catch(() => undefined);
    await nats?.stop();
    await db?.drop();
  });

  it('moves within 30 s when its server is killed, and every report is stored once', async () => {
    nats = await startNats();
    db = await createTempDatabase();
    const env = (node: string) => ({
      FALCONET_DATABASE_URL: db?.url,
      FALCONET_SECRET_KEY: secret,
      FALCONET_CLUSTER_NATS: nats?.url,
      FALCONET_CLUSTER_NODE: node,
    });
    const secret = randomBytes(32).toString('base64');
    servers.push(await startServer({ env: env('a') }), await startServer({ env: env('b') }));
    const [a, b] = servers as [ServerProc, ServerProc];
    agent = await startAgent({ server: `127.0.0.1:${a.grpcPort},127.0.0.1:${b.grpcPort}`, interval: '1s' });
    const holds = async (s: ServerProc) => (await getJson<ClusterStatus>(`${s.url}/api/cluster`)).nodes[0]?.agents === 1;
    const holder = await eventually(async () => ((await holds(a)) ? a : (await holds(b)) ? b : undefined), 20_000);
    const other = holder === a ? b : a;
    const id = (await eventually(async () => (await getJson<{ items: { id: string }[] }>(`${holder.url}/api/agents`)).items[0])).id;

    // A browser on the other node sees the agent online and its chart gaining points.
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${other.url}/agents/${encodeURIComponent(id)}`);
    const chart = page.getByTestId('chart-CPU');
    await chart.waitFor({ timeout: 20_000 });
    const points = async () => Number(await chart.getAttribute('data-points'));
    const before = await eventually(async () => ((await points()) > 0 ? points() : undefined), 20_000);
    await eventually(async () => (await points()) > before, 20_000);
    expect(errors).toEqual([]);

    await holder.stop('SIGKILL');
    const killedAt = Date.now();
    await eventually(() => holds(other), 30_000, 100);
    const failoverMs = Date.now() - killedAt;
    expect(failoverMs).toBeLessThan(30_000);
    process.stderr.write(`failover after SIGKILL: ${failoverMs} ms\n`);
    await agent.waitFor(/cannot reach server|server stream lost/, 5000);

    // Reports made around the kill: one a second, each stored once, none missing.
    await sleep(4000);
    const from = killedAt - 2500;
    const to = killedAt + failoverMs + 2000;
    const pts = await eventually(async () => {
      const res = await getJson<{ series: { points: [number, number][] }[] }>(
        `${other.url}/api/metrics?agent=${id}&name=node_load1&from=${from - 5000}&to=${Date.now()}&step=0`,
      );
      const inside = (res.series[0]?.points ?? []).filter(([t]) => t >= from && t <= to);
      return inside.length >= Math.floor((to - from) / 1000) - 1 ? inside : undefined;
    }, 30_000);
    const times = pts.map(([t]) => t);
    expect(new Set(times).size).toBe(times.length);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(Math.min(...gaps)).toBeGreaterThan(0);
    expect(Math.max(...gaps)).toBeLessThan(2500);
  }, 120_000);
});
