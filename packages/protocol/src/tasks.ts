/**
 * What the server and the agent must agree on byte for byte to sign and verify a task, and the
 * etcd keys and job document of the etcd task mode.
 */

/** The fields of a task a signature covers: everything an agent acts on. */
export interface SignedTaskFields {
  agentId: string;
  taskId: string;
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  schedule: string;
  timezone: string;
  timeoutMs: number;
  issuedMs: number;
  cancel: boolean;
  paused: boolean;
}

const DOMAIN = 'falconet-task-v1';

/**
 * The bytes an Ed25519 task signature is made over: a domain tag and a JSON array in a fixed
 * order (env sorted by name), so no field can be moved, dropped or reinterpreted.
 */
export function taskSigningPayload(t: SignedTaskFields): Buffer {
  const env = Object.keys(t.env)
    .sort()
    .map((k) => [k, t.env[k] as string]);
  const fields = [
    DOMAIN,
    t.agentId,
    t.taskId,
    t.command,
    [...t.args],
    env,
    t.schedule,
    t.timezone,
    t.timeoutMs,
    t.issuedMs,
    t.cancel,
    t.paused,
  ];
  return Buffer.from(JSON.stringify(fields), 'utf8');
}

/** Task and agent ids travel in etcd keys and file names: a conservative alphabet. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The keys of etcd mode (docs/tasks.md). */
export const etcdKeys = {
  jobsPrefix: (agentId: string) => `/falconet/jobs/${agentId}/`,
  job: (agentId: string, taskId: string) => `/falconet/jobs/${agentId}/${taskId}`,
  cronIdPrefix: (agentId: string) => `/falconet/cronid/jobs/${agentId}/`,
  cronId: (agentId: string, taskId: string) => `/falconet/cronid/jobs/${agentId}/${taskId}`,
  healthPrefix: '/falconet/health/',
  health: (agentId: string) => `/falconet/health/${agentId}`,
};

/** The JSON value under `/falconet/jobs/<agent>/<task_id>`. */
export interface EtcdJob {
  cmd: string;
  args: string[];
  env: Record<string, string>;
  schedule: string;
  timezone: string;
  status: 'running' | 'paused';
  /** The agent that runs the job; part of what is signed, so a job copied to another agent's prefix is refused. */
  executor: string;
  timeout_ms: number;
  issued_ms: number;
  /** Ed25519 over taskSigningPayload(), base64. */
  signature: string;
}

/** The JSON value under `/falconet/health/<agent>`, kept alive by the agent's lease. */
export interface EtcdHealth {
  status: 'up';
  version: string;
  hostname: string;
  started_ms: number;
}

export function etcdJobFields(taskId: string, job: EtcdJob): SignedTaskFields {
  return {
    agentId: job.executor,
    taskId,
    command: job.cmd,
    args: job.args,
    env: job.env,
    schedule: job.schedule,
    timezone: job.timezone,
    timeoutMs: job.timeout_ms,
    issuedMs: job.issued_ms,
    cancel: false,
    paused: job.status === 'paused',
  };
}
