import type { Task, TaskRun } from '@falconet/protocol/api';

const NOW = 1_700_000_000_000;

/** A task as GET /api/tasks and the live feed describe it; what a test cares about is overridden. */
export function task(over: Partial<Task> = {}): Task {
  return {
    id: 't1',
    kind: 'run',
    command: '/usr/bin/uptime',
    args: [],
    env: {},
    schedule: '',
    timezone: '',
    timeoutMs: 0,
    target: { labels: { role: 'web' } },
    agentIds: ['a1', 'a2'],
    status: 'done',
    backend: 'stream',
    createdBy: 'alice',
    createdMs: NOW,
    updatedMs: NOW,
    ...over,
  };
}

/** One run of task t1 on agent a1, still going. */
export function run(over: Partial<TaskRun> = {}): TaskRun {
  return {
    taskId: 't1',
    agentId: 'a1',
    runId: 'r1',
    scheduledMs: 0,
    status: 'running',
    exitCode: null,
    reason: '',
    message: '',
    startedMs: NOW,
    endedMs: null,
    outputBytes: 0,
    ...over,
  };
}
