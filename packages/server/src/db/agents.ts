import type { Kysely } from 'kysely';
import type { Labels } from '../agents/labels.ts';
import type { AgentRecord } from '../store/types.ts';
import type { Database, MetaDb } from './index.ts';

async function upsertInto(db: Kysely<Database>, a: AgentRecord): Promise<void> {
  const row = { id: a.id, hostname: a.hostname, record: JSON.stringify(a), first_seen_ms: a.firstSeenMs, last_seen_ms: a.lastSeenMs };
  await db
    .insertInto('agents')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({ hostname: row.hostname, record: row.record, last_seen_ms: row.last_seen_ms }))
    .execute();
}

/** Agent records in the metadata database. */
export class AgentRepository {
  readonly #meta: MetaDb;

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  async upsert(a: AgentRecord): Promise<void> {
    await upsertInto(this.#meta.db, a);
  }

  /** Many records in one transaction: one disk sync for all of them. */
  async upsertMany(records: readonly AgentRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#meta.db.transaction().execute(async (trx) => {
      for (const a of records) await upsertInto(trx, a);
    });
  }

  async get(id: string): Promise<AgentRecord | undefined> {
    const row = await this.#meta.db.selectFrom('agents').select('record').where('id', '=', id).executeTakeFirst();
    return row ? (JSON.parse(row.record) as AgentRecord) : undefined;
  }

  async list(): Promise<AgentRecord[]> {
    const rows = await this.#meta.db.selectFrom('agents').select('record').orderBy('id').execute();
    return rows.map((r) => JSON.parse(r.record) as AgentRecord);
  }

  /** Deletes the agent's record and its server-side labels, in one transaction. */
  async delete(id: string): Promise<void> {
    await this.#meta.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('agent_labels').where('agent_id', '=', id).execute();
      await trx.deleteFrom('agents').where('id', '=', id).execute();
    });
  }

  /** The hostname an agent id is recorded under, when it is. */
  async hostnameOf(id: string): Promise<string | undefined> {
    return (await this.#meta.db.selectFrom('agents').select('hostname').where('id', '=', id).executeTakeFirst())?.hostname;
  }

  /** Labels set on the server side, by agent id. */
  async serverLabels(): Promise<Map<string, Labels>> {
    const rows = await this.#meta.db.selectFrom('agent_labels').select(['agent_id', 'labels']).execute();
    return new Map(rows.map((r) => [r.agent_id, JSON.parse(r.labels) as Labels]));
  }

  async setServerLabels(agentId: string, labels: Labels, by: string, nowMs: number): Promise<void> {
    const row = { agent_id: agentId, labels: JSON.stringify(labels), updated_by: by, updated_ms: nowMs };
    await this.#meta.db
      .insertInto('agent_labels')
      .values(row)
      .onConflict((oc) => oc.column('agent_id').doUpdateSet({ labels: row.labels, updated_by: by, updated_ms: nowMs }))
      .execute();
  }
}
