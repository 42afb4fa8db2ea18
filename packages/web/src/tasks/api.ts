import type {
  NewTaskBody,
  RunOutput,
  Task,
  TaskAgents,
  TaskAnswer,
  TaskAuditPage,
  TaskDetail,
  TaskList,
  TaskRun,
  TaskWithRuns,
} from '@falconet/protocol/api';
import { request } from '../http.ts';

/** The tasks REST API, as the Tasks page uses it (docs/tasks.md); the shapes are the API contract's. */
export const fetchTasks = () => request<TaskList>('GET', '/api/tasks?limit=100');
export const fetchTask = (id: string) => request<TaskDetail>('GET', `/api/tasks/${encodeURIComponent(id)}?limit=200`);
export const fetchOutput = (r: Pick<TaskRun, 'taskId' | 'agentId' | 'runId'>) =>
  request<RunOutput>(
    'GET',
    `/api/tasks/${encodeURIComponent(r.taskId)}/runs/${encodeURIComponent(r.agentId)}/${encodeURIComponent(r.runId)}/output`,
  );
export const fetchAudit = (taskId?: string) =>
  request<TaskAuditPage>('GET', `/api/tasks/audit?limit=50${taskId ? `&task=${encodeURIComponent(taskId)}` : ''}`);
export const fetchHealth = () => request<TaskAgents>('GET', '/api/tasks/agents');
export const createTask = (t: NewTaskBody) => request<TaskWithRuns>('POST', '/api/tasks', t);
export const taskAction = (id: string, action: 'cancel' | 'pause' | 'resume' | 'delete') =>
  action === 'delete'
    ? request<TaskAnswer>('DELETE', `/api/tasks/${encodeURIComponent(id)}`)
    : request<TaskAnswer>('POST', `/api/tasks/${encodeURIComponent(id)}/${action}`);

/** `role=web, zone=a` -> {role: 'web', zone: 'a'}; throws naming the part it cannot read. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`"${part}" is not NAME=VALUE`);
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

export function commandLine(t: Pick<Task, 'command' | 'args'>): string {
  return [t.command, ...t.args].map((a) => (/^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}
