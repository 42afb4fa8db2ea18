import type { Kysely } from 'kysely';
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
}
