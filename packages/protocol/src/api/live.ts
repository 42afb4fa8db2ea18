/** The messages of the `/api/live` WebSocket, both ways. */
import { z } from 'zod';
import { Agent } from './agents.ts';
import { Labels } from './common.ts';
import { ErrorBody } from './errors.ts';
import { LiveLogs, LiveLogsGap, LiveLogsTail, LiveLogsUntail } from './logs.ts';
import { Task, TaskAgentHealth, TaskOutputStream, TaskRun } from './tasks.ts';

const agentId = z.string().min(1).max(128);
const taskId = z.string().min(1).max(128);

/** What a browser sends: which agents' samples and which tasks' runs and output it wants ("*" for every task). */
export const LiveClientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), agentId }),
  z.object({ type: z.literal('unsubscribe'), agentId }),
  z.object({ type: z.literal('subscribe_task'), taskId }),
  z.object({ type: z.literal('unsubscribe_task'), taskId }),
  LiveLogsTail,
  LiveLogsUntail,
]);
export type LiveClientMessage = z.infer<typeof LiveClientMessage>;

export const LiveSample = z.object({ name: z.string(), labels: Labels, value: z.number(), timestampMs: z.number() });
export type LiveSample = z.infer<typeof LiveSample>;

export const LiveHello = z.object({ type: z.literal('hello'), serverTimeMs: z.number() });
/** An agent's status or summary changed: to every client. */
export const LiveAgent = z.object({ type: z.literal('agent'), agent: Agent });
/** An admin forgot an agent: to every client, which drops it from its lists. */
export const LiveAgentRemoved = z.object({ type: z.literal('agent_removed'), agentId: z.string() });
/** A report of an agent the client subscribed to. */
export const LiveSamples = z.object({
  type: z.literal('samples'),
  agentId: z.string(),
  timestampMs: z.number(),
  samples: z.array(LiveSample),
});
/** A task was created or changed status: to every client (a viewer's with `env` values masked). */
export const LiveTask = z.object({ type: z.literal('task'), task: Task });
/** A run changed status: to clients subscribed to its task. */
export const LiveTaskRun = z.object({ type: z.literal('task_run'), run: TaskRun });
/** A piece of a run's result as it arrives: to clients subscribed to its task. */
export const LiveTaskOutput = z.object({
  type: z.literal('task_output'),
  taskId: z.string(),
  agentId: z.string(),
  runId: z.string(),
  seq: z.number(),
  stream: TaskOutputStream,
  data: z.string(),
  exitCode: z.number(),
  reason: z.string(),
  timeMs: z.number(),
});
/** An agent's etcd health changed: to every client. */
export const LiveTaskAgent = z.object({ type: z.literal('task_agent'), agent: TaskAgentHealth });
/** A client message the server could not read. */
export const LiveError = z.object({ type: z.literal('error'), ...ErrorBody.shape });

/** What the tasks module pushes. */
export const TaskLiveMessage = z.discriminatedUnion('type', [LiveTask, LiveTaskRun, LiveTaskOutput, LiveTaskAgent]);
export type TaskLiveMessage = z.infer<typeof TaskLiveMessage>;

/** Everything the server sends. */
export const LiveServerMessage = z.discriminatedUnion('type', [
  LiveHello,
  LiveAgent,
  LiveAgentRemoved,
  LiveSamples,
  LiveTask,
  LiveTaskRun,
  LiveTaskOutput,
  LiveTaskAgent,
  LiveError,
  LiveLogs,
  LiveLogsGap,
]);
export type LiveServerMessage = z.infer<typeof LiveServerMessage>;
