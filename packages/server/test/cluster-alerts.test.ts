/**
 * Alerts in a cluster notify once (alerts/service.ts, cluster/owner.ts): two servers on one
 * PostgreSQL and a real nats-server, a webhook receiver, real agents. Each alert is evaluated by
 * one node: the node holding the agent's stream, or for an agent no node holds, the node
 * rendezvous hashing gives it over the live nodes. An alert that fires on one node and whose
 * agent moves to the other is taken over silently: no second firing, no resolved in between.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from '@falconet/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsProc, startNats } from '../../../testing/nats.ts';
import { createTempDatabase, type TempDatabase } from '../../../testing/postgres.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../../../testing/receivers.ts';
import { startTestAgent } from './support/agent.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API and the webhook, checked by the assertions
type Json = any;

const ALERTS = { evaluation_interval: '500ms', group_wait: '0s', group_interval: '0s', startup_grace: 0, warm_from_store: false };

describe('cluster: each alert notifies once', () => {
  let nats: NatsProc;
  let db: TempDatabase;
  let hook: HttpReceiver;
  let a: TestServer;
  let b: TestServer;
  const agents: Agent[] = [];

  beforeAll(async () => {
    nats = await startNats();
    db = await createTempDatabase();
    hook = await startHttpReceiver();
    const secret = randomBytes(32).toString('base64');
    const node = (name: string) => ({
      users: false,
      databaseUrl: db.url,
      config: { secret_key: secret, alerts: ALERTS, cluster: { nats: nats.url, node: name } },
    });
    a = await startTestServer(node('a'));
    b = await startTestServer(node('b'));
    await eventually(async () => ((await (await fetch(`${a.base}/api/cluster`)).json()) as Json).nodes.length === 2, 15_000);
    const post = async (path: string, body: unknown) => {
      const res = await fetch(a.base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
    };
    await post('/api/alerts/channels', { name: 'hook', type: 'webhook', url: `${hook.url}/fire` });
    await post('/api/alerts/rules', { name: 'down', kind: 'agent_offline', for: '0s', channels: ['hook'] });
    await post('/api/alerts/rules', {
      name: 'busy',
      metric: 'node_load1',
      aggregation: 'last',
      op: '>=',
      threshold: 0,
      channels: ['hook'],
    });
    // Both nodes read the rules from the database.
    for (const t of [a, b]) await eventually(() => t.server.alerts?.evaluator.rules.length === 2, 20_000);
  }, 60_000);

  afterAll(async () => {
    for (const g of agents) await g.stop();
    for (const t of [a, b]) await t?.stop();
    await hook?.close();
    await nats?.stop();
    await db?.drop();
  });

  const sent = (rule: string, agentId: string, status: string) =>
    hook.requests
      .filter((r) => r.url === '/fire' && r.json && (r.json as Json).status === status)
      .flatMap((r) => (r.json as Json).alerts as Json[])
      .filter((x) => x.labels.alertname === rule && x.labels.agent === agentId);

  it("fires a busy agent's alert once, and keeps it firing without a word when the agent moves to the other node", async () => {
    const dataDir = tempDir();
    const agent = await startTestAgent(a.server, { interval: '300ms', data_dir: dataDir });
    agents.push(agent);
    const id = await eventually(() => agent.identity?.agentId, 10_000);
    await eventually(() => sent('busy', id, 'firing').length === 1, 20_000);
    // The agent goes to node B: its stream on A ends, a new one starts on B.
    await agent.stop();
    const moved = await startTestAgent(b.server, { interval: '300ms', data_dir: dataDir });
    agents.push(moved);
    await eventually(() => b.server.registry.heldHere(id), 10_000);
    // B took the alert over from the database: firing there, nothing sent again, nothing resolved.
    await eventually(
      () => [...(b.server.alerts?.evaluator.alerts() ?? [])].some(([, x]) => x.agentId === id && x.state === 'firing'),
      20_000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(sent('busy', id, 'firing')).toHaveLength(1);
    expect(sent('busy', id, 'resolved')).toHaveLength(0);
    expect([...(a.server.alerts?.evaluator.alerts() ?? [])].some(([, x]) => x.agentId === id)).toBe(false);
  }, 60_000);

  it('says once that an agent went offline, though both nodes know it', async () => {
    const agent = await startTestAgent(a.server, { interval: '300ms' });
    agents.push(agent);
    const id = await eventually(() => agent.identity?.agentId, 10_000);
    await eventually(() => b.server.registry.get(id)?.status === 'online', 15_000);
    await agent.stop();
    await eventually(() => sent('down', id, 'firing').length >= 1, 30_000);
    await new Promise((r) => setTimeout(r, 4000));
    expect(sent('down', id, 'firing')).toHaveLength(1);
  }, 60_000);
});
