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

/**
 * A signed-in browser's changes must echo its session's CSRF token (docs/security.md); it is read
 * from the session endpoint once, and again if the server turns a change down for it.
 */
let csrf: string | null | undefined;

async function csrfToken(fresh = false): Promise<string | null> {
  if (csrf !== undefined && !fresh) return csrf;
  try {
    const res = await fetch('/api/auth/session', { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    csrf = res.ok ? (((await res.json()) as { csrfToken?: string | null }).csrfToken ?? null) : null;
  } catch {
    csrf = null;
  }
  return csrf;
}

async function request<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') {
    const token = await csrfToken(retried);
    if (token) headers['x-falconet-csrf'] = token;
  }
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (res.status === 403 && method !== 'GET' && !retried && /csrf/i.test(json.error?.message ?? '')) {
    return await request<T>(method, path, body, true);
  }
  if (!res.ok) throw new Error(json.error?.message ?? `${res.status} ${res.statusText}`);
  return json as T;
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
