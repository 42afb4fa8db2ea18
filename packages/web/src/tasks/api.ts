import { request } from '../http.ts';

/** The tasks REST API and live messages, as the Tasks page uses them (docs/tasks.md). */
export interface Task {
  id: string;
  kind: 'run' | 'cron';
  command: string;
  args: string[];
  env: Record<string, string>;
  schedule: string;
  timezone: string;
  timeoutMs: number;
  target: { agents?: string[]; labels?: Record<string, string> };
  agentIds: string[];
  status: 'active' | 'done' | 'paused' | 'deleted' | 'cancelled';
  backend: 'stream' | 'etcd';
  createdBy: string;
  createdMs: number;
  updatedMs: number;
}

export interface Run {
  taskId: string;
  agentId: string;
  runId: string;
  scheduledMs: number;
  status: string;
  exitCode: number | null;
  reason: string;
  message: string;
  startedMs: number;
  endedMs: number | null;
  outputBytes: number;
}

export interface OutputRecord {
  seq: number;
  stream: string;
  data: string;
  timeMs: number;
}

export interface AuditEntry {
  id: string;
  timeMs: number;
  actor: string;
  action: string;
  taskId: string;
  agentId: string;
  command: string;
  result: string;
  detail: string;
}

export interface AgentHealth {
  agentId: string;
  health: 'alive' | 'lost';
  hostname: string;
  version: string;
  sinceMs: number;
}

export type TaskLiveMessage =
  | { type: 'task'; task: Task }
  | { type: 'task_run'; run: Run }
  | ({ type: 'task_output'; taskId: string; agentId: string; runId: string; exitCode: number; reason: string } & OutputRecord)
  | { type: 'task_agent'; agent: AgentHealth };

export interface NewTask {
  command: string;
  args: string[];
  agents?: string[];
  labels?: Record<string, string>;
  schedule: string;
  timezone: string;
  timeoutMs: number;
}

export const fetchTasks = () => request<{ items: Task[]; total: number }>('GET', '/api/tasks?limit=100');
export const fetchTask = (id: string) =>
  request<{ task: Task; runs: Run[]; totalRuns: number }>('GET', `/api/tasks/${encodeURIComponent(id)}?limit=200`);
export const fetchOutput = (r: Pick<Run, 'taskId' | 'agentId' | 'runId'>) =>
  request<{ run: Run; output: OutputRecord[] }>(
    'GET',
    `/api/tasks/${encodeURIComponent(r.taskId)}/runs/${encodeURIComponent(r.agentId)}/${encodeURIComponent(r.runId)}/output`,
  );
export const fetchAudit = (taskId?: string) =>
  request<{ items: AuditEntry[]; total: number }>('GET', `/api/tasks/audit?limit=50${taskId ? `&task=${encodeURIComponent(taskId)}` : ''}`);
export const fetchHealth = () => request<{ backend: 'stream' | 'etcd'; items: AgentHealth[] }>('GET', '/api/tasks/agents');
export const createTask = (t: NewTask) => request<{ task: Task; runs: Run[] }>('POST', '/api/tasks', t);
export const taskAction = (id: string, action: 'cancel' | 'pause' | 'resume' | 'delete') =>
  action === 'delete'
    ? request<{ task: Task }>('DELETE', `/api/tasks/${encodeURIComponent(id)}`)
    : request<{ task: Task }>('POST', `/api/tasks/${encodeURIComponent(id)}/${action}`);

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
