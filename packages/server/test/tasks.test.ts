import type { Agent } from '@falconet/agent';
import type { Task } from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../../../testing/processes.ts';
import type { FalconetServer } from '../src/app.ts';
import { migrateMetaDb } from '../src/db/index.ts';
import { TaskRepository } from '../src/tasks/repository.ts';
import { startTestAgent } from './support/agent.ts';
import { startTestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

describe.each(ENGINES)('task history on %s', (kind) => {
  const databases = metaDbOpener(kind);
  async function repo() {
    const meta = await databases.unmigrated();
    expect(await migrateMetaDb(meta)).toContain('0100_tasks');
    return { meta, repo: new TaskRepository(meta) };
  }

  const task = (id: string, createdMs: number, over: Partial<Task> = {}): Task => ({
    id,
    kind: 'run',
    command: '/bin/echo',
    args: ['a b'],
    env: {},
    schedule: '',
    timezone: '',
    timeoutMs: 0,
    target: { labels: { role: 'web' } },
    agentIds: ['a1'],
    status: 'active',
    backend: 'stream',
    createdBy: 'alice',
    createdMs,
    updatedMs: createdMs,
    ...over,
  });

  it('stores each output record once, however often the agent resends it', async () => {
    const { meta, repo: r } = await repo();
    await r.insertTask(task('t1', 1000));
    expect(
      await r.insertRun({
        taskId: 't1',
        agentId: 'a1',
        runId: 't1',
        scheduledMs: 0,
        status: 'sent',
        exitCode: null,
        reason: '',
        message: '',
        startedMs: 1000,
        endedMs: null,
        outputBytes: 0,
      }),
    ).toBe(true);
    expect(await r.unfinishedRuns('t1')).toBe(1);
    expect(await r.insertOutput('a1', 't1', { seq: 1, stream: 'stdout', data: 'x', timeMs: 1 })).toBe(true);
    expect(await r.insertOutput('a1', 't1', { seq: 1, stream: 'stdout', data: 'x', timeMs: 1 })).toBe(false);
    expect(await r.insertOutput('a1', 't1', { seq: 2, stream: 'exit', data: '', timeMs: 2 })).toBe(true);
    await r.updateRun('a1', 't1', { status: 'succeeded', exitCode: 0, endedMs: 2 });
    expect(await r.unfinishedRuns('t1')).toBe(0);
    expect(await r.outputOf('a1', 't1')).toEqual([
      { seq: 1, stream: 'stdout', data: 'x', timeMs: 1 },
      { seq: 2, stream: 'exit', data: '', timeMs: 2 },
    ]);
    expect(await r.getRun('a1', 't1')).toMatchObject({ status: 'succeeded', exitCode: 0, endedMs: 2 });
    expect((await r.getTask('t1'))?.args).toEqual(['a b']);
    await meta.close();
  });

  it('filters the audit log and prunes history past retention', async () => {
    const { meta, repo: r } = await repo();
    await r.insertTask(task('old', 1000));
    await r.insertTask(task('new', 5000));
    await r.insertTask(task('cron', 1000, { kind: 'cron', schedule: '* * * * *' }));
    for (const [t, time, actor] of [
      ['old', 1000, 'alice'],
      ['new', 5000, 'bob'],
    ] as const) {
      await r.audit({ timeMs: time, actor, action: 'create', taskId: t, agentId: '', command: '/bin/echo', result: 'ok', detail: '' });
      await r.insertRun({
        taskId: t,
        agentId: 'a1',
        runId: t,
        scheduledMs: 0,
        status: 'succeeded',
        exitCode: 0,
        reason: '',
        message: '',
        startedMs: time,
        endedMs: time,
        outputBytes: 1,
      });
      await r.insertOutput('a1', t, { seq: 1, stream: 'stdout', data: 'x', timeMs: time });
    }
    expect((await r.listAudit({ actor: 'bob', limit: 10, offset: 0 })).items.map((e) => e.taskId)).toEqual(['new']);
    expect((await r.listAudit({ limit: 10, offset: 0 })).items.map((e) => e.taskId)).toEqual(['new', 'old']);
    expect(await r.prune(3000, 3000)).toEqual({ tasks: 1, runs: 1, output: 1, audit: 1 });
    expect(await r.getTask('old')).toBeUndefined();
    // A live cron job is kept, however old: only deleted ones go.
    expect(await r.getTask('cron')).toBeDefined();
    expect(await r.outputOf('a1', 'new')).toHaveLength(1);
    await meta.close();
  });
});

describe('tasks through the server (in process, real gRPC stream, real agent)', () => {
  let server: FalconetServer;
  let agent: Agent;
  let base = '';
  let agentId = '';

  beforeAll(async () => {
    const t = await startTestServer({ users: false });
    server = t.server;
    base = t.base;
    agent = await startTestAgent(server, {
      interval: '500ms',
      labels: { role: 'web' },
      tasks: { enabled: true, allow: [{ command: '/bin/echo', rest: '[a-z]+' }] },
    });
    agentId = agent.identity?.agentId as string;
    await eventually(() => server.tasks.streams.has(agentId));
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Json };
  }

  it('turns down bad requests, naming what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [{ command: '/bin/echo' }, /give "agents" or "labels"/],
      [{ command: '', agents: [agentId] }, /body command/],
      [{ command: '/bin/echo', agents: ['nope'] }, /unknown agent: nope/],
      [{ command: '/bin/echo', labels: { role: 'db' } }, /no agent has the labels role=db/],
      [{ command: '/bin/echo', agents: [agentId], schedule: '61 * * * *' }, /schedule "61 \* \* \* \*"/],
      [{ command: '/bin/echo', agents: [agentId], schedule: '* * * * *', timezone: 'Mars/Olympus' }, /Invalid timezone/],
      [{ command: '/bin/echo', agents: [agentId], timezone: 'UTC' }, /timezone is for cron jobs/],
      [{ command: '/bin/echo', agents: [agentId], env: { 'BAD-NAME': 'x' } }, /env\.BAD-NAME/],
      [{ command: '/bin/echo', agents: [agentId], shell: true }, /shell/],
    ];
    for (const [body, message] of cases) {
      const r = await call('POST', '/api/tasks', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toMatch(message);
    }
    expect((await call('GET', '/api/tasks/nope')).status).toBe(404);
    expect((await call('POST', '/api/tasks/nope/pause')).status).toBe(404);
  });

  it('runs a command on agents chosen by label and streams its output over /api/live', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/live`);
    const messages: Json[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe_task', taskId: '*' }));
    // The agent declares role=web in its own configuration: that alone never chooses it for a task.
    const declared = await call('POST', '/api/tasks', { command: '/bin/echo', args: ['hello'], labels: { role: 'web' } });
    expect(declared.status).toBe(400);
    expect(declared.body.error.message).toMatch(/^no agent has the labels role=web as trusted labels \(1 declare them;/);
    expect((await call('PUT', `/api/agents/${agentId}/labels`, { labels: { role: 'web' } })).body.trustedLabels).toEqual({ role: 'web' });
    const created = await call('POST', '/api/tasks', { command: '/bin/echo', args: ['hello'], labels: { role: 'web' } });
    expect(created.status).toBe(201);
    const id = created.body.task.id as string;
    expect(created.body.runs).toEqual([expect.objectContaining({ agentId, status: 'sent' })]);
    const exit = await eventually(() => messages.find((m) => m.type === 'task_output' && m.taskId === id && m.stream === 'exit'));
    expect(exit.exitCode).toBe(0);
    expect(messages.find((m) => m.type === 'task_output' && m.stream === 'stdout')?.data).toBe('hello\n');
    expect(messages.some((m) => m.type === 'task' && m.task.id === id)).toBe(true);
    ws.close();
    const detail = await call('GET', `/api/tasks/${id}`);
    expect(detail.body.runs[0]).toMatchObject({ status: 'succeeded', exitCode: 0 });
    const out = await call('GET', `/api/tasks/${id}/runs/${agentId}/${id}/output`);
    expect(out.body.output.map((o: { stream: string }) => o.stream)).toEqual(['stdout', 'exit']);
  });

  it('keeps a cron job, pauses, resumes and deletes it, with every step in the audit log', async () => {
    const created = await call('POST', '/api/tasks', {
      command: '/bin/echo',
      args: ['tick'],
      agents: [agentId],
      schedule: '* * * * * *',
      timezone: 'UTC',
    });
    const id = created.body.task.id as string;
    await eventually(() => agent.tasks?.jobs.get(id));
    expect((await call('POST', `/api/tasks/${id}/pause`)).body.task.status).toBe('paused');
    await eventually(() => agent.tasks?.jobs.get(id)?.paused === true);
    expect((await call('POST', `/api/tasks/${id}/resume`)).body.task.status).toBe('active');
    await eventually(() => agent.tasks?.jobs.get(id)?.paused === false);
    await eventually(async () =>
      (await call('GET', `/api/tasks/${id}`)).body.runs.some((r: { status: string }) => r.status === 'succeeded'),
    );
    expect((await call('DELETE', `/api/tasks/${id}`)).body.task.status).toBe('deleted');
    await eventually(() => agent.tasks?.jobs.get(id) === undefined);
    const audit = await call('GET', `/api/tasks/audit?task=${id}&limit=1000`);
    const actions = (audit.body.items as { action: string }[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['create', 'dispatch', 'pause', 'resume', 'delete', 'result']));
    expect(audit.body.items.every((e: { actor: string }) => e.actor === 'local')).toBe(true);
  });

  it("counts task output on the server's /metrics", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const outputs = Number(/^falconet_server_task_outputs_total (\d+)$/m.exec(text)?.[1]);
    expect(outputs).toBeGreaterThan(0);
    expect(text).toMatch(/^falconet_server_task_agent_streams 1$/m);
  });

  it('documents every tasks route in OpenAPI', async () => {
    const doc = (await call('GET', '/api/openapi.json')).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/tasks', '/api/tasks/{id}', '/api/tasks/audit', '/api/tasks/{id}/cancel', '/api/tasks/public-key']),
    );
  });
});
