import { ROLE_RANK, type Role } from '../api/access.ts';
import type { RunView, TaskView } from './repository.ts';

/** What a viewer sees in place of a task's environment values (API tokens, passwords handed to a command). */
export const ENV_MASK = '********';

/** Operators and admins, who may run tasks, see environment values; viewers and unknown callers do not. */
export const seesTaskEnv = (role: Role | undefined): boolean => role !== undefined && ROLE_RANK[role] >= ROLE_RANK.operator;

/** A task as a viewer sees it: the environment's names kept, every value masked. */
export function withEnvMasked(task: TaskView): TaskView {
  return { ...task, env: Object.fromEntries(Object.keys(task.env).map((k) => [k, ENV_MASK])) };
}

/** An agent's etcd health as the server sees it: alive while its lease holds, lost once it expired. */
export interface AgentHealth {
  agentId: string;
  health: 'alive' | 'lost';
  hostname: string;
  version: string;
  sinceMs: number;
}

/** What the tasks module pushes to browsers over /api/live (docs/api.md). */
export type TaskLiveMessage =
  | { type: 'task'; task: TaskView }
  | { type: 'task_run'; run: RunView }
  | {
      type: 'task_output';
      taskId: string;
      agentId: string;
      runId: string;
      seq: number;
      stream: 'stdout' | 'stderr' | 'exit' | 'refused';
      data: string;
      exitCode: number;
      reason: string;
      timeMs: number;
    }
  | { type: 'task_agent'; agent: AgentHealth };

/** A live message as a viewer may receive it: task environment values masked, the rest as is. */
export function maskedForViewer(msg: TaskLiveMessage): TaskLiveMessage {
  return msg.type === 'task' ? { ...msg, task: withEnvMasked(msg.task) } : msg;
}
