/**
 * The live view across nodes (packages/server/src/cluster/live.ts), with a real nats-server on a
 * port of its own: a dashboard on node B watches an agent connected to node A. Also: samples cross
 * the bus only while a node watches the agent, another cluster on the same NATS sees nothing, a
 * sender on the bus with garbage is counted and ignored, NATS restarting mid-view is survived, and
 * a bad cluster.nats stops the server at start with the address named.
 */
import type { Agent } from '@falconet/agent';
import type { ClusterStatus } from '@falconet/protocol/api';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type NatsProc, startNats } from '../../../testing/nats.ts';
import { eventually, runServer, tempDir } from '../../../testing/processes.ts';
import { serverConfigSchema } from '../src/config.ts';
import { startTestAgent } from './support/agent.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

type LiveMsg = { type: string; agentId?: string; samples?: { name: string }[]; agent?: { id: string; status: string } };

function watch(t: TestServer): { messages: LiveMsg[]; ws: WebSocket; opened: Promise<unknown> } {
  const ws = new WebSocket(`${t.base.replace('http', 'ws')}/api/live`);
  const messages: LiveMsg[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d))));
  return { messages, ws, opened: new Promise((r) => ws.once('open', r)) };
}

/** A counter of falconet_cluster_live_messages_total: `received`, `malformed`, or `published` with a kind. */
function relayed(t: TestServer, direction: string, kind?: string): Promise<number> {
  const labels = kind ? `direction="${direction}",kind="${kind}"` : `direction="${direction}"`;
  return fetch(`${t.base}/metrics`)
    .then((r) => r.text())
    .then((text) => {
      const line = text.split('\n').find((l) => l.startsWith(`falconet_cluster_live_messages_total{${labels}} `));
      return Number(line?.split(' ')[1] ?? Number.NaN);
    });
}

describe('cluster: the live view across nodes', () => {
  let nats: NatsProc;
  let a: TestServer;
  let b: TestServer;
  let other: TestServer;
  let agent: Agent;
  let agentId: string;

  beforeAll(async () => {
    nats = await startNats();
    const cluster = (node: string, name = 'test') => ({ cluster: { nats: nats.url, name, node } });
    a = await startTestServer({ users: false, config: cluster('a') });
    b = await startTestServer({ users: false, config: cluster('b') });
    other = await startTestServer({ users: false, config: cluster('c', 'another') });
    agent = await startTestAgent(a.server, { interval: '200ms' });
    agentId = await eventually(() => agent.identity?.agentId, 10_000);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    for (const t of [a, b, other]) await t?.stop();
    await nats?.stop();
  });

  it('sends no samples over the bus while no other node watches the agent', async () => {
    await eventually(() => a.server.registry.get(agentId)?.status === 'online', 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    const before = await relayed(a, 'published', 'samples');
    const agents = await relayed(a, 'published', 'agents');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await relayed(a, 'published', 'samples')).toBe(before);
    // The agent's summary changes with each of its reports (5 a second): gathered into one message a second.
    expect((await relayed(a, 'published', 'agents')) - agents).toBeLessThanOrEqual(4);
  }, 20_000);

  it("shows node A's agent live on node B, and nothing on another cluster's node", async () => {
    const onB = watch(b);
    const onOther = watch(other);
    await Promise.all([onB.opened, onOther.opened]);
    onB.ws.send(JSON.stringify({ type: 'subscribe', agentId }));
    onOther.ws.send(JSON.stringify({ type: 'subscribe', agentId }));
    await eventually(() => onB.messages.some((m) => m.type === 'samples' && m.agentId === agentId), 15_000);
    const samples = onB.messages.find((m) => m.type === 'samples')?.samples ?? [];
    expect(samples.map((s) => s.name)).toContain('node_load1');
    expect((await relayed(b, 'received')) > 0).toBe(true);
    // Unsubscribed, the samples stop crossing once A hears of it.
    onB.ws.send(JSON.stringify({ type: 'unsubscribe', agentId }));
    await new Promise((r) => setTimeout(r, 2500));
    const published = await relayed(a, 'published', 'samples');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await relayed(a, 'published', 'samples')).toBe(published);
    expect(onOther.messages.filter((m) => m.type === 'samples')).toEqual([]);
    onB.ws.close();
    onOther.ws.close();
  }, 40_000);

  it("lists node A's agent on node B as online, with its summary, and offline once it stops", async () => {
    const second = await startTestAgent(a.server, { interval: '200ms' });
    const id = await eventually(() => second.identity?.agentId, 10_000);
    const seen = await eventually(() => {
      const x = b.server.registry.get(id);
      return x?.status === 'online' && Object.keys(x.summary).length > 0 ? x : undefined;
    }, 15_000);
    expect(seen.hostname).toBe(a.server.registry.get(id)?.hostname);
    const listed = (await (await fetch(`${b.base}/api/agents`)).json()) as { items: { id: string; status: string }[] };
    expect(listed.items.find((x) => x.id === id)?.status).toBe('online');
    await second.stop();
    await eventually(() => b.server.registry.get(id)?.status === 'offline', 15_000);
    // A node of another cluster never heard of it.
    expect(other.server.registry.get(id)).toBeUndefined();
  }, 40_000);

  it("tells node B's dashboards when node A's agent goes offline", async () => {
    const onB = watch(b);
    await onB.opened;
    const second = await startTestAgent(a.server, { interval: '200ms' });
    const id = await eventually(() => second.identity?.agentId, 10_000);
    await eventually(() => onB.messages.some((m) => m.type === 'agent' && m.agent?.id === id && m.agent.status === 'online'), 15_000);
    await second.stop();
    await eventually(() => onB.messages.some((m) => m.type === 'agent' && m.agent?.id === id && m.agent.status === 'offline'), 15_000);
    onB.ws.close();
  }, 40_000);

  it('lists the nodes of its cluster on GET /api/cluster and in `falconet-server cluster status`', async () => {
    const status = await eventually(async () => {
      const st = (await (await fetch(`${a.base}/api/cluster`)).json()) as ClusterStatus;
      return st.nodes.length === 2 && st.nodes[1]?.http ? st : undefined;
    }, 15_000);
    expect(status).toMatchObject({ enabled: true, cluster: 'test', node: 'a', bus: { servers: [nats.url], connected: true } });
    expect(status.nodes.map((n) => [n.node, n.self])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(status.nodes[0]).toMatchObject({ http: a.base, agents: 1, databases: [] });
    expect(status.nodes[1]).toMatchObject({ http: b.base, agents: 0 });
    const cli = await runServer(['cluster', 'status', '--data-dir', tempDir()], {
      FALCONET_CLUSTER_NATS: nats.url,
      FALCONET_CLUSTER_NAME: 'test',
    });
    expect(cli.code).toBe(0);
    expect(cli.out[0]).toBe(`cluster test on ${nats.url}: 2 nodes heard in 6 s`);
    expect(cli.out[1]).toMatch(/^NODE +HTTP +AGENTS +WATCHING +DATABASES +VERSION +STARTED$/);
    expect(cli.out[2]).toMatch(new RegExp(`^a +${a.base} +1 +\\d+ +none +\\S+ +20\\d\\d-`));
    expect(cli.out[3]).toMatch(/^b +http/);
    // A server alone says so.
    const alone = await runServer(['cluster', 'status', '--data-dir', tempDir()]);
    expect(alone.code).toBe(2);
    expect(alone.out.join('\n')).toContain('cluster.nats is not set: this server runs alone');
  }, 40_000);

  it('counts and ignores garbage from a sender on the bus', async () => {
    const before = await relayed(b, 'malformed');
    const nc = await connect({ servers: nats.url });
    nc.publish('falconet.test.live.samples', new TextEncoder().encode('{not json'));
    nc.publish('falconet.test.live.samples', new TextEncoder().encode(JSON.stringify({ agentId: 5, samples: 'x' })));
    nc.publish('falconet.test.live.watch', new TextEncoder().encode(JSON.stringify({ node: 'x' })));
    // An agent record that is not one: not listed.
    nc.publish(
      'falconet.test.live.agents',
      new TextEncoder().encode(JSON.stringify({ node: 'x', agents: [{ id: 'forged' }], removed: [] })),
    );
    await nc.flush();
    await nc.close();
    await eventually(async () => (await relayed(b, 'malformed')) - before >= 4, 10_000);
    expect(b.server.registry.get('forged')).toBeUndefined();
  }, 20_000);

  it('goes on showing the agent after NATS restarts', async () => {
    const onB = watch(b);
    await onB.opened;
    onB.ws.send(JSON.stringify({ type: 'subscribe', agentId }));
    await eventually(() => onB.messages.some((m) => m.type === 'samples'), 15_000);
    await nats.stop();
    // Without the bus, node A goes on storing its agent's reports.
    const stored = async () => {
      const text = await (await fetch(`${a.base}/metrics`)).text();
      return Number(/^falconet_server_samples_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? Number.NaN);
    };
    const before = await stored();
    await eventually(async () => (await stored()) > before, 10_000);
    await nats.restart();
    const seen = onB.messages.length;
    await eventually(() => onB.messages.slice(seen).some((m) => m.type === 'samples' && m.agentId === agentId), 30_000);
    onB.ws.close();
  }, 60_000);
});

describe('cluster: configuration', () => {
  it('refuses an address that is not nats://, naming it', () => {
    const r = serverConfigSchema.safeParse({ cluster: { nats: 'nats://127.0.0.1:4222, http://x:1' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toContain('"http://x:1" is not a nats://host:port address');
    expect(serverConfigSchema.safeParse({ cluster: { nats: 'nats://a:1', name: 'a.b' } }).success).toBe(false);
    // Credentials in the address are not passed on to NATS: refused rather than silently dropped.
    expect(serverConfigSchema.safeParse({ cluster: { nats: 'nats://u:p@a:1' } }).success).toBe(false);
  });

  it('stops at start when NATS cannot be reached, naming cluster.nats', async () => {
    await expect(startTestServer({ users: false, config: { cluster: { nats: 'nats://127.0.0.1:1' } } })).rejects.toThrow(
      /cluster\.nats nats:\/\/127\.0\.0\.1:1/,
    );
  });
});
