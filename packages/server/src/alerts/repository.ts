/** The alerting tables in the metadata database (SQLite or PostgreSQL, through Kysely). */
import { type Selectable, sql } from 'kysely';
import type { MetaDb } from '../db/index.ts';
import type { AlertInstancesTable } from '../db/schema.ts';
import { rowContext } from '../db/secrets.ts';
import type { DeliveryRecord } from './delivery.ts';
import type { AlertInstance } from './rule.ts';
import type { ChannelSpec, RuleSpec, SilenceSpec } from './spec.ts';

export interface Stored<S> {
  id: string;
  spec: S;
  createdBy: string;
  createdMs: number;
  updatedMs: number;
}

export interface HistoryEntry {
  id: string;
  tsMs: number;
  ruleId: string;
  ruleName: string;
  fingerprint: string;
  agentId: string;
  host: string;
  severity: string;
  from: string;
  to: string;
  reason: string;
  value: number;
  labels: Record<string, string>;
}

export interface HistoryQuery {
  ruleId?: string | undefined;
  fingerprint?: string | undefined;
  host?: string | undefined;
  to?: string | undefined;
  fromMs?: number | undefined;
  toMs?: number | undefined;
  before?: string | undefined;
  limit: number;
}

export interface DeliveryQuery {
  channel?: string | undefined;
  status?: string | undefined;
  before?: string | undefined;
  limit: number;
}

/** Rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 200;

function chunks<T>(rows: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

/**
 * A channel's spec is sealed whole at rest (db/secrets.ts): its secrets sit in several fields
 * (secret, bot_token, smtp.password, header values, tokens in webhook URLs), and a new channel
 * type cannot forget one.
 */
const channelContext = (id: string) => rowContext('alert_channels', 'spec', id);

/** NaN and infinities do not survive every SQL engine; history keeps them as null-like 0 with the reason saying why. */
const finite = (v: number) => (Number.isFinite(v) ? v : 0);

export class AlertRepository {
  readonly #meta: MetaDb;

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  get #db() {
    return this.#meta.db;
  }

  async rules(): Promise<Stored<RuleSpec>[]> {
    const rows = await this.#db.selectFrom('alert_rules').selectAll().orderBy('created_ms').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id,
      spec: JSON.parse(r.spec) as RuleSpec,
      createdBy: r.created_by,
      createdMs: Number(r.created_ms),
      updatedMs: Number(r.updated_ms),
    }));
  }

  async putRule(id: string, spec: RuleSpec, by: string, nowMs: number, create: boolean): Promise<boolean> {
    if (create) {
      await this.#db
        .insertInto('alert_rules')
        .values({ id, name: spec.name, spec: JSON.stringify(spec), created_by: by, created_ms: nowMs, updated_ms: nowMs })
        .execute();
      return true;
    }
    const r = await this.#db
      .updateTable('alert_rules')
      .set({ name: spec.name, spec: JSON.stringify(spec), updated_ms: nowMs })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteRule(id: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('alert_rules').where('id', '=', id).executeTakeFirst();
    await this.#db.deleteFrom('alert_instances').where('rule_id', '=', id).execute();
    return Number(r.numDeletedRows) > 0;
  }

  async channels(): Promise<Stored<ChannelSpec>[]> {
    const rows = await this.#db.selectFrom('alert_channels').selectAll().orderBy('name').execute();
    const box = await this.#meta.secrets();
    return rows.map((r) => ({
      id: r.id,
      spec: JSON.parse(box.open(r.spec, channelContext(r.id))) as ChannelSpec,
      createdBy: r.created_by,
      createdMs: Number(r.created_ms),
      updatedMs: Number(r.updated_ms),
    }));
  }

  async putChannel(id: string, spec: ChannelSpec, by: string, nowMs: number, create: boolean): Promise<boolean> {
    const sealed = (await this.#meta.secrets()).seal(JSON.stringify(spec), channelContext(id));
    if (create) {
      await this.#db
        .insertInto('alert_channels')
        .values({ id, name: spec.name, type: spec.type, spec: sealed, created_by: by, created_ms: nowMs, updated_ms: nowMs })
        .execute();
      return true;
    }
    const r = await this.#db
      .updateTable('alert_channels')
      .set({ name: spec.name, type: spec.type, spec: sealed, updated_ms: nowMs })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteChannel(id: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('alert_channels').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async silences(): Promise<Stored<SilenceSpec>[]> {
    const rows = await this.#db.selectFrom('alert_silences').selectAll().orderBy('created_ms').execute();
    return rows.map((r) => ({
      id: r.id,
      spec: JSON.parse(r.spec) as SilenceSpec,
      createdBy: r.created_by,
      createdMs: Number(r.created_ms),
      updatedMs: Number(r.updated_ms),
    }));
  }

  async putSilence(id: string, spec: SilenceSpec, endsMs: number, by: string, nowMs: number, create: boolean): Promise<boolean> {
    if (create) {
      await this.#db
        .insertInto('alert_silences')
        .values({ id, spec: JSON.stringify(spec), ends_ms: endsMs, created_by: by, created_ms: nowMs, updated_ms: nowMs })
        .execute();
      return true;
    }
    const r = await this.#db
      .updateTable('alert_silences')
      .set({ spec: JSON.stringify(spec), ends_ms: endsMs, updated_ms: nowMs })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteSilence(id: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('alert_silences').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * A cheap signature of the rules, channels and silences tables: another server sharing the
   * database changed something when it differs.
   */
  async signature(): Promise<string> {
    const parts: string[] = [];
    for (const table of ['alert_rules', 'alert_channels', 'alert_silences'] as const) {
      const row = await this.#db
        .selectFrom(table)
        .select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(max(updated_ms), 0)`.as('latest')])
        .executeTakeFirst();
      parts.push(`${Number(row?.n ?? 0)}:${Number(row?.latest ?? 0)}`);
    }
    return parts.join('/');
  }

  async instances(): Promise<AlertInstance[]> {
    return (await this.#db.selectFrom('alert_instances').selectAll().execute()).map(instanceOf);
  }

  /** The alerts of these agents, for a node of the cluster taking them over. */
  async instancesOf(agentIds: readonly string[]): Promise<AlertInstance[]> {
    const all: AlertInstance[] = [];
    for (let i = 0; i < agentIds.length; i += 500) {
      const ids = agentIds.slice(i, i + 500);
      const rows = await this.#db.selectFrom('alert_instances').selectAll().where('agent_id', 'in', ids).execute();
      for (const r of rows) all.push(instanceOf(r));
    }
    return all;
  }

  /** Deletes the alerts of one agent (forgotten). */
  async deleteInstancesOf(agentId: string): Promise<void> {
    await this.#db.deleteFrom('alert_instances').where('agent_id', '=', agentId).execute();
  }

  /** Writes one cycle's changes in one transaction: alerts kept or gone, and their history. */
  async saveCycle(
    upserts: readonly AlertInstance[],
    removals: readonly { ruleId: string; key: string }[],
    history: readonly HistoryEntry[],
  ): Promise<void> {
    if (upserts.length === 0 && removals.length === 0 && history.length === 0) return;
    await this.#db.transaction().execute(async (tx) => {
      for (const part of chunks([...upserts])) {
        await tx
          .insertInto('alert_instances')
          .values(
            part.map((a) => ({
              rule_id: a.ruleId,
              key: a.key,
              fingerprint: a.fingerprint,
              state: a.state,
              labels: JSON.stringify(a.labels),
              series: a.series,
              agent_id: a.agentId,
              value: finite(a.value),
              active_since_ms: a.activeSinceMs,
              fired_at_ms: a.firedAtMs,
              notified_ms: a.notifiedMs,
              last_eval_ms: a.lastEvalMs,
            })),
          )
          .onConflict((oc) =>
            oc.columns(['rule_id', 'key']).doUpdateSet((eb) => ({
              state: eb.ref('excluded.state'),
              labels: eb.ref('excluded.labels'),
              value: eb.ref('excluded.value'),
              fired_at_ms: eb.ref('excluded.fired_at_ms'),
              notified_ms: eb.ref('excluded.notified_ms'),
              last_eval_ms: eb.ref('excluded.last_eval_ms'),
            })),
          )
          .execute();
      }
      for (const part of chunks([...removals])) {
        await tx
          .deleteFrom('alert_instances')
          .where((eb) => eb.or(part.map((r) => eb.and([eb('rule_id', '=', r.ruleId), eb('key', '=', r.key)]))))
          .execute();
      }
      for (const part of chunks([...history])) {
        await tx
          .insertInto('alert_history')
          .values(
            part.map((h) => ({
              id: h.id,
              ts_ms: h.tsMs,
              rule_id: h.ruleId,
              rule_name: h.ruleName,
              fingerprint: h.fingerprint,
              agent_id: h.agentId,
              host: h.host,
              severity: h.severity,
              from_state: h.from,
              to_state: h.to,
              reason: h.reason,
              value: finite(h.value),
              labels: JSON.stringify(h.labels),
            })),
          )
          .execute();
      }
    });
  }

  async history(q: HistoryQuery): Promise<HistoryEntry[]> {
    let sel = this.#db.selectFrom('alert_history').selectAll();
    if (q.ruleId) sel = sel.where('rule_id', '=', q.ruleId);
    if (q.fingerprint) sel = sel.where('fingerprint', '=', q.fingerprint);
    if (q.host) sel = sel.where((eb) => eb.or([eb('host', '=', q.host as string), eb('agent_id', '=', q.host as string)]));
    if (q.to) sel = sel.where('to_state', '=', q.to);
    if (q.fromMs !== undefined) sel = sel.where('ts_ms', '>=', q.fromMs);
    if (q.toMs !== undefined) sel = sel.where('ts_ms', '<=', q.toMs);
    if (q.before) sel = sel.where('id', '<', q.before);
    const rows = await sel.orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      tsMs: Number(r.ts_ms),
      ruleId: r.rule_id,
      ruleName: r.rule_name,
      fingerprint: r.fingerprint,
      agentId: r.agent_id,
      host: r.host,
      severity: r.severity,
      from: r.from_state,
      to: r.to_state,
      reason: r.reason,
      value: Number(r.value),
      labels: JSON.parse(r.labels) as Record<string, string>,
    }));
  }

  async recordDelivery(d: DeliveryRecord): Promise<void> {
    const row = {
      id: d.id,
      created_ms: d.createdMs,
      finished_ms: d.finishedMs,
      channel: d.channel,
      group_key: d.groupKey.slice(0, 1000),
      kind: d.kind,
      status: d.status,
      title: d.title,
      alerts: d.alerts,
      attempts: d.attempts,
      error: d.error,
    };
    await this.#db
      .insertInto('alert_notifications')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({ status: row.status, attempts: row.attempts, error: row.error, finished_ms: row.finished_ms }),
      )
      .execute();
  }

  async deliveries(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    let sel = this.#db.selectFrom('alert_notifications').selectAll();
    if (q.channel) sel = sel.where('channel', '=', q.channel);
    if (q.status) sel = sel.where('status', '=', q.status);
    if (q.before) sel = sel.where('id', '<', q.before);
    const rows = await sel.orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      channel: r.channel,
      groupKey: r.group_key,
      kind: r.kind as DeliveryRecord['kind'],
      status: r.status as DeliveryRecord['status'],
      title: r.title,
      alerts: Number(r.alerts),
      attempts: Number(r.attempts),
      error: r.error,
      createdMs: Number(r.created_ms),
      finishedMs: Number(r.finished_ms),
    }));
  }

  /** Drops history and delivery records older than the retention, and silences long over. */
  async prune(beforeMs: number): Promise<void> {
    await this.#db.deleteFrom('alert_history').where('ts_ms', '<', beforeMs).execute();
    await this.#db.deleteFrom('alert_notifications').where('created_ms', '<', beforeMs).execute();
    await this.#db.deleteFrom('alert_silences').where('ends_ms', '>', 0).where('ends_ms', '<', beforeMs).execute();
  }
}

/** A row of alert_instances as the evaluator holds it. */
function instanceOf(r: Selectable<AlertInstancesTable>): AlertInstance {
  return {
    ruleId: r.rule_id,
    key: r.key,
    fingerprint: r.fingerprint,
    state: r.state as AlertInstance['state'],
    labels: JSON.parse(r.labels) as Record<string, string>,
    series: r.series,
    agentId: r.agent_id,
    value: Number(r.value),
    activeSinceMs: Number(r.active_since_ms),
    firedAtMs: Number(r.fired_at_ms),
    notifiedMs: Number(r.notified_ms),
    lastEvalMs: Number(r.last_eval_ms),
    cycle: -1,
  };
}
