import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EtcdHealth, type EtcdJob, etcdJobFields, etcdKeys, FALCONET_VERSION, type pb, TASK_ID_PATTERN } from '@falconet/protocol';
import type { PrefixMirror } from '@falconet/protocol/etcd';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { AgentTasksConfig } from './config.ts';
import type { HealthLease } from './etcd.ts';
import { type ExitReason, type RunSink, TaskExecutor } from './executor.ts';
import { CronJobs, type JobChange, type JobDefinition, scheduleProblem } from './jobs.ts';
import { PinnedServerKey } from './keys.ts';
import { TaskOutbox } from './outbox.ts';
import { parsePasswd, type SystemUser } from './passwd.ts';
import { isRefusal, type Refusal, refuse, TaskPolicy } from './policy.ts';
import { IssuedMarks } from './replay.ts';

/** What the tasks module needs from the server stream. */
export interface TaskChannel {
  /** Writes a record to the server; false when no stream is connected. */
  sendTaskOutput(out: pb.TaskOutput): boolean;
}

export interface AgentTasksOptions {
  config: AgentTasksConfig;
  dataDir: string;
  agentId: string;
  hostname: string;
  log: Logger;
  /** The accounts and the agent's own uid; read from /etc/passwd and the process by default. */
  system?: { users: Map<string, SystemUser>; uid: number | undefined };
}

function systemAccounts(): { users: Map<string, SystemUser>; uid: number | undefined } {
  let text = '';
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // no passwd (some containers): only the agent's own user is usable
  }
  return { users: parsePasswd(text), uid: process.getuid?.() };
}

/**
 * The agent's task runner. Every task, from the server's stream or from etcd, passes the same
 * gates before anything runs: tasks enabled, signature by the pinned server key, meant for this
 * agent, fresh and not seen before, and allowed by the allowlist. A refusal is reported like any
 * other result. Results go through the durable outbox.
 */
export class AgentTasks {
  readonly #opts: AgentTasksOptions;
  readonly #cfg: AgentTasksConfig;
  readonly #log: Logger;
  readonly #policy: TaskPolicy;
  readonly #key: PinnedServerKey;
  readonly #outbox: TaskOutbox;
  readonly #executor: TaskExecutor;
  readonly #jobs: CronJobs;
  readonly #marks: IssuedMarks;
  readonly #reportedRefusals = new Set<string>();
  #etcd: { client: Etcd3; mirror: PrefixMirror; lease: HealthLease } | undefined;
  /** From ./etcd.ts, loaded with the etcd client (and zod with it) only in etcd mode. */
  #parseEtcdJob: ((raw: string) => EtcdJob) | undefined;
  readonly stats = { refused: 0, started: 0 };

  constructor(opts: AgentTasksOptions) {
    this.#opts = opts;
    this.#cfg = opts.config;
    this.#log = opts.log.child({ component: 'tasks' });
    const dir = join(opts.dataDir, 'tasks');
    this.#policy = new TaskPolicy(opts.config, opts.system ?? systemAccounts());
    this.#key = new PinnedServerKey(join(dir, 'server-task-key'), opts.config.server_public_key, this.#log);
    this.#outbox = new TaskOutbox(join(dir, 'outbox'), { log: this.#log, limitBytes: opts.config.outbox_limit });
    this.#executor = new TaskExecutor({
      concurrency: opts.config.concurrency,
      queue: opts.config.queue,
      outputLimit: opts.config.output_limit,
      log: this.#log,
    });
    this.#marks = new IssuedMarks(join(dir, 'issued.json'));
    this.#jobs = new CronJobs(join(dir, 'jobs.json'), { log: this.#log, onFire: (job, at) => this.#fire(job, at) });
  }

  get outbox(): TaskOutbox {
    return this.#outbox;
  }

  get jobs(): CronJobs {
    return this.#jobs;
  }

  async start(): Promise<void> {
    this.#outbox.open();
    this.#jobs.load((job) => this.#key.verify(jobFields(job, this.#opts.agentId), Buffer.from(job.signature, 'base64')) === 'ok');
    if (this.#cfg.enabled) {
      this.#log.info(
        { allow: this.#cfg.allow.map((a) => a.name ?? a.command), concurrency: this.#cfg.concurrency, backend: this.#cfg.backend },
        'tasks enabled',
      );
    }
    if (this.#cfg.backend === 'etcd') await this.#startEtcd();
  }

  /** Connects the outbox to the server stream. */
  attach(channel: TaskChannel): void {
    this.#outbox.setSender((out) => channel.sendTaskOutput(out));
  }

  /** A stream registered: pin or check the server's key, and send what waits. */
  onRegistered(reg: pb.Registered): void {
    this.#key.offer(reg.taskPublicKey);
    this.#outbox.reconnected();
  }

  onAck(ack: pb.TaskOutputAck): void {
    this.#outbox.ack(ack.runId, ack.seq);
  }

  onTask(task: pb.Task): void {
    if (!TASK_ID_PATTERN.test(task.taskId)) {
      this.#log.warn({ taskId: task.taskId.slice(0, 64) }, 'task with an unusable id ignored');
      return;
    }
    const runId = task.schedule || task.cancel ? `${task.taskId}@r${task.issuedMs}` : task.taskId;
    const gate = this.#gate(
      task,
      {
        agentId: task.agentId,
        taskId: task.taskId,
        command: task.command,
        args: task.args,
        env: task.env,
        schedule: task.schedule,
        timezone: task.timezone,
        timeoutMs: task.timeoutMs,
        issuedMs: task.issuedMs,
        cancel: task.cancel,
        paused: task.paused,
      },
      true,
    );
    if (gate) {
      if (task.cancel) this.#log.warn({ taskId: task.taskId, refusal: gate.refused, why: gate.message }, 'cancel refused');
      else this.#refuse(task.taskId, runId, gate);
      return;
    }
    if (task.cancel) {
      if (this.#jobs.get(task.taskId)?.source === 'stream') {
        this.#jobs.remove(task.taskId);
        this.#log.info({ taskId: task.taskId }, 'cron job removed');
      } else if (this.#executor.cancel(task.taskId)) {
        this.#log.info({ taskId: task.taskId }, 'task cancelled');
      }
      return;
    }
    if (task.schedule) {
      const latest = this.#marks.latest(task.taskId);
      if (latest !== undefined && task.issuedMs < latest) {
        this.#log.warn({ taskId: task.taskId, issuedMs: task.issuedMs, latest }, 'older cron job definition ignored');
        return;
      }
      this.#marks.record(task.taskId, task.issuedMs);
      this.#applyJob(
        {
          taskId: task.taskId,
          command: task.command,
          args: task.args,
          env: task.env,
          schedule: task.schedule,
          timezone: task.timezone,
          timeoutMs: task.timeoutMs,
          issuedMs: task.issuedMs,
          paused: task.paused,
          signature: task.signature.toString('base64'),
          source: 'stream',
        },
        runId,
      );
      return;
    }
    if (this.#marks.latest(task.taskId) !== undefined || this.#outbox.has(task.taskId)) {
      this.#refuse(task.taskId, `${task.taskId}@replay${Date.now()}`, refuse('replayed', 'this task already ran here'));
      return;
    }
    this.#marks.record(task.taskId, task.issuedMs);
    this.#run(task.taskId, task.taskId, 0, { command: task.command, args: task.args, env: task.env, timeoutMs: task.timeoutMs });
  }

  async stop(): Promise<void> {
    this.#jobs.stop();
    await this.#executor.stopAll();
    this.#outbox.close();
    const etcd = this.#etcd;
    this.#etcd = undefined;
    if (etcd) {
      await etcd.mirror.stop();
      await etcd.lease.stop(true);
      etcd.client.close();
    }
  }

  /** Every check a task passes before the allowlist; undefined when it passes them all. */
  #gate(
    task: { signature: Buffer; cancel: boolean },
    fields: Parameters<PinnedServerKey['verify']>[0],
    mustBeFresh: boolean,
  ): Refusal | undefined {
    if (!this.#policy.enabled && !task.cancel) return refuse('disabled', 'tasks are disabled on this agent (tasks.enabled is false)');
    const verdict = this.#key.verify(fields, task.signature);
    if (verdict === 'no_key') return refuse('no_key', 'no server task key is pinned on this agent yet');
    if (verdict === 'bad_signature') return refuse('bad_signature', 'the task signature does not verify against the pinned server key');
    if (fields.agentId !== this.#opts.agentId) return refuse('invalid', `the task was signed for agent "${fields.agentId}"`);
    // The server signs each stream message as it sends it; an etcd job keeps its signature as long as it exists.
    const age = Date.now() - fields.issuedMs;
    if (mustBeFresh && Math.abs(age) > this.#cfg.max_age) {
      return refuse('expired', `the task was issued ${Math.round(age / 1000)} s ago (tasks.max_age is ${this.#cfg.max_age / 1000} s)`);
    }
    return undefined;
  }

  #applyJob(job: JobDefinition, runId: string): void {
    const problem = scheduleProblem(job.schedule, job.timezone);
    const allowed = problem ? refuse('invalid', problem) : this.#policy.check(job);
    if (isRefusal(allowed)) {
      this.#refuse(job.taskId, runId, allowed);
      return;
    }
    let change: JobChange;
    try {
      change = this.#jobs.upsert(job);
    } catch (err) {
      this.#refuse(job.taskId, runId, refuse('invalid', `cannot schedule: ${(err as Error).message}`));
      return;
    }
    if (change !== 'unchanged') {
      this.#log.info(
        {
          taskId: job.taskId,
          change,
          schedule: job.schedule,
          timezone: job.timezone || undefined,
          schedulerId: this.#jobs.schedulerId(job.taskId),
        },
        `cron job ${change}`,
      );
    }
    if (job.source === 'etcd' && this.#etcd && (change === 'added' || change === 'updated')) {
      this.#etcd.lease.put(etcdKeys.cronId(this.#opts.agentId, job.taskId), String(this.#jobs.schedulerId(job.taskId)));
    }
  }

  #removeEtcdJob(taskId: string): void {
    if (this.#jobs.get(taskId)?.source !== 'etcd') return;
    this.#jobs.remove(taskId);
    this.#etcd?.lease.delete(etcdKeys.cronId(this.#opts.agentId, taskId));
    this.#log.info({ taskId }, 'cron job removed');
  }

  #etcdJob(key: string, raw: string | undefined): void {
    const taskId = key.slice(etcdKeys.jobsPrefix(this.#opts.agentId).length);
    if (!TASK_ID_PATTERN.test(taskId)) return;
    if (raw === undefined) {
      this.#removeEtcdJob(taskId);
      return;
    }
    let job: EtcdJob;
    try {
      if (!this.#parseEtcdJob) return;
      job = this.#parseEtcdJob(raw);
    } catch (err) {
      this.#refuseOnce(taskId, `${taskId}@r0`, refuse('invalid', `unreadable etcd job ${key}: ${(err as Error).message.slice(0, 200)}`));
      return;
    }
    const runId = `${taskId}@r${job.issued_ms}`;
    const gate = this.#gate({ signature: Buffer.from(job.signature, 'base64'), cancel: false }, etcdJobFields(taskId, job), false);
    if (gate) {
      this.#refuseOnce(taskId, runId, gate);
      return;
    }
    const current = this.#jobs.get(taskId);
    const latest = Math.max(this.#marks.latest(taskId) ?? 0, current?.issuedMs ?? 0);
    if (job.issued_ms < latest) {
      this.#log.warn({ taskId, issuedMs: job.issued_ms, latest }, 'older etcd job definition ignored');
      return;
    }
    if (job.issued_ms > latest) this.#marks.record(taskId, job.issued_ms);
    this.#applyJob(
      {
        taskId,
        command: job.cmd,
        args: job.args,
        env: job.env,
        schedule: job.schedule,
        timezone: job.timezone,
        timeoutMs: job.timeout_ms,
        issuedMs: job.issued_ms,
        paused: job.status === 'paused',
        signature: job.signature,
        source: 'etcd',
      },
      runId,
    );
  }

  async #startEtcd(): Promise<void> {
    // etcd's client is heavy to load; only agents in etcd mode pay for it.
    const { etcdClient, PrefixMirror } = await import('@falconet/protocol/etcd');
    const { HealthLease, parseEtcdJob } = await import('./etcd.ts');
    this.#parseEtcdJob = parseEtcdJob;
    const { agentId, hostname } = this.#opts;
    const etcd = this.#cfg.etcd;
    const client = etcdClient(etcd.endpoints);
    const startedMs = Date.now();
    const health: EtcdHealth = { status: 'up', version: FALCONET_VERSION, hostname, started_ms: startedMs };
    const lease = new HealthLease(client, {
      key: etcdKeys.health(agentId),
      value: () => JSON.stringify(health),
      ttlMs: etcd.lease_ttl,
      renewMs: etcd.renew_interval,
      log: this.#log,
    });
    const prefix = etcdKeys.jobsPrefix(agentId);
    const mirror = new PrefixMirror(
      client,
      prefix,
      {
        snapshot: (entries) => {
          for (const job of this.#jobs.list()) {
            if (job.source === 'etcd' && !entries.has(prefix + job.taskId)) this.#removeEtcdJob(job.taskId);
          }
          for (const [key, value] of entries) this.#etcdJob(key, value);
        },
        put: (key, value) => this.#etcdJob(key, value),
        delete: (key) => this.#etcdJob(key, undefined),
      },
      this.#log,
    );
    this.#etcd = { client, mirror, lease };
    for (const job of this.#jobs.list()) {
      if (job.source === 'etcd') lease.put(etcdKeys.cronId(agentId, job.taskId), String(this.#jobs.schedulerId(job.taskId)));
    }
    lease.start();
    mirror.start();
    this.#log.info({ endpoints: etcd.endpoints, leaseTtlMs: etcd.lease_ttl, renewMs: etcd.renew_interval }, 'etcd task mode');
  }

  #refuseOnce(taskId: string, runId: string, r: Refusal): void {
    if (this.#reportedRefusals.has(runId)) return;
    this.#reportedRefusals.add(runId);
    this.#refuse(taskId, runId, r);
  }

  #refuse(taskId: string, runId: string, r: Refusal, scheduledMs = 0): void {
    this.stats.refused++;
    this.#log.warn({ taskId, runId, refusal: r.refused, why: r.message }, 'task refused');
    if (this.#outbox.has(runId)) return;
    this.#outbox.append(taskId, runId, scheduledMs, { stream: 'refused', data: r.message, reason: r.refused });
  }

  #fire(job: JobDefinition, scheduledMs: number): Promise<void> {
    const runId = `${job.taskId}@${scheduledMs}`;
    if (this.#outbox.has(runId) || this.#executor.has(runId)) return Promise.resolve();
    return this.#run(job.taskId, runId, scheduledMs, job);
  }

  /** Runs a request the gates let through, if the allowlist does too; resolves when it has ended. */
  #run(
    taskId: string,
    runId: string,
    scheduledMs: number,
    req: { command: string; args: readonly string[]; env: Readonly<Record<string, string>>; timeoutMs: number },
  ): Promise<void> {
    const approved = this.#policy.check(req);
    if (isRefusal(approved)) {
      this.#refuse(taskId, runId, approved, scheduledMs);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const sink: RunSink = {
        output: (stream, text) => this.#outbox.append(taskId, runId, scheduledMs, { stream, data: text }),
        exit: (code: number, reason: ExitReason, message: string) => {
          this.#outbox.append(taskId, runId, scheduledMs, { stream: 'exit', data: message, exitCode: code, reason });
          resolve();
        },
      };
      const started = this.#executor.submit(runId, approved, sink);
      if (isRefusal(started)) {
        this.#refuse(taskId, runId, started, scheduledMs);
        resolve();
      } else this.stats.started++;
    });
  }
}

function jobFields(job: JobDefinition, agentId: string) {
  return {
    agentId,
    taskId: job.taskId,
    command: job.command,
    args: job.args,
    env: job.env,
    schedule: job.schedule,
    timezone: job.timezone,
    timeoutMs: job.timeoutMs,
    issuedMs: job.issuedMs,
    cancel: false,
    paused: job.paused,
  };
}
