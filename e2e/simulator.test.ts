import { afterAll, describe, expect, it } from 'vitest';
import { eventually, getJson, type ServerProc, startServer } from '../testing/processes.ts';
import { AgentSimulator } from '../testing/simulator.ts';

describe('agent simulator', () => {
  let server: ServerProc;
  let sim: AgentSimulator;
  afterAll(async () => {
    await sim?.stop();
    await server?.stop();
  });

  it('brings 50 simulated agents online over real gRPC streams', async () => {
    server = await startServer();
    sim = new AgentSimulator({ server: `127.0.0.1:${server.grpcPort}`, count: 50, intervalMs: 500, prefix: 'simtest' });
    sim.start();
    const list = await eventually(async () => {
      const r = await getJson<{ items: { status: string; summary: Record<string, number> }[]; total: number }>(
        `${server.url}/api/agents?status=online&limit=100`,
      );
      return r.total === 50 && r.items.every((a) => a.summary.falconet_cpu_usage_percent !== undefined) ? r : undefined;
    }, 30_000);
    expect(list.items).toHaveLength(50);
    await sim.stop(5000);
    expect(sim.queued).toBe(0);
  });
});
