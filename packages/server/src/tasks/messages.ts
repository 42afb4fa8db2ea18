import type { RunView, TaskView } from './repository.ts';

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
