import { randomBytes } from 'node:crypto';
import { type EtcdHealth, type EtcdJob, etcdJobFields, etcdKeys, pb, type SignedTaskFields, TASK_ID_PATTERN } from '@falconet/protocol';
import type {
  NewTask,
  RunStatus,
  Task,
  TaskAgentHealth,
  TaskAuditEntry,
  TaskBackend,
  TaskKind,
  TaskLiveMessage,
  TaskOutput,
  TaskRun,
} from '@falconet/protocol/api';
import type { MetricFamily } from '@falconet/protocol/exposition';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import { ApiError } from '../api/errors.ts';
import type { MetaDb } from '../db/index.ts';
import type { LiveHub } from '../live/hub.ts';
import type { AgentRegistry } from '../registry.ts';
import type { ServerTasksConfig } from './config.ts';
import type { EtcdTaskBackend } from './etcd.ts';
import { type AuditFilter, FINAL_RUN_STATUSES, TaskRepository } from './repository.ts';
import { TaskSigner } from './signer.ts';
import { AgentStreams, type StreamSend, type TaskChannelHooks } from './streams.ts';

export interface TaskServiceOptions {
  config: ServerTasksConfig;
  dataDir: string;
  meta: MetaDb;
  registry: AgentRegistry;
  live: LiveHub;
  log: Logger;
}

/**
 * Where a task goes when its agent's stream is on another node of the cluster (cluster/live.ts):
 * that node is asked to send the task's current message, signed with its own key (the one the
 * agent took when it registered there).
 */
export interface TaskRelay {
  /** The node holding the agent's stream, as the cluster last said; undefined when none does. */
  holderOf(agentId: string): string | undefined;
  /** Asks `node` to send task `taskId` (or its cancellation) to `agentId`; resolves with whether it was written on the stream. */
  deliver(node: string, taskId: string, agentId: string, cancel: boolean): Promise<boolean>;
}

const RUN_ID = /^[A-Za-z0-9._@-]{1,200}$/;

const STREAM_NAMES: Record<number, 'stdout' | 'stderr' | 'exit' | 'refused'> = {
  [pb.TaskOutput_Stream.STREAM_STDOUT]: 'stdout',
  [pb.TaskOutput_Stream.STREAM_STDERR]: 'stderr',
  [pb.TaskOutput_Stream.STREAM_EXIT]: 'exit',
  [pb.TaskOutput_Stream.STREAM_REFUSED]: 'refused',
};

function exitStatus(code: number, reason: string): RunStatus {
  if (reason === 'timeout') return 'timeout';
  if (reason === 'cancelled') return 'cancelled';
  if (reason === 'interrupted') return 'interrupted';
  return code === 0 && reason === '' ? 'succeeded' : 'failed';
}

/** Whether croner can run `schedule` in `timezone`; the message says what is wrong. */
export function scheduleProblem(schedule: string, timezone: string): string | undefined {
  try {
    const probe = new Cron(schedule, { timezone: timezone || undefined, paused: true });
    // A paused job computes no date, so a bad time zone shows only when asked for one.
    const next = probe.nextRun();
    probe.stop();
    return next ? undefined : `schedule "${schedule}" never fires`;
  } catch (err) {
    return `schedule "${schedule}"${timezone ? ` in ${timezone}` : ''}: ${(err as Error).message}`;
  }
}

const newTaskId = () => `${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`;

/**
 * Tasks on the server: created by a person for agents chosen by id or labels, signed per agent
 * with the server's key, sent down the agent's open stream (or written to etcd for cron jobs in
 * etcd mode), with every record of output stored once, pushed live to browsers, acknowledged to
 * the agent, and every step written to the audit log.
 */
export class TaskService implements TaskChannelHooks {
  readonly streams = new AgentStreams();
  readonly repo: TaskRepository;
  readonly #opts: TaskServiceOptions;
  readonly #log: Logger;
  #signer: TaskSigner | undefined;
  #etcd: EtcdTaskBackend | undefined;
  readonly #health = new Map<string, TaskAgentHealth>();
  #reconcile: Promise<void> = Promise.resolve();
  #sweep: NodeJS.Timeout | undefined;
  readonly counters = { created: 0, outputs: 0, duplicates: 0, refused: 0, finished: 0, outputsRefused: 0 };
  /** Another node of the cluster, for agents whose stream is there. */
  relay: TaskRelay | undefined;

  constructor(opts: TaskServiceOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: 'tasks' });
    this.repo = new TaskRepository(opts.meta);
  }

  get signer(): TaskSigner {
    if (!this.#signer) throw new Error('tasks not started');
    return this.#signer;
  }

  get publicKey(): Buffer {
    return this.signer.publicKey;
  }

  get backend(): TaskBackend {
    return this.#opts.config.backend;
  }

  async start(): Promise<void> {
    this.#signer = TaskSigner.load(this.#opts.dataDir);
    this.#log.info(
      { publicKey: this.#signer.publicKey.toString('base64'), created: this.#signer.created || undefined },
      this.#signer.created ? 'task-signing key created' : 'task-signing key loaded',
    );
    await this.prune();
    this.#sweep = setInterval(
      () => void this.prune().catch((err: unknown) => this.#log.error({ err }, 'task history prune failed')),
      3_600_000,
    );
    this.#sweep.unref();
    const cfg = this.#opts.config;
    if (cfg.backend === 'etcd') {
      // etcd's client is heavy to load; only a server in etcd mode pays for it.
      const { EtcdTaskBackend } = await import('./etcd.ts');
      this.#etcd = new EtcdTaskBackend({
        endpoints: cfg.etcd.endpoints,
        log: this.#log,
        onHealth: (id, h) => this.#onHealth(id, h),
        onConnected: (all) => {
          for (const [id, h] of this.#health) if (h.health === 'alive' && !all.has(id)) this.#onHealth(id, undefined);
          for (const [id, h] of all) this.#onHealth(id, h);
          this.#reconcileEtcd();
        },
      });
      this.#etcd.start();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweep);
    await this.#reconcile.catch(() => undefined);
    await this.#etcd?.stop();
    this.#etcd = undefined;
  }

  /** Deletes history past its retention. */
  async prune(nowMs = Date.now()): Promise<void> {
    const cfg = this.#opts.config;
    const n = await this.repo.prune(nowMs - cfg.retention, nowMs - cfg.audit_retention);
    if (n.tasks || n.runs || n.audit) this.#log.info(n, 'task history past retention deleted');
  }

  // --- what people do (REST) ---

  async create(req: NewTask, actor: string): Promise<{ task: Task; runs: TaskRun[] }> {
    const problem = req.schedule ? scheduleProblem(req.schedule, req.timezone) : undefined;
    if (problem) throw new ApiError(400, 'bad_request', problem);
    if (!req.schedule && req.timezone) throw new ApiError(400, 'bad_request', 'timezone is for cron jobs: give a schedule too');
    const agentIds = this.#resolveTargets(req);
    const now = Date.now();
    const cron = req.schedule !== '';
    const task: Task = {
      id: newTaskId(),
      kind: cron ? 'cron' : 'run',
      command: req.command,
      args: req.args,
      env: req.env,
      schedule: req.schedule,
      timezone: req.timezone,
      timeoutMs: req.timeoutMs,
      target: { ...(req.agents ? { agents: req.agents } : {}), ...(req.labels ? { labels: req.labels } : {}) },
      agentIds,
      status: 'active',
      backend: cron ? this.backend : 'stream',
      createdBy: actor,
      createdMs: now,
      updatedMs: now,
    };
    await this.repo.insertTask(task);
    this.counters.created++;
    await this.#audit(task, '', actor, 'create', 'ok', JSON.stringify({ target: task.target, agents: agentIds }));
    this.#log.info({ taskId: task.id, kind: task.kind, command: task.command, agents: agentIds.length, actor }, 'task created');
    const runs: TaskRun[] = [];
    for (const agentId of agentIds) {
      if (task.kind === 'run') runs.push(await this.#dispatchRun(task, agentId, actor));
      else await this.#dispatchJob(task, agentId, actor, 'dispatch');
    }
    this.#live({ type: 'task', task });
    return { task, runs };
  }

  async cancel(id: string, actor: string): Promise<Task> {
    const task = await this.#get(id);
    if (task.kind === 'cron') return await this.remove(id, actor);
    if (task.status === 'cancelled' || task.status === 'done') return task;
    const { items } = await this.repo.runsOf(id, 10_000);
    for (const run of items) {
      if (FINAL_RUN_STATUSES.has(run.status)) continue;
      const via = await this.#send(task, run.agentId, true);
      await this.#audit(task, run.agentId, actor, 'cancel', via ? `sent by node ${via}` : via === '' ? 'sent' : 'agent offline', '');
    }
    return await this.#setStatus(task, 'cancelled');
  }

  async pause(id: string, actor: string): Promise<Task> {
    return await this.#setJobState(id, actor, 'paused');
  }

  async resume(id: string, actor: string): Promise<Task> {
    return await this.#setJobState(id, actor, 'active');
  }

  /** Removes a cron job from its agents (a run-now task is cancelled instead). */
  async remove(id: string, actor: string): Promise<Task> {
    const task = await this.#get(id);
    if (task.kind === 'run') return await this.cancel(id, actor);
    if (task.status === 'deleted') return task;
    const updated = await this.#setStatus(task, 'deleted');
    for (const agentId of task.agentIds) await this.#dispatchJob(updated, agentId, actor, 'delete');
    return updated;
  }

  async get(id: string): Promise<Task | undefined> {
    return await this.repo.getTask(id);
  }

  list(opts: { kind?: TaskKind | undefined; limit: number; offset: number }) {
    return this.repo.listTasks(opts);
  }

  runs(taskId: string, limit: number, offset: number) {
    return this.repo.runsOf(taskId, limit, offset);
  }

  outputOf(agentId: string, runId: string): Promise<TaskOutput[]> {
    return this.repo.outputOf(agentId, runId);
  }

  audit(f: AuditFilter): Promise<{ items: TaskAuditEntry[]; total: number }> {
    return this.repo.listAudit(f);
  }

  /** The tasks part of the server's own /metrics. */
  metricFamilies(): MetricFamily[] {
    const c = this.counters;
    const counter = (name: string, help: string, value: number): MetricFamily => ({
      name,
      help,
      type: 'counter',
      metrics: [{ labels: {}, value }],
    });
    const health = this.health();
    return [
      counter('falconet_server_tasks_created_total', 'Tasks created.', c.created),
      counter('falconet_server_task_outputs_total', 'Task output records stored.', c.outputs),
      counter(
        'falconet_server_task_outputs_duplicate_total',
        'Task output records dropped as already stored (resent by an agent).',
        c.duplicates,
      ),
      counter(
        'falconet_server_task_outputs_refused_total',
        'Task output records refused: for a task not dispatched to the agent that sent them.',
        c.outputsRefused,
      ),
      counter('falconet_server_task_runs_ended_total', 'Task runs that ended (refused ones included).', c.finished),
      counter('falconet_server_task_runs_refused_total', 'Task runs agents refused.', c.refused),
      {
        name: 'falconet_server_task_agent_streams',
        help: 'Agent streams tasks can be sent down.',
        type: 'gauge',
        metrics: [{ labels: {}, value: this.streams.size }],
      },
      ...(this.#etcd
        ? [
            {
              name: 'falconet_server_task_etcd_up',
              help: 'Whether etcd answers (etcd mode): 0 while it is away; agents keep running the cron jobs they hold, changes are written when it is back.',
              type: 'gauge' as const,
              metrics: [{ labels: {}, value: this.#etcd.connected ? 1 : 0 }],
            },
            counter(
              'falconet_server_task_etcd_outages_total',
              'Times etcd became unreachable since the server started (etcd mode).',
              this.#etcd.outages,
            ),
          ]
        : []),
      {
        name: 'falconet_server_task_etcd_agents',
        help: 'Agents by etcd health (etcd mode).',
        type: 'gauge',
        metrics: (['alive', 'lost'] as const).map((h) => ({ labels: { health: h }, value: health.filter((a) => a.health === h).length })),
      },
    ];
  }

  /** Agents' etcd health (etcd mode only). */
  health(): TaskAgentHealth[] {
    return [...this.#health.values()].sort((a, b) => (a.agentId < b.agentId ? -1 : 1));
  }

  // --- the agent channel ---

  /** Task output from an agent: stored once, pushed live, audited when the run ends, acknowledged. */
  async output(agentId: string, out: pb.TaskOutput, reply: StreamSend): Promise<string | undefined> {
    return await this.#record(agentId, out, reply);
  }

  attach(agentId: string, send: StreamSend): () => void {
    const detach = this.streams.attach(agentId, send);
    this.#syncJobs(agentId).catch((err: unknown) => this.#log.error({ err, agentId }, 'could not send cron jobs to the agent'));
    return detach;
  }

  // --- inside ---

  async #get(id: string): Promise<Task> {
    const task = await this.repo.getTask(id);
    if (!task) throw new ApiError(404, 'not_found', `task "${id}" not found`);
    return task;
  }

  async #setStatus(task: Task, status: Task['status']): Promise<Task> {
    const now = Date.now();
    await this.repo.setTaskStatus(task.id, status, now);
    const updated = { ...task, status, updatedMs: now };
    this.#live({ type: 'task', task: updated });
    return updated;
  }

  async #setJobState(id: string, actor: string, status: 'paused' | 'active'): Promise<Task> {
    const task = await this.#get(id);
    if (task.kind !== 'cron') throw new ApiError(409, 'conflict', `task "${id}" runs once; only cron jobs pause and resume`);
    if (task.status === 'deleted') throw new ApiError(409, 'conflict', `cron job "${id}" is deleted`);
    if (task.status === status) return task;
    const updated = await this.#setStatus(task, status);
    for (const agentId of task.agentIds) await this.#dispatchJob(updated, agentId, actor, status === 'paused' ? 'pause' : 'resume');
    return updated;
  }

  #resolveTargets(req: NewTask): string[] {
    const registry = this.#opts.registry;
    if (req.agents?.length) {
      const unknown = req.agents.filter((id) => !registry.get(id));
      if (unknown.length) throw new ApiError(400, 'bad_request', `unknown agent${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
      return [...new Set(req.agents)];
    }
    const labels = Object.entries(req.labels ?? {});
    if (labels.length === 0) throw new ApiError(400, 'bad_request', 'choose agents: give "agents" (ids) or "labels"');
    // Only trusted labels (the server's or the token's) choose agents: what an agent declares about
    // itself would let any agent volunteer for tasks meant for others.
    const agents = registry.list();
    const ids = agents
      .filter((a) => labels.every(([k, v]) => a.trustedLabels[k] === v))
      .map((a) => a.id)
      .sort();
    if (ids.length === 0) {
      const declaring = agents.filter((a) => labels.every(([k, v]) => a.labels[k] === v)).length;
      throw new ApiError(
        400,
        'bad_request',
        `no agent has the labels ${labels.map(([k, v]) => `${k}=${v}`).join(', ')}` +
          (declaring
            ? ` as trusted labels (${declaring} declare them; labels an agent declares itself never choose it for tasks: set them with PUT /api/agents/:id/labels or in its token)`
            : ''),
      );
    }
    return ids;
  }

  #fields(task: Task, agentId: string, opts: { cancel?: boolean; paused?: boolean }): SignedTaskFields {
    return {
      agentId,
      taskId: task.id,
      command: task.command,
      args: task.args,
      env: task.env,
      schedule: task.schedule,
      timezone: task.timezone,
      timeoutMs: task.timeoutMs,
      issuedMs: Date.now(),
      cancel: opts.cancel ?? false,
      paused: opts.paused ?? false,
    };
  }

  /** A Task message for one agent, signed as it is sent. */
  #message(task: Task, agentId: string, opts: { cancel?: boolean; paused?: boolean } = {}): pb.ServerMessage {
    const fields = this.#fields(task, agentId, opts);
    return {
      body: { $case: 'task', value: { ...fields, args: [...fields.args], env: { ...fields.env }, signature: this.signer.sign(fields) } },
    };
  }

  #etcdJob(task: Task, agentId: string): EtcdJob {
    const job: EtcdJob = {
      cmd: task.command,
      args: task.args,
      env: task.env,
      schedule: task.schedule,
      timezone: task.timezone,
      status: task.status === 'paused' ? 'paused' : 'running',
      executor: agentId,
      timeout_ms: task.timeoutMs,
      issued_ms: Date.now(),
      signature: '',
    };
    job.signature = this.signer.sign(etcdJobFields(task.id, job)).toString('base64');
    return job;
  }

  /**
   * Writes the task's current message on the agent's stream: this node's, or through the node that
   * holds it. Returns where it went ('' for this node), or undefined when it could not be sent.
   */
  async #send(task: Task, agentId: string, cancel = false): Promise<string | undefined> {
    if (this.streams.send(agentId, this.#current(task, agentId, cancel))) return '';
    const node = this.relay?.holderOf(agentId);
    if (!node || !this.relay) return undefined;
    try {
      return (await this.relay.deliver(node, task.id, agentId, cancel)) ? node : undefined;
    } catch (err) {
      this.#log.warn(
        { err: (err as Error).message, node, agentId, taskId: task.id },
        'could not hand a task to the node holding its agent',
      );
      return undefined;
    }
  }

  /**
   * Another node asks this one to send a task to an agent whose stream is here: the task as the
   * metadata database has it now, signed with this node's key. False when the agent is not here
   * or the task is not one for it.
   */
  async deliverHere(taskId: string, agentId: string, cancel: boolean): Promise<boolean> {
    if (!this.streams.has(agentId)) return false;
    const task = await this.repo.getTask(taskId);
    if (!task?.agentIds.includes(agentId)) return false;
    return this.streams.send(agentId, this.#current(task, agentId, cancel));
  }

  /** The message that brings an agent up to date with a task: run it (or stop it), or the cron job's state. */
  #current(task: Task, agentId: string, cancel = false): pb.ServerMessage {
    if (task.kind === 'run') return this.#message(task, agentId, { cancel: cancel || task.status === 'cancelled' });
    return task.status === 'deleted'
      ? this.#message(task, agentId, { cancel: true })
      : this.#message(task, agentId, { paused: task.status === 'paused' });
  }

  async #dispatchRun(task: Task, agentId: string, actor: string): Promise<TaskRun> {
    const via = await this.#send(task, agentId);
    const sent = via !== undefined;
    const now = Date.now();
    const run: TaskRun = {
      taskId: task.id,
      agentId,
      runId: task.id,
      scheduledMs: 0,
      status: sent ? 'sent' : 'undeliverable',
      exitCode: null,
      reason: sent ? '' : 'offline',
      message: sent ? '' : 'the agent is not connected to this server',
      startedMs: now,
      endedMs: sent ? null : now,
      outputBytes: 0,
    };
    await this.repo.insertRun(run);
    await this.#audit(task, agentId, actor, 'dispatch', via ? `sent by node ${via}` : sent ? 'sent' : 'undeliverable: agent offline', '');
    this.#live({ type: 'task_run', run }, task.id);
    return run;
  }

  /** Sends a cron job's current state (active, paused or deleted) to one agent, or writes it to etcd. */
  async #dispatchJob(task: Task, agentId: string, actor: string, action: string): Promise<void> {
    let result: string;
    if (task.backend === 'etcd') {
      const etcd = this.#etcd;
      if (!etcd) result = 'not written: the server is not in etcd mode';
      else {
        try {
          if (task.status === 'deleted') await etcd.deleteJob(agentId, task.id);
          else await etcd.putJob(agentId, task.id, this.#etcdJob(task, agentId));
          result = `written to etcd ${etcdKeys.job(agentId, task.id)}`;
        } catch (err) {
          result = `etcd write failed (${(err as Error).message}); written again when etcd is back`;
        }
      }
    } else {
      const via = await this.#send(task, agentId);
      result = via === undefined ? 'pending: sent when the agent connects' : via ? `sent by node ${via}` : 'sent';
    }
    await this.#audit(task, agentId, actor, action, result, '');
  }

  /** On every (re)connection of an agent: its cron jobs as they stand now. */
  async #syncJobs(agentId: string): Promise<void> {
    const since = Date.now() - this.#opts.config.retention;
    for (const task of await this.repo.cronTasks(since)) {
      if (task.backend !== 'stream' || !task.agentIds.includes(agentId)) continue;
      const msg =
        task.status === 'deleted'
          ? this.#message(task, agentId, { cancel: true })
          : this.#message(task, agentId, { paused: task.status === 'paused' });
      this.streams.send(agentId, msg);
    }
  }

  /** Writes back what etcd should hold and does not (after etcd lost its data), and removes deleted jobs. */
  #reconcileEtcd(): void {
    this.#reconcile = this.#reconcile.then(async () => {
      const etcd = this.#etcd;
      if (!etcd) return;
      try {
        const present = await etcd.jobs();
        let written = 0;
        for (const task of await this.repo.cronTasks(Date.now() - this.#opts.config.retention)) {
          if (task.backend !== 'etcd') continue;
          for (const agentId of task.agentIds) {
            const key = etcdKeys.job(agentId, task.id);
            const have = present.get(key);
            if (task.status === 'deleted') {
              if (have !== undefined) await etcd.deleteJob(agentId, task.id);
              continue;
            }
            if (have !== undefined && sameJob(JSON.parse(have) as EtcdJob, this.#etcdJob(task, agentId))) continue;
            await etcd.putJob(agentId, task.id, this.#etcdJob(task, agentId));
            written++;
          }
        }
        if (written) this.#log.info({ written }, 'cron jobs written back to etcd');
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'could not reconcile cron jobs with etcd; trying again on the next connection');
      }
    });
  }

  #onHealth(agentId: string, h: EtcdHealth | undefined): void {
    const prev = this.#health.get(agentId);
    const now = Date.now();
    let next: TaskAgentHealth;
    if (h) {
      if (prev?.health === 'alive' && prev.version === h.version && prev.hostname === h.hostname) return;
      next = { agentId, health: 'alive', hostname: h.hostname, version: h.version, sinceMs: now };
      if (prev?.health === 'lost') this.#log.info({ agentId, hostname: h.hostname }, 'agent alive again in etcd');
    } else {
      if (!prev || prev.health === 'lost') return;
      next = { ...prev, health: 'lost', sinceMs: now };
      this.#log.warn({ agentId, hostname: prev.hostname }, 'agent lost: its etcd health key is gone (lease expired or revoked)');
    }
    this.#health.set(agentId, next);
    this.#live({ type: 'task_agent', agent: next });
  }

  /** Stores one output record; resolves with why it was refused, when it was. */
  async #record(agentId: string, out: pb.TaskOutput, reply: StreamSend): Promise<string | undefined> {
    const ack = () => reply({ body: { $case: 'taskOutputAck', value: { runId: out.runId, seq: out.seq } } });
    const stream = STREAM_NAMES[out.stream];
    if (!RUN_ID.test(out.runId) || !TASK_ID_PATTERN.test(out.taskId) || out.seq < 1 || !stream) {
      this.#log.warn({ agentId, runId: out.runId.slice(0, 64), seq: out.seq }, 'malformed task output dropped');
      ack();
      return;
    }
    let run = await this.repo.getRun(agentId, out.runId);
    // Output is taken only for runs of tasks dispatched to this stream's own agent: a run the
    // server sent it, or a run of a cron job it was given (the agent names those runs itself).
    const refusal = run
      ? run.taskId === out.taskId
        ? undefined
        : `run "${out.runId}" belongs to task "${run.taskId}"`
      : await this.#foreignRun(agentId, out);
    if (refusal) {
      this.counters.outputsRefused++;
      this.#log.warn({ agentId, taskId: out.taskId.slice(0, 64), runId: out.runId.slice(0, 64), refusal }, 'task output refused');
      await this.repo.audit({
        timeMs: Date.now(),
        actor: `agent:${agentId}`,
        action: 'output_refused',
        taskId: out.taskId,
        agentId,
        command: '',
        result: refusal,
        detail: '',
      });
      // Acknowledged all the same: resending it would not change the answer.
      ack();
      return refusal;
    }
    if (!run) {
      run = {
        taskId: out.taskId,
        agentId,
        runId: out.runId,
        scheduledMs: out.scheduledMs,
        status: 'running',
        exitCode: null,
        reason: '',
        message: '',
        startedMs: out.scheduledMs || out.timeMs || Date.now(),
        endedMs: null,
        outputBytes: 0,
      };
      await this.repo.insertRun(run);
    }
    const text = out.data.toString('utf8');
    const isOutput = stream === 'stdout' || stream === 'stderr';
    // Past the server's own cap the record is kept empty, so the agent's resend still dedupes.
    const stored = isOutput && run.outputBytes >= this.#opts.config.output_limit ? '' : text;
    const inserted = await this.repo.insertOutput(agentId, out.runId, { seq: out.seq, stream, data: stored, timeMs: out.timeMs });
    if (!inserted) {
      this.counters.duplicates++;
      ack();
      return;
    }
    this.counters.outputs++;
    const before = run.status;
    if (isOutput) {
      run.outputBytes += out.data.length;
      if (run.status === 'sent' || run.status === 'pending') run.status = 'running';
    } else if (stream === 'exit') {
      Object.assign(run, {
        status: exitStatus(out.exitCode, out.reason),
        exitCode: out.exitCode,
        reason: out.reason,
        message: text,
        endedMs: out.timeMs,
      });
    } else {
      Object.assign(run, { status: 'refused', reason: out.reason, message: text, endedMs: out.timeMs });
      this.counters.refused++;
    }
    await this.repo.updateRun(agentId, out.runId, run);
    this.#live(
      {
        type: 'task_output',
        taskId: out.taskId,
        agentId,
        runId: out.runId,
        seq: out.seq,
        stream,
        data: stored,
        exitCode: out.exitCode,
        reason: out.reason,
        timeMs: out.timeMs,
      },
      out.taskId,
    );
    if (run.status !== before || !isOutput) this.#live({ type: 'task_run', run: { ...run } }, out.taskId);
    if (!isOutput) {
      this.counters.finished++;
      const task = await this.repo.getTask(out.taskId);
      const result =
        run.status === 'refused'
          ? `refused: ${out.reason}`
          : run.status === 'succeeded' || run.status === 'failed'
            ? `${run.status} (exit ${out.exitCode})`
            : `${run.status}${out.reason ? ` (${out.reason})` : ''}`;
      await this.repo.audit({
        timeMs: Date.now(),
        actor: task?.createdBy ?? 'agent',
        action: run.status === 'refused' ? 'refused' : 'result',
        taskId: out.taskId,
        agentId,
        command: task ? commandLine(task) : '',
        result,
        detail: text.slice(0, 2000),
      });
      this.#log.info(
        { taskId: out.taskId, runId: out.runId, agentId, status: run.status, reason: out.reason || undefined },
        'task run ended',
      );
      if (task?.kind === 'run' && task.status === 'active') {
        if ((await this.repo.unfinishedRuns(task.id)) === 0) await this.#setStatus(task, 'done');
      }
    }
    ack();
  }

  /** Why output for a run the server has no row for is not this agent's to report, or undefined when it is. */
  async #foreignRun(agentId: string, out: pb.TaskOutput): Promise<string | undefined> {
    const task = await this.repo.getTask(out.taskId);
    if (!task?.agentIds.includes(agentId)) return `task "${out.taskId}" was not dispatched to agent "${agentId}"`;
    if (out.runId !== task.id && !out.runId.startsWith(`${task.id}@`)) return `run "${out.runId}" is not a run of task "${task.id}"`;
    return undefined;
  }

  async #audit(task: Task, agentId: string, actor: string, action: string, result: string, detail: string): Promise<void> {
    await this.repo.audit({ timeMs: Date.now(), actor, action, taskId: task.id, agentId, command: commandLine(task), result, detail });
  }

  #live(msg: TaskLiveMessage, taskId?: string): void {
    this.#opts.live.task(msg, taskId);
  }
}

export function commandLine(t: Pick<Task, 'command' | 'args' | 'schedule' | 'timezone'>): string {
  const quoted = [t.command, ...t.args].map((a) => (/^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return t.schedule ? `${quoted} @ "${t.schedule}"${t.timezone ? ` ${t.timezone}` : ''}` : quoted;
}

function sameJob(a: EtcdJob, b: EtcdJob): boolean {
  const strip = ({ issued_ms: _i, signature: _s, ...rest }: EtcdJob) => JSON.stringify(rest);
  return strip(a) === strip(b);
}
