import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

interface AgentList {
  items: { id: string; status: string; lastSeenMs: number }[];
}

describe('the agent rides out a server outage', () => {
  let server: ServerProc | undefined;
  let agent: AgentProc | undefined;

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('reconnects by itself after the server is away for 20 s, and nothing is lost', async () => {
    const first = await startServer();
    server = first;
    agent = await startAgent({ server: `127.0.0.1:${first.grpcPort}`, interval: '1s' });
    const id = (
      await eventually(async () => (await getJson<AgentList>(`${first.url}/api/agents`)).items.find((a) => a.status === 'online'))
    ).id;

    await first.stop();
    const stoppedAt = Date.now();
    await sleep(20_000);
    server = await startServer({ dataDir: first.dataDir, httpPort: first.httpPort, grpcPort: first.grpcPort });
    const back = await eventually(
      async () => (await getJson<AgentList>(`${server?.url}/api/agents`)).items.find((a) => a.id === id && a.status === 'online'),
      45_000,
    );
    expect(back.lastSeenMs).toBeGreaterThan(stoppedAt);
    expect(agent.child.exitCode).toBeNull();
    await agent.waitFor(/"server stream lost, reconnecting; retrying in [\d.]+ s \(attempt \d+\)"/, 1000);

    // Reports made while the server was down were queued and arrive after it returns: once the
    // replay is through, the outage holds a point about every second, with no hole in it.
    const from = stoppedAt + 2000;
    const to = stoppedAt + 18_000;
    const inOutage = await eventually(async () => {
      const res = await getJson<{ series: { points: [number, number][] }[] }>(
        `${server?.url}/api/metrics?agent=${id}&name=node_load1&from=${stoppedAt - 5000}&to=${Date.now()}&step=0`,
      );
      const pts = (res.series[0]?.points ?? []).filter(([t]) => t >= from && t <= to);
      return pts.length >= 14 ? pts : undefined;
    }, 30_000);
    const gaps = inOutage.slice(1).map(([t], i) => t - (inOutage[i] as [number, number])[0]);
    expect(Math.max(...gaps)).toBeLessThan(3000);
  });
});
