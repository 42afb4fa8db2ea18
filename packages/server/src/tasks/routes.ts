import {
  ErrorBody,
  NewTaskBody,
  RunOutput,
  RunParams,
  type Task,
  TaskAgents,
  TaskAnswer,
  TaskAuditPage,
  TaskAuditQuery,
  TaskDetail,
  TaskList,
  TaskListQuery,
  TaskParams,
  TaskPublicKey,
  TaskRunsQuery,
  TaskWithRuns,
} from '@falconet/protocol/api';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { notFound } from '../api/errors.ts';
import { actorOf as authActorOf } from '../auth/service.ts';
import { seesTaskEnv, withEnvMasked } from './messages.ts';
import type { TaskService } from './service.ts';

/** Who made a request, for the task audit log, named as the auth audit log names it. */
export function actorOf(req: FastifyRequest): string {
  return req.identity ? authActorOf(req.identity) : `anonymous@${req.ip}`;
}

/** A task as this caller may see it: viewers get environment values masked (docs/tasks.md). */
function shown(req: FastifyRequest, task: Task): Task {
  return seesTaskEnv(req.identity?.role) ? task : withEnvMasked(task);
}

/** REST for tasks: reads for viewers, actions for operators (docs/tasks.md). */
export const tasksApi: FastifyPluginAsyncZod<{ tasks: TaskService }> = async (app, { tasks }) => {
  app.post(
    '/api/tasks',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Run a command now on agents chosen by id or labels, or keep it as a cron job on them',
        tags: ['tasks'],
        body: NewTaskBody,
        response: { 201: TaskWithRuns, 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const created = await tasks.create(req.body, actorOf(req));
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
        querystring: TaskListQuery,
        response: { 200: TaskList },
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
        querystring: TaskAuditQuery,
        response: { 200: TaskAuditPage },
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
        response: { 200: TaskAgents },
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
        response: { 200: TaskPublicKey },
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
        params: TaskParams,
        querystring: TaskRunsQuery,
        response: { 200: TaskDetail, 404: ErrorBody },
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
        params: RunParams,
        response: { 200: RunOutput, 404: ErrorBody },
      },
    },
    async (req) => {
      const { id: taskId, agentId, runId } = req.params;
      const run = await tasks.repo.getRun(agentId, runId);
      if (!run || run.taskId !== taskId) throw notFound(`run "${runId}" of task "${taskId}" on agent "${agentId}"`);
      return { run, output: await tasks.outputOf(agentId, runId) };
    },
  );

  const action = (path: string, summary: string, act: (taskId: string, actor: string) => Promise<Task>) =>
    app.post(
      `/api/tasks/:id/${path}`,
      {
        config: { minRole: 'operator' },
        schema: {
          summary,
          tags: ['tasks'],
          params: TaskParams,
          response: { 200: TaskAnswer, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (req) => ({ task: await act(req.params.id, actorOf(req)) }),
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
        params: TaskParams,
        response: { 200: TaskAnswer, 404: ErrorBody },
      },
    },
    async (req) => ({ task: await tasks.remove(req.params.id, actorOf(req)) }),
  );
};
