/**
 * A task started on one node runs on an agent held by another (cluster/live.ts, tasks/service.ts):
 * two servers on one PostgreSQL (metadata and samples) and a real nats-server, a real agent on
 * node A, the task created through node B's API. The holder signs and sends it; its output
 * reaches node B's dashboards over the bus.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from '@falconet/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type NatsProc, startNats } from '../../../testing/nats.ts';
import { createTempDatabase, type TempDatabase } from '../../../testing/postgres.ts';
import { eventually } from '../../../testing/processes.ts';
import { startTestAgent } from './support/agent.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

describe('cluster: tasks across nodes', () => {
  let nats: NatsProc;
  let db: TempDatabase;
  let a: TestServer;
  let b: TestServer;
  let agent: Agent;
  let agentId: string;

  beforeAll(async () => {
    nats = await startNats();
    db = await createTempDatabase();
    const secret = randomBytes(32).toString('base64');
    const node = (name: string) => ({
      users: false,
      databaseUrl: db.url,
      config: { secret_key: secret, cluster: { nats: nats.url, node: name } },
    });
    a = await startTestServer(node('a'));
    b = await startTestServer(node('b'));
    agent = await startTestAgent(a.server, {
      interval: '500ms',
      tasks: { enabled: true, allow: [{ command: '/bin/echo', rest: '[a-z]+' }] },
    });
    agentId = await eventually(() => agent.identity?.agentId, 10_000);
    await eventually(() => b.server.registry.holderOf(agentId) === 'a', 15_000);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    for (const t of [a, b]) await t?.stop();
    await nats?.stop();
    await db?.drop();
  });

  async function call(t: TestServer, method: string, path: string, body?: unknown) {
    const res = await fetch(t.base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  it("runs a task created on node B on node A's agent, with its output on B's dashboards", async () => {
    const ws = new WebSocket(`${b.base.replace('http', 'ws')}/api/live`);
    const messages: Json[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe_task', taskId: '*' }));
    const created = await call(b, 'POST', '/api/tasks', { command: '/bin/echo', args: ['hello'], agents: [agentId] });
    expect(created.status).toBe(201);
    const id = created.body.task.id as string;
    expect(created.body.runs).toEqual([expect.objectContaining({ agentId, status: 'sent' })]);
    const exit = await eventually(() => messages.find((m) => m.type === 'task_output' && m.taskId === id && m.stream === 'exit'), 20_000);
    expect(exit.exitCode).toBe(0);
    expect(messages.find((m) => m.type === 'task_output' && m.taskId === id && m.stream === 'stdout')?.data).toBe('hello\n');
    ws.close();
    // Both nodes read the same history: the run finished, its output stored once.
    for (const t of [a, b]) {
      const detail = await eventually(async () => {
        const d = await call(t, 'GET', `/api/tasks/${id}`);
        return d.body.runs[0]?.status === 'succeeded' ? d : undefined;
      }, 10_000);
      expect(detail.body.runs[0]).toMatchObject({ agentId, exitCode: 0 });
    }
    const audit = await call(b, 'GET', `/api/tasks/audit?task=${id}&limit=100`);
    expect(audit.body.items.some((e: { result: string }) => e.result === 'sent by node a')).toBe(true);
  }, 60_000);

  it('says a task is undeliverable when no node holds the agent', async () => {
    await agent.stop();
    await eventually(
      () => b.server.registry.holderOf(agentId) === undefined && a.server.registry.get(agentId)?.status === 'offline',
      15_000,
    );
    const created = await call(b, 'POST', '/api/tasks', { command: '/bin/echo', args: ['late'], agents: [agentId] });
    expect(created.status).toBe(201);
    expect(created.body.runs).toEqual([expect.objectContaining({ agentId, status: 'undeliverable' })]);
  }, 40_000);
});
