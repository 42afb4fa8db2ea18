import { z } from 'zod';
import { Labels, pageOf, paging } from './common.ts';
import { RUN_STATUSES, TASK_AGENT_HEALTH, TASK_BACKENDS, TASK_KINDS, TASK_OUTPUT_STREAMS, TASK_STATUSES } from './enums.ts';

export const TaskKind = z.enum(TASK_KINDS);
export type TaskKind = z.infer<typeof TaskKind>;
export const TaskStatus = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatus>;
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;
export const TaskBackend = z.enum(TASK_BACKENDS);
export type TaskBackend = z.infer<typeof TaskBackend>;
export const TaskOutputStream = z.enum(TASK_OUTPUT_STREAMS);
export type TaskOutputStream = z.infer<typeof TaskOutputStream>;

/** The agents a task is for: by id, or every agent with all these trusted labels. */
export const TaskTarget = z.object({ agents: z.array(z.string()).optional(), labels: Labels.optional() });
export type TaskTarget = z.infer<typeof TaskTarget>;

export const Task = z
  .object({
    id: z.string(),
    kind: TaskKind,
    command: z.string(),
    args: z.array(z.string()),
    env: z.record(z.string(), z.string()),
    schedule: z.string(),
    timezone: z.string(),
    timeoutMs: z.number(),
    target: TaskTarget,
    agentIds: z.array(z.string()),
    status: TaskStatus,
    backend: TaskBackend,
    createdBy: z.string(),
    createdMs: z.number(),
    updatedMs: z.number(),
  })
  .meta({ id: 'Task' });
export type Task = z.infer<typeof Task>;

export const TaskRun = z
  .object({
    taskId: z.string(),
    agentId: z.string(),
    runId: z.string(),
    scheduledMs: z.number(),
    status: RunStatus,
    exitCode: z.number().nullable(),
    reason: z.string(),
    message: z.string(),
    startedMs: z.number(),
    endedMs: z.number().nullable(),
    outputBytes: z.number(),
  })
  .meta({ id: 'TaskRun' });
export type TaskRun = z.infer<typeof TaskRun>;

export const TaskOutput = z
  .object({ seq: z.number(), stream: z.string(), data: z.string(), timeMs: z.number() })
  .meta({ id: 'TaskOutput' });
export type TaskOutput = z.infer<typeof TaskOutput>;

export const TaskAuditEntry = z
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
export type TaskAuditEntry = z.infer<typeof TaskAuditEntry>;

/** An agent's etcd health as the server sees it: alive while its lease holds, lost once it expired. */
export const TaskAgentHealth = z.object({
  agentId: z.string(),
  health: z.enum(TASK_AGENT_HEALTH),
  hostname: z.string(),
  version: z.string(),
  sinceMs: z.number(),
});
export type TaskAgentHealth = z.infer<typeof TaskAgentHealth>;

const id = z.string().min(1).max(200);
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _');
const labelName = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are letters, digits and _');

/** POST /api/tasks */
export const NewTaskBody = z
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
/** What a client sends; the server fills the defaults. */
export type NewTaskBody = z.input<typeof NewTaskBody>;
/** What the tasks module takes: the body with its defaults. */
export type NewTask = z.output<typeof NewTaskBody>;

const taskPaging = paging(1000, 100);

/** GET /api/tasks */
export const TaskListQuery = z.object({ kind: TaskKind.optional(), ...taskPaging });
export const TaskList = pageOf(Task);
export type TaskList = z.infer<typeof TaskList>;

/** `:id` of /api/tasks/:id/... */
export const TaskParams = z.object({ id });
/** GET /api/tasks/:id */
export const TaskRunsQuery = z.object(taskPaging);
export const TaskWithRuns = z.object({ task: Task, runs: z.array(TaskRun) });
export type TaskWithRuns = z.infer<typeof TaskWithRuns>;
export const TaskDetail = TaskWithRuns.extend({ totalRuns: z.number() });
export type TaskDetail = z.infer<typeof TaskDetail>;
/** The answer to an action on a task (cancel, pause, resume, delete). */
export const TaskAnswer = z.object({ task: Task });
export type TaskAnswer = z.infer<typeof TaskAnswer>;

/** GET /api/tasks/:id/runs/:agentId/:runId/output */
export const RunParams = z.object({ id, agentId: id, runId: id });
export const RunOutput = z.object({ run: TaskRun, output: z.array(TaskOutput) });
export type RunOutput = z.infer<typeof RunOutput>;

/** GET /api/tasks/audit */
export const TaskAuditQuery = z.object({
  task: id.optional(),
  agent: id.optional(),
  actor: z.string().max(200).optional(),
  action: z.string().max(64).optional(),
  ...taskPaging,
});
export const TaskAuditPage = pageOf(TaskAuditEntry);
export type TaskAuditPage = z.infer<typeof TaskAuditPage>;

/** GET /api/tasks/agents */
export const TaskAgents = z.object({ backend: TaskBackend, items: z.array(TaskAgentHealth) });
export type TaskAgents = z.infer<typeof TaskAgents>;

/** GET /api/tasks/public-key: the server's Ed25519 task-signing key, as agents pin it. */
export const TaskPublicKey = z.object({ publicKey: z.string(), sha256: z.string() });
export type TaskPublicKey = z.infer<typeof TaskPublicKey>;
