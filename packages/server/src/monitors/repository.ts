/** The monitors table in the metadata database (SQLite or PostgreSQL, through Kysely). */
import type { MonitorSpec } from '@falconet/protocol/api';
import type { MetaDb } from '../db/index.ts';

export interface StoredMonitor {
  id: string;
  spec: MonitorSpec;
  createdBy: string;
  createdMs: number;
  updatedMs: number;
}

export class MonitorRepository {
  readonly #meta: MetaDb;

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  async list(): Promise<StoredMonitor[]> {
    const rows = await this.#meta.db.selectFrom('monitors').selectAll().orderBy('created_ms').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id,
      spec: JSON.parse(r.spec) as MonitorSpec,
      createdBy: r.created_by,
      createdMs: Number(r.created_ms),
      updatedMs: Number(r.updated_ms),
    }));
  }

  async insert(m: StoredMonitor): Promise<void> {
    await this.#meta.db
      .insertInto('monitors')
      .values({
        id: m.id,
        name: m.spec.name,
        spec: JSON.stringify(m.spec),
        created_by: m.createdBy,
        created_ms: m.createdMs,
        updated_ms: m.updatedMs,
      })
      .execute();
  }

  /** False when no such monitor exists. */
  async update(id: string, spec: MonitorSpec, nowMs: number): Promise<boolean> {
    const r = await this.#meta.db
      .updateTable('monitors')
      .set({ name: spec.name, spec: JSON.stringify(spec), updated_ms: nowMs })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.#meta.db.deleteFrom('monitors').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
