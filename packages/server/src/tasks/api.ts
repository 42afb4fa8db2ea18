import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import '../api/access.ts';
import { ApiError, notFound } from '../api/errors.ts';
import { ErrorResponse } from '../api/schemas.ts';
import { actorOf as authActorOf } from '../auth/service.ts';
import { seesTaskEnv, withEnvMasked } from './messages.ts';
import type { TaskView } from './repository.ts';
import { TaskRequestError, type TaskService } from './service.ts';

const id = z.string().min(1).max(200);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are letters, digits and _');

const TaskSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['run', 'cron']),
    command: z.string(),
    args: z.array(z.string()),
    env: z.record(z.string(), z.string()),
    schedule: z.string(),
    timezone: z.string(),
    timeoutMs: z.number(),
    target: z.object({ agents: z.array(z.string()).optional(), labels: z.record(z.string(), z.string()).optional() }),
    agentIds: z.array(z.string()),
    status: z.enum(['active', 'done', 'paused', 'deleted', 'cancelled']),
    backend: z.enum(['stream', 'etcd']),
    createdBy: z.string(),
    createdMs: z.number(),
    updatedMs: z.number(),
  })
  .meta({ id: 'Task' });

const RunSchema = z
  .object({
    taskId: z.string(),
    agentId: z.string(),
    runId: z.string(),
    scheduledMs: z.number(),
    status: z.enum([
      'pending',
      'sent',
      'running',
      'succeeded',
      'failed',
      'refused',
      'timeout',
      'cancelled',
      'interrupted',
      'undeliverable',
    ]),
    exitCode: z.number().nullable(),
    reason: z.string(),
    message: z.string(),
    startedMs: z.number(),
    endedMs: z.number().nullable(),
    outputBytes: z.number(),
  })
  .meta({ id: 'TaskRun' });

const OutputSchema = z.object({ seq: z.number(), stream: z.string(), data: z.string(), timeMs: z.number() }).meta({ id: 'TaskOutput' });

const AuditSchema = z
  .object({
    id: z.string(),
    timeMs: z.number(),
    actor: z.string(),
    action: z.string(),
    taskId: z.string(),
    agentId: z.string(),
    command: z.string(),
    result: z.string(),
    detail: z.string(),
  })
  .meta({ id: 'TaskAuditEntry' });

const HealthSchema = z.object({
  agentId: z.string(),
  health: z.enum(['alive', 'lost']),
  hostname: z.string(),
  version: z.string(),
  sinceMs: z.number(),
});

const CreateBody = z
  .object({
    command: z.string().min(1).max(4096).describe("an absolute path, or a name from the agents' tasks.allow"),
    args: z.array(z.string().max(4096)).max(256).default([]),
    env: z.record(envName, z.string().max(4096)).default({}),
    agents: z.array(id).min(1).max(10_000).optional().describe('agent ids'),
    labels: z.record(labelName, z.string()).optional().describe('every agent with all these labels'),
    schedule: z.string().max(200).default('').describe('cron pattern (5 or 6 fields); empty runs the command now'),
    timezone: z.string().max(64).default('').describe("IANA time zone of the schedule; empty: the agent's"),
    timeoutMs: z.number().int().min(0).max(86_400_000).default(0).describe("0: the agent's tasks.timeout"),
  })
  .strict()
  .refine((b) => b.agents !== undefined || b.labels !== undefined, { message: 'give "agents" or "labels"', path: ['agents'] });

const paging = { limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).default(0) };

/** Who made a request, for the task audit log, named as the auth audit log names it. */
export function actorOf(req: FastifyRequest): string {
  return req.identity ? authActorOf(req.identity) : `anonymous@${req.ip}`;
}

/** A task as this caller may see it: viewers get environment values masked (docs/tasks.md). */
function shown(req: FastifyRequest, task: TaskView): TaskView {
  return seesTaskEnv(req.identity?.role) ? task : withEnvMasked(task);
}

function asApiError(err: unknown): never {
  if (err instanceof TaskRequestError) throw new ApiError(err.status, err.code, err.message);
  throw err;
}

/** REST for tasks: reads for viewers, actions for operators (docs/tasks.md). */
export const tasksApi: FastifyPluginAsyncZod<{ tasks: TaskService }> = async (app, { tasks }) => {
  const TaskWithRuns = z.object({ task: TaskSchema, runs: z.array(RunSchema) });

  app.post(
    '/api/tasks',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Run a command now on agents chosen by id or labels, or keep it as a cron job on them',
        tags: ['tasks'],
        body: CreateBody,
        response: { 201: TaskWithRuns, 400: ErrorResponse },
      },
    },
    async (req, reply) => {
      const created = await tasks.create(req.body, actorOf(req)).catch(asApiError);
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api/tasks',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Tasks, newest first',
        tags: ['tasks'],
        querystring: z.object({ kind: z.enum(['run', 'cron']).optional(), ...paging }),
        response: { 200: z.object({ items: z.array(TaskSchema), total: z.number() }) },
      },
    },
    async (req) => {
      const page = await tasks.list(req.query);
      return { ...page, items: page.items.map((t) => shown(req, t)) };
    },
  );

  app.get(
    '/api/tasks/audit',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'The task audit log: who did what, on which agent, when, and the result',
        tags: ['tasks'],
        querystring: z.object({
          task: id.optional(),
          agent: id.optional(),
          actor: z.string().max(200).optional(),
          action: z.string().max(64).optional(),
          ...paging,
        }),
        response: { 200: z.object({ items: z.array(AuditSchema), total: z.number() }) },
      },
    },
    async (req) => {
      const q = req.query;
      return await tasks.audit({ taskId: q.task, agentId: q.agent, actor: q.actor, action: q.action, limit: q.limit, offset: q.offset });
    },
  );

  app.get(
    '/api/tasks/agents',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "Agents' etcd health (etcd mode): alive while the health lease holds, lost once it expired",
        tags: ['tasks'],
        response: { 200: z.object({ backend: z.enum(['stream', 'etcd']), items: z.array(HealthSchema) }) },
      },
    },
    async () => ({ backend: tasks.backend, items: tasks.health() }),
  );

  app.get(
    '/api/tasks/public-key',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "The server's Ed25519 task-signing key, as agents pin it",
        tags: ['tasks'],
        response: { 200: z.object({ publicKey: z.string(), sha256: z.string() }) },
      },
    },
    async () => ({ publicKey: tasks.publicKey.toString('base64'), sha256: tasks.signer.fingerprint }),
  );

  app.get(
    '/api/tasks/:id',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One task and its latest runs',
        tags: ['tasks'],
        params: z.object({ id }),
        querystring: z.object(paging),
        response: { 200: TaskWithRuns.extend({ totalRuns: z.number() }), 404: ErrorResponse },
      },
    },
    async (req) => {
      const task = await tasks.get(req.params.id);
      if (!task) throw notFound(`task "${req.params.id}"`);
      const runs = await tasks.runs(task.id, req.query.limit, req.query.offset);
      return { task: shown(req, task), runs: runs.items, totalRuns: runs.total };
    },
  );

  app.get(
    '/api/tasks/:id/runs/:agentId/:runId/output',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "One run's output records, in order",
        tags: ['tasks'],
        params: z.object({ id, agentId: id, runId: id }),
        response: { 200: z.object({ run: RunSchema, output: z.array(OutputSchema) }), 404: ErrorResponse },
      },
    },
    async (req) => {
      const { id: taskId, agentId, runId } = req.params;
      const run = await tasks.repo.getRun(agentId, runId);
      if (!run || run.taskId !== taskId) throw notFound(`run "${runId}" of task "${taskId}" on agent "${agentId}"`);
      return { run, output: await tasks.outputOf(agentId, runId) };
    },
  );

  const action = (path: string, summary: string, act: (taskId: string, actor: string) => Promise<unknown>) =>
    app.post(
      `/api/tasks/:id/${path}`,
      {
        config: { minRole: 'operator' },
        schema: {
          summary,
          tags: ['tasks'],
          params: z.object({ id }),
          response: { 200: z.object({ task: TaskSchema }), 404: ErrorResponse, 409: ErrorResponse },
        },
      },
      async (req) => ({ task: await act(req.params.id, actorOf(req)).catch(asApiError) }) as { task: z.infer<typeof TaskSchema> },
    );
  action('cancel', 'Stop a task: kills its running processes; a cron job is removed from its agents', (i, a) => tasks.cancel(i, a));
  action('pause', 'Pause a cron job on its agents', (i, a) => tasks.pause(i, a));
  action('resume', 'Resume a paused cron job', (i, a) => tasks.resume(i, a));

  app.delete(
    '/api/tasks/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Delete a cron job from its agents (a task run now is cancelled)',
        tags: ['tasks'],
        params: z.object({ id }),
        response: { 200: z.object({ task: TaskSchema }), 404: ErrorResponse },
      },
    },
    async (req) => ({ task: await tasks.remove(req.params.id, actorOf(req)).catch(asApiError) }),
  );
};
