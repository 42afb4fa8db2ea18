import { randomUUID } from 'node:crypto';
import {
  RUN_STATUSES,
  type RunStatus,
  type Task,
  type TaskAuditEntry,
  type TaskKind,
  type TaskOutput,
  type TaskRun,
  type TaskStatus,
  type TaskTarget,
} from '@falconet/protocol/api';
import type { Selectable } from 'kysely';
import type { MetaDb } from '../db/index.ts';
import type { TaskAuditTable, TaskRunsTable, TasksTable } from '../db/schema.ts';

/** A run is waiting for its agent or running in these; every other status is its end. */
const UNFINISHED: readonly RunStatus[] = ['pending', 'sent', 'running'];
export const FINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(RUN_STATUSES.filter((s) => !UNFINISHED.includes(s)));

export interface AuditFilter {
  taskId?: string | undefined;
  agentId?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  limit: number;
  offset: number;
}

const taskView = (r: Selectable<TasksTable>): Task => ({
  id: r.id,
  kind: r.kind,
  command: r.command,
  args: JSON.parse(r.args) as string[],
  env: JSON.parse(r.env) as Record<string, string>,
  schedule: r.schedule,
  timezone: r.timezone,
  timeoutMs: Number(r.timeout_ms),
  target: JSON.parse(r.target) as TaskTarget,
  agentIds: JSON.parse(r.agent_ids) as string[],
  status: r.status as TaskStatus,
  backend: r.backend,
  createdBy: r.created_by,
  createdMs: Number(r.created_ms),
  updatedMs: Number(r.updated_ms),
});

const runView = (r: Selectable<TaskRunsTable>): TaskRun => ({
  taskId: r.task_id,
  agentId: r.agent_id,
  runId: r.run_id,
  scheduledMs: Number(r.scheduled_ms),
  status: r.status as RunStatus,
  exitCode: r.exit_code === null ? null : Number(r.exit_code),
  reason: r.reason,
  message: r.message,
  startedMs: Number(r.started_ms),
  endedMs: r.ended_ms === null ? null : Number(r.ended_ms),
  outputBytes: Number(r.output_bytes),
});

const auditView = (r: Selectable<TaskAuditTable>): TaskAuditEntry => ({
  id: r.id,
  timeMs: Number(r.time_ms),
  actor: r.actor,
  action: r.action,
  taskId: r.task_id,
  agentId: r.agent_id,
  command: r.command,
  result: r.result,
  detail: r.detail,
});

/** Tasks, their runs and output, and the audit log, in the metadata database (SQLite or PostgreSQL). */
export class TaskRepository {
  readonly #meta: MetaDb;

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  get #db() {
    return this.#meta.db;
  }

  async insertTask(t: Task): Promise<void> {
    await this.#db
      .insertInto('tasks')
      .values({
        id: t.id,
        kind: t.kind,
        command: t.command,
        args: JSON.stringify(t.args),
        env: JSON.stringify(t.env),
        schedule: t.schedule,
        timezone: t.timezone,
        timeout_ms: t.timeoutMs,
        target: JSON.stringify(t.target),
        agent_ids: JSON.stringify(t.agentIds),
        status: t.status,
        backend: t.backend,
        created_by: t.createdBy,
        created_ms: t.createdMs,
        updated_ms: t.updatedMs,
      })
      .execute();
  }

  async setTaskStatus(id: string, status: TaskStatus, nowMs: number): Promise<void> {
    await this.#db.updateTable('tasks').set({ status, updated_ms: nowMs }).where('id', '=', id).execute();
  }

  async getTask(id: string): Promise<Task | undefined> {
    const row = await this.#db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    return row && taskView(row);
  }

  async listTasks(opts: { kind?: TaskKind | undefined; limit: number; offset: number }): Promise<{ items: Task[]; total: number }> {
    let q = this.#db.selectFrom('tasks');
    if (opts.kind) q = q.where('kind', '=', opts.kind);
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await q.selectAll().orderBy('created_ms', 'desc').orderBy('id').limit(opts.limit).offset(opts.offset).execute();
    return { items: rows.map(taskView), total: Number(total.n) };
  }

  /** Cron jobs, for syncing an agent or etcd: live ones, and deletions newer than `deletedSinceMs`. */
  async cronTasks(deletedSinceMs: number): Promise<Task[]> {
    const rows = await this.#db
      .selectFrom('tasks')
      .selectAll()
      .where('kind', '=', 'cron')
      .where((eb) => eb.or([eb('status', '!=', 'deleted'), eb('updated_ms', '>=', deletedSinceMs)]))
      .orderBy('created_ms')
      .execute();
    return rows.map(taskView);
  }

  /** Inserts a run unless it exists; true when it was new. */
  async insertRun(r: TaskRun): Promise<boolean> {
    const res = await this.#db
      .insertInto('task_runs')
      .values({
        agent_id: r.agentId,
        run_id: r.runId,
        task_id: r.taskId,
        scheduled_ms: r.scheduledMs,
        status: r.status,
        exit_code: r.exitCode,
        reason: r.reason,
        message: r.message,
        started_ms: r.startedMs,
        ended_ms: r.endedMs,
        output_bytes: r.outputBytes,
      })
      .onConflict((oc) => oc.columns(['agent_id', 'run_id']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async updateRun(
    agentId: string,
    runId: string,
    patch: Partial<Pick<TaskRun, 'status' | 'exitCode' | 'reason' | 'message' | 'endedMs' | 'outputBytes'>>,
  ): Promise<void> {
    const set: Record<string, unknown> = {};
    if (patch.status !== undefined) set.status = patch.status;
    if (patch.exitCode !== undefined) set.exit_code = patch.exitCode;
    if (patch.reason !== undefined) set.reason = patch.reason;
    if (patch.message !== undefined) set.message = patch.message;
    if (patch.endedMs !== undefined) set.ended_ms = patch.endedMs;
    if (patch.outputBytes !== undefined) set.output_bytes = patch.outputBytes;
    await this.#db.updateTable('task_runs').set(set).where('agent_id', '=', agentId).where('run_id', '=', runId).execute();
  }

  async getRun(agentId: string, runId: string): Promise<TaskRun | undefined> {
    const row = await this.#db
      .selectFrom('task_runs')
      .selectAll()
      .where('agent_id', '=', agentId)
      .where('run_id', '=', runId)
      .executeTakeFirst();
    return row && runView(row);
  }

  async runsOf(taskId: string, limit: number, offset = 0): Promise<{ items: TaskRun[]; total: number }> {
    const q = this.#db.selectFrom('task_runs').where('task_id', '=', taskId);
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await q.selectAll().orderBy('started_ms', 'desc').orderBy('agent_id').limit(limit).offset(offset).execute();
    return { items: rows.map(runView), total: Number(total.n) };
  }

  /** Runs of a task that have not ended yet. */
  async unfinishedRuns(taskId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('task_runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('task_id', '=', taskId)
      .where('status', 'not in', [...FINAL_RUN_STATUSES])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Stores one output record; false when (agent, run, seq) was already stored. */
  async insertOutput(agentId: string, runId: string, o: TaskOutput): Promise<boolean> {
    const res = await this.#db
      .insertInto('task_output')
      .values({ agent_id: agentId, run_id: runId, seq: o.seq, stream: o.stream, data: o.data, time_ms: o.timeMs })
      .onConflict((oc) => oc.columns(['agent_id', 'run_id', 'seq']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async outputOf(agentId: string, runId: string): Promise<TaskOutput[]> {
    const rows = await this.#db
      .selectFrom('task_output')
      .select(['seq', 'stream', 'data', 'time_ms'])
      .where('agent_id', '=', agentId)
      .where('run_id', '=', runId)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), stream: r.stream, data: r.data, timeMs: Number(r.time_ms) }));
  }

  async audit(e: Omit<TaskAuditEntry, 'id'>): Promise<TaskAuditEntry> {
    const entry = { ...e, id: randomUUID() };
    await this.#db
      .insertInto('task_audit')
      .values({
        id: entry.id,
        time_ms: entry.timeMs,
        actor: entry.actor,
        action: entry.action,
        task_id: entry.taskId,
        agent_id: entry.agentId,
        command: entry.command,
        result: entry.result,
        detail: entry.detail,
      })
      .execute();
    return entry;
  }

  async listAudit(f: AuditFilter): Promise<{ items: TaskAuditEntry[]; total: number }> {
    let q = this.#db.selectFrom('task_audit');
    if (f.taskId) q = q.where('task_id', '=', f.taskId);
    if (f.agentId) q = q.where('agent_id', '=', f.agentId);
    if (f.actor) q = q.where('actor', '=', f.actor);
    if (f.action) q = q.where('action', '=', f.action);
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const rows = await q.selectAll().orderBy('time_ms', 'desc').orderBy('id').limit(f.limit).offset(f.offset).execute();
    return { items: rows.map(auditView), total: Number(total.n) };
  }

  /** Deletes history past retention; returns how many rows of each kind went. */
  async prune(historyBeforeMs: number, auditBeforeMs: number): Promise<{ tasks: number; runs: number; output: number; audit: number }> {
    const db = this.#db;
    const old = db.selectFrom('task_runs').select(['agent_id', 'run_id']).where('started_ms', '<', historyBeforeMs);
    const oldRuns = await old.execute();
    let output = 0;
    for (const r of oldRuns) {
      const res = await db.deleteFrom('task_output').where('agent_id', '=', r.agent_id).where('run_id', '=', r.run_id).executeTakeFirst();
      output += Number(res.numDeletedRows);
    }
    const runs = await db.deleteFrom('task_runs').where('started_ms', '<', historyBeforeMs).executeTakeFirst();
    const tasks = await db
      .deleteFrom('tasks')
      .where('updated_ms', '<', historyBeforeMs)
      .where((eb) => eb.or([eb('kind', '=', 'run'), eb('status', '=', 'deleted')]))
      .executeTakeFirst();
    const audit = await db.deleteFrom('task_audit').where('time_ms', '<', auditBeforeMs).executeTakeFirst();
    return { tasks: Number(tasks.numDeletedRows), runs: Number(runs.numDeletedRows), output, audit: Number(audit.numDeletedRows) };
  }
}
