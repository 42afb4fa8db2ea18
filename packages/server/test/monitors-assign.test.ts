/**
 * Monitors reach the agents they choose: real agents (in-process, real gRPC) get the probes of the
 * monitors that choose them by id or by trusted label, run them, and their probe_* series set the
 * monitor's status; nothing of other agents' monitors reaches them, and probe_* series an agent
 * sends for a monitor that is not its own are not counted.
 */
import { createServer, type Server } from 'node:net';
import type { Agent } from '@falconet/agent';
import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawStream, registerMessage, registerOn, reportMessage } from '../../../testing/agent-channel.ts';
import { eventually } from '../../../testing/processes.ts';
import { loadCollectorDefinitions } from '../../agent/src/collectors/registry.ts';
import { startTestAgent } from './support/agent.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

/** A TCP port that accepts, and one that refuses (bound, then closed). */
async function listening(): Promise<Server> {
  const s = createServer((c) => c.end());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return s;
}
async function closedPort(): Promise<number> {
  const s = await listening();
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}
const portOf = (s: Server) => (s.address() as { port: number }).port;

const assignedIds = (a: Agent) => a.assignedProbes.list.map((p) => p.id);

describe('monitors assigned to real agents', () => {
  let t: TestServer;
  let up: Server;
  let down: number;
  let a: Agent;
  let b: Agent;
  let aId: string;
  let bId: string;
  beforeAll(async () => {
    up = await listening();
    down = await closedPort();
    t = await startTestServer({ users: false });
    // Host collectors off: the agents here only run probes, and two of them share the machine with the test.
    const collectors = Object.fromEntries((await loadCollectorDefinitions()).map((d) => [d.name, false]));
    // Agent a declares role=edge about itself: declared labels never choose an agent.
    a = await startTestAgent(t.server, { interval: '500ms', report: { dynamic: false }, collectors, labels: { role: 'edge' } });
    b = await startTestAgent(t.server, { interval: '500ms', report: { dynamic: false }, collectors });
    aId = a.identity?.agentId as string;
    bId = b.identity?.agentId as string;
    await eventually(() => t.server.registry.get(aId)?.status === 'online' && t.server.registry.get(bId)?.status === 'online');
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await t?.stop();
    up?.close();
  });

  it('sends an agent the probes of the monitors that choose it by id, which it runs; the monitor goes up', async () => {
    const m = await t.server.monitors.create(
      {
        name: 'tcp up',
        probe: { kind: 'tcp', target: `127.0.0.1:${portOf(up)}`, interval: 10_000, timeout: 2000, labels: { team: 'web' }, options: {} },
        agents: { ids: [aId], labels: {} },
        alert_failing_locations: 1,
        channels: [],
        paused: false,
      } as never,
      'test',
    );
    expect(m.locationCount).toBe(1);
    await eventually(() => assignedIds(a).includes(`monitor.${m.id}`));
    const probe = a.assignedProbes.list.find((p) => p.id === `monitor.${m.id}`);
    expect(probe).toMatchObject({ kind: 'tcp', interval: 10_000, timeout: 2000, labels: { team: 'web', monitor: m.id } });
    expect(assignedIds(b)).toEqual([]);
    // Its result is on the agent's own /metrics, with the monitor label.
    await eventually(async () => new RegExp(`probe_success\\{[^}]*monitor="${m.id}"[^}]*\\} 1`).test(await a.scrape()), 20_000);
    const seen = await eventually(() => {
      const d = t.server.monitors.get(m.id);
      return d.status === 'up' ? d : undefined;
    }, 20_000);
    expect(seen).toMatchObject({ locationCount: 1, failingLocations: 0, locations: [{ agentId: aId, up: true }] });
    expect(seen.latencyMs).toBeGreaterThan(0);
    await t.server.monitors.remove(m.id);
    await eventually(() => !assignedIds(a).includes(`monitor.${m.id}`));
  }, 60_000);

  it('chooses by trusted labels only, and follows label changes, pausing and deleting', async () => {
    const m = await t.server.monitors.create(
      {
        name: 'edge',
        probe: { kind: 'tcp', target: `127.0.0.1:${down}`, interval: 10_000, timeout: 1000, labels: {}, options: {} },
        agents: { ids: [], labels: { role: 'edge' } },
        alert_failing_locations: 1,
        channels: [],
        paused: false,
      } as never,
      'test',
    );
    const pid = `monitor.${m.id}`;
    // a declares role=edge itself: not chosen.
    expect(m.locationCount).toBe(0);
    await t.server.registry.setServerLabels(bId, { role: 'edge' }, 'test');
    await eventually(() => assignedIds(b).includes(pid));
    expect(assignedIds(a)).not.toContain(pid);
    expect(t.server.monitors.get(m.id).locations.map((l) => l.agentId)).toEqual([bId]);
    await eventually(() => t.server.monitors.get(m.id).status === 'down', 20_000);

    const spec = { ...t.server.monitors.get(m.id).spec, paused: true };
    await t.server.monitors.update(m.id, spec);
    await eventually(() => !assignedIds(b).includes(pid));
    expect(t.server.monitors.get(m.id).status).toBe('paused');
    await t.server.monitors.update(m.id, { ...spec, paused: false });
    await eventually(() => assignedIds(b).includes(pid));

    await t.server.registry.setServerLabels(bId, {}, 'test');
    await eventually(() => !assignedIds(b).includes(pid));
    expect(t.server.monitors.get(m.id).locationCount).toBe(0);
    await t.server.monitors.remove(m.id);
  }, 60_000);
});

describe('monitors and hostile agents', () => {
  let t: TestServer;
  let target: string;
  beforeAll(async () => {
    // Users exist: every agent presents its own token.
    t = await startTestServer();
    target = `127.0.0.1:${t.server.addresses?.grpc.port}`;
  });
  afterAll(async () => {
    await t?.stop();
  });

  const assignmentOf = (s: ReturnType<typeof rawStream>) => {
    const all = s.received.filter((m) => m.body?.$case === 'probeAssignment');
    const last = all.at(-1)?.body;
    return last?.$case === 'probeAssignment' ? (JSON.parse(last.value.probesJson) as { id: string }[]) : undefined;
  };

  it("gives no agent another's assignment, and does not count probe series for a monitor not its own", async () => {
    const tokA = await t.server.ingest.tokens.create('mon-a');
    const tokB = await t.server.ingest.tokens.create('mon-b');
    const sa = rawStream(target);
    await registerOn(sa, registerMessage('mon-a', { token: tokA.token }));
    const sb = rawStream(target);
    await registerOn(sb, registerMessage('mon-b', { token: tokB.token }));
    const m = await t.server.monitors.create(
      {
        name: 'only a',
        probe: { kind: 'tcp', target: '127.0.0.1:9', interval: 10_000, timeout: 1000, labels: {}, options: {} },
        agents: { ids: ['mon-a'], labels: {} },
        alert_failing_locations: 1,
        channels: [],
        paused: false,
      } as never,
      'test',
    );
    await eventually(() => assignmentOf(sa)?.some((p) => p.id === `monitor.${m.id}`));
    // b, chosen by no monitor, hears no assignment at all.
    expect(assignmentOf(sb)).toBeUndefined();

    // Registering as a with b's token is refused before anything is sent down.
    const thief = rawStream(target);
    await expect(registerOn(thief, registerMessage('mon-a', { token: tokB.token }))).rejects.toThrow();
    expect(thief.received.filter((x) => x.body?.$case === 'probeAssignment')).toEqual([]);
    thief.close();

    // b reports a failing probe_success for a's monitor; a reports success. Only a counts.
    const now = Date.now();
    const series = (v: number): Sample[] => [
      { name: 'probe_success', labels: { monitor: m.id, probe: `monitor.${m.id}` }, value: v, timestampMs: now },
      { name: 'probe_duration_seconds', labels: { monitor: m.id, probe: `monitor.${m.id}` }, value: 0.01, timestampMs: now },
    ];
    const before = t.server.monitors.counters.unassignedSamples;
    sb.send(reportMessage(1, series(0)));
    sa.send(reportMessage(1, series(1)));
    await eventually(() => t.server.monitors.get(m.id).status === 'up');
    await eventually(() => t.server.monitors.counters.unassignedSamples >= before + 2);
    expect(t.server.monitors.get(m.id)).toMatchObject({ status: 'up', locationCount: 1, failingLocations: 0 });
    // Nor in the uptime read from the store.
    await t.server.monitors.uptime.refresh('day');
    expect(t.server.monitors.get(m.id).uptime24h).toBe(1);
    sa.close();
    sb.close();
  });
  it('reads uptime and history from the stored probe series of its locations', async () => {
    const tok = await t.server.ingest.tokens.create('mon-c');
    const sc = rawStream(target);
    await registerOn(sc, registerMessage('mon-c', { token: tok.token }));
    const m = await t.server.monitors.create(
      {
        name: 'history',
        probe: { kind: 'tcp', target: '127.0.0.1:9', interval: 10_000, timeout: 1000, labels: {}, options: {} },
        agents: { ids: ['mon-c'], labels: {} },
        alert_failing_locations: 1,
        channels: [],
        paused: false,
      } as never,
      'test',
    );
    // Four checks a minute apart, the last one fresh (within two intervals and a minute of now).
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000;
    const labels = { monitor: m.id, probe: `monitor.${m.id}` };
    const checks: [number, number][] = [
      [1, 0.01],
      [0, 0.02],
      [1, 0.03],
      [1, 0.04],
    ];
    checks.forEach(([ok, dur], i) => {
      const ts = t0 + i * 60_000 + 5000;
      sc.send(
        reportMessage(i + 1, [
          { name: 'probe_success', labels, value: ok, timestampMs: ts },
          { name: 'probe_duration_seconds', labels, value: dur, timestampMs: ts },
        ]),
      );
    });
    await eventually(() => t.server.monitors.get(m.id).lastCheckMs === t0 + 3 * 60_000 + 5000, 10_000);
    expect(t.server.monitors.get(m.id).status).toBe('up');
    expect(t.server.monitors.get(m.id).latencyMs).toBeCloseTo(40, 6);
    await t.server.monitors.uptime.refresh('day');
    await t.server.monitors.uptime.refresh('month');
    expect(t.server.monitors.get(m.id)).toMatchObject({ uptime24h: 0.75, uptime30d: 0.75 });

    const h = await t.server.monitors.history(m.id, t0, t0 + 4 * 60_000, 60_000);
    expect(h.locations).toHaveLength(1);
    expect(h.locations[0]).toMatchObject({ agentId: 'mon-c', hostname: 'mon-c-host' });
    expect(h.locations[0]?.points.map(([ts, ms, ok]) => [ts - t0, Math.round(ms ?? -1), ok])).toEqual([
      [0, 10, 1],
      [60_000, 20, 0],
      [120_000, 30, 1],
      [180_000, 40, 1],
    ]);
    sc.close();
  });
});
