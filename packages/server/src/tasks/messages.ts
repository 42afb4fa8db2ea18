import type { Role, Task, TaskLiveMessage } from '@falconet/protocol/api';
import { ROLE_RANK } from '../api/access.ts';

/** What a viewer sees in place of a task's environment values (API tokens, passwords handed to a command). */
export const ENV_MASK = '********';

/** Operators and admins, who may run tasks, see environment values; viewers and unknown callers do not. */
export const seesTaskEnv = (role: Role | undefined): boolean => role !== undefined && ROLE_RANK[role] >= ROLE_RANK.operator;

/** A task as a viewer sees it: the environment's names kept, every value masked. */
export function withEnvMasked(task: Task): Task {
  return { ...task, env: Object.fromEntries(Object.keys(task.env).map((k) => [k, ENV_MASK])) };
}

/** A live message as a viewer may receive it: task environment values masked, the rest as is. */
export function maskedForViewer(msg: TaskLiveMessage): TaskLiveMessage {
  return msg.type === 'task' ? { ...msg, task: withEnvMasked(msg.task) } : msg;
}
