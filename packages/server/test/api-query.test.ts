import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../testing/processes.ts';
import { AgentSimulator } from '../../../testing/simulator.ts';
import type { FalconetServer } from '../src/app.ts';
import { startTestServer } from './support/auth.ts';

// Six simulated agents over real gRPC streams; agent i reports CPU = 10 * i and load = i.
let server: FalconetServer;
let sim: AgentSimulator;
let base = '';
const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: (await r.json()) as T };
};

beforeAll(async () => {
  const t = await startTestServer({ users: false });
  server = t.server;
  base = t.base;
  sim = new AgentSimulator({
    server: `127.0.0.1:${server.addresses?.grpc.port}`,
    count: 6,
    intervalMs: 200,
    prefix: 'q',
    labels: (i) => ({ rack: i % 2 ? 'odd' : 'even' }),
    series: (i, t): Sample[] => [
      { name: 'falconet_cpu_usage_percent', labels: {}, value: 10 * i, timestampMs: t },
      { name: 'node_load1', labels: {}, value: i, timestampMs: t },
      { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'user' }, value: i, timestampMs: t },
      { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'idle' }, value: 100 - i, timestampMs: t },
    ],
  });
  sim.start();
  await eventually(async () => (await get<{ total: number }>('/api/agents?status=online&where=cpu>=0')).body.total === 6, 30_000);
}, 60_000);

afterAll(async () => {
  await sim?.stop();
  await server?.stop();
});

describe('query API', () => {
  it('aggregates one metric across agents, by agent label and by sample label', async () => {
    const fleet = await get<{ stepMs: number; groups: { group: Record<string, string>; series: number; points: [number, number][] }[] }>(
      `/api/metrics/aggregate?name=falconet_cpu_usage_percent&step=60000&from=${Date.now() - 300_000}`,
    );
    expect(fleet.status).toBe(200);
    expect(fleet.body.groups).toHaveLength(1);
    expect(fleet.body.groups[0]?.series).toBe(6);
    expect(fleet.body.groups[0]?.points.at(-1)?.[1]).toBe(25);
    const byRack = await get<{ groups: { group: Record<string, string>; points: [number, number][] }[] }>(
      '/api/metrics/aggregate?name=falconet_cpu_usage_percent&by=rack&across=max&step=60000',
    );
    expect(byRack.body.groups.map((g) => [g.group.rack, g.points.at(-1)?.[1]])).toEqual([
      ['even', 40],
      ['odd', 50],
    ]);
    const byMode = await get<{ groups: { group: Record<string, string>; points: [number, number][] }[] }>(
      '/api/metrics/aggregate?name=node_cpu_seconds_total&by=mode&across=sum&label=rack=odd&step=60000',
    );
    expect(byMode.body.groups.map((g) => [g.group.mode, g.points.at(-1)?.[1]])).toEqual([
      ['idle', 291],
      ['user', 9],
    ]);
  });

  it('ranks the top k agents by an aggregation over time', async () => {
    const top = await get<{ items: { agentId: string; hostname: string; value: number }[] }>(
      '/api/metrics/top?name=node_load1&k=2&agg=p95',
    );
    expect(top.body.items.map((e) => [e.agentId, e.value])).toEqual([
      ['q-5', 5],
      ['q-4', 4],
    ]);
    expect(top.body.items[0]?.hostname).toBe('q-host-00005');
    const low = await get<{ items: { agentId: string }[] }>('/api/metrics/top?name=node_load1&k=1&order=asc&agg=min');
    expect(low.body.items.map((e) => e.agentId)).toEqual(['q-0']);
  });

  it('serves per-agent history with p95 and reports the step used', async () => {
    const r = await get<{ stepMs: number; series: { points: [number, number][] }[] }>(
      `/api/metrics?agent=q-3&name=node_load1&step=60000&agg=p95&from=${Date.now() - 600_000}`,
    );
    expect(r.status).toBe(200);
    expect(r.body.stepMs).toBe(60_000);
    expect(r.body.series[0]?.points.at(-1)?.[1]).toBe(3);
  });

  it('serves the latest sample of each series of several metrics in one request', async () => {
    type Latest = { samples: { name: string; labels: Record<string, string>; value: number | null; timestampMs: number }[] };
    // Up to a report sent a little earlier: each series' sample is that report's, the newest at or before `to`.
    const r = await eventually(async () => {
      const tick = sim.ticks.at(-3);
      if (tick === undefined) return undefined;
      const got = await get<Latest>(
        `/api/metrics/latest?agent=q-3&name=node_load1&name=node_cpu_seconds_total&name=no_such_metric&to=${tick}`,
      );
      return got.body.samples.length === 3 && got.body.samples.every((s) => s.timestampMs === tick) ? got : undefined;
    });
    expect(r.status).toBe(200);
    const byKey = new Map(r.body.samples.map((s) => [`${s.name}${s.labels.mode ?? ''}`, s.value]));
    expect(Object.fromEntries(byKey)).toEqual({ node_load1: 3, node_cpu_seconds_totalidle: 97, node_cpu_seconds_totaluser: 3 });

    const one = await get<Latest>('/api/metrics/latest?agent=q-3&name=node_cpu_seconds_total&labels=mode=user');
    expect(one.body.samples.map((s) => [s.labels.mode, s.value])).toEqual([['user', 3]]);
    // Nothing in a window before any report.
    const before = await get<Latest>('/api/metrics/latest?agent=q-3&name=node_load1&from=1000&to=2000');
    expect(before.body.samples).toEqual([]);

    expect((await get('/api/metrics/latest?agent=nobody&name=node_load1')).status).toBe(404);
    expect((await get('/api/metrics/latest?agent=q-3&name=no-dashes')).status).toBe(400);
    const tooMany = Array.from({ length: 33 }, (_, i) => `name=m${i}`).join('&');
    const many = await get<{ error: { message: string } }>(`/api/metrics/latest?agent=q-3&${tooMany}`);
    expect(many.status).toBe(400);
    expect(many.body.error.message).toMatch(/name/);
  });

  it('summarises the fleet by label and over time', async () => {
    const s = await get<{
      agents: number;
      online: number;
      averages: Record<string, number>;
      groups: { labels: Record<string, string>; agents: number; averages: Record<string, number> }[];
      history: { stepMs: number; series: Record<string, [number, number | null][]> };
    }>('/api/fleet/summary?by=rack&history=1h');
    expect(s.status).toBe(200);
    expect(s.body.agents).toBe(6);
    expect(s.body.averages.cpu).toBe(25);
    expect(s.body.groups.map((g) => [g.labels.rack, g.agents, g.averages.cpu])).toEqual([
      ['even', 3, 20],
      ['odd', 3, 30],
    ]);
    expect(s.body.history.stepMs).toBe(60_000);
    expect(s.body.history.series.cpu?.at(-1)?.[1]).toBe(25);
    expect(s.body.history.series.load1?.at(-1)?.[1]).toBe(2.5);
    const odd = await get<{ agents: number; averages: Record<string, number> }>('/api/fleet/summary?label=rack=odd');
    expect([odd.body.agents, odd.body.averages.cpu]).toEqual([3, 30]);
  });

  it('filters, sorts and pages agents by summary values', async () => {
    const r = await get<{ items: { id: string }[]; total: number }>(
      '/api/agents?where=cpu>=20&where=load1<5&sort=load1&order=desc&limit=2&offset=1',
    );
    expect(r.body.total).toBe(3);
    expect(r.body.items.map((a) => a.id)).toEqual(['q-3', 'q-2']);
    const odd = await get<{ items: { id: string }[] }>('/api/agents?label=rack=odd&sort=cpu');
    expect(odd.body.items.map((a) => a.id)).toEqual(['q-1', 'q-3', 'q-5']);
  });

  it('names the field of a malformed query', async () => {
    const cases: [string, RegExp][] = [
      ['/api/agents?where=cpu~80', /where: "cpu~80" is not FIELD OP NUMBER/],
      ['/api/agents?where=temperature>3', /where: "temperature>3"/],
      ['/api/metrics/aggregate?name=x&across=median', /across/],
      ['/api/metrics/aggregate?name=x&by=a-b', /by/],
      ['/api/metrics/aggregate?name=x&step=1000&from=0', /more than 11000 buckets/],
      ['/api/metrics/top?name=x&k=0', /k/],
      ['/api/metrics/top?name=x&label=rack', /label: "rack" is not NAME=VALUE/],
      ['/api/fleet/summary?history=2y', /history/],
      ['/api/metrics?agent=q-1&name=node_load1&agg=p99', /agg/],
    ];
    for (const [path, message] of cases) {
      const r = await get<{ error: { code: string; message: string } }>(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error.message, path).toMatch(message);
    }
  });
});
