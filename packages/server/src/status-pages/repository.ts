/** The status page tables in the metadata database (SQLite or PostgreSQL, through Kysely). */
import type { Incident, IncidentUpdate, StatusPage, StatusPageSpec } from '@falconet/protocol/api';
import type { ColumnType, Kysely } from 'kysely';
import type { MetaDb } from '../db/index.ts';

/** A status page; its spec as JSON, the slug a column of its own so it is unique and found by index. */
type StatusPagesTable = {
  id: string;
  slug: string;
  spec: string;
  created_by: string;
  created_ms: ColumnType<number, number, number>;
  updated_ms: ColumnType<number, number, number>;
};

/** An incident on one page; title, body, severity and notes as JSON, the times as columns to select by. */
type StatusIncidentsTable = {
  id: string;
  page_id: string;
  started_ms: ColumnType<number, number, number>;
  resolved_ms: ColumnType<number | null, number | null, number | null>;
  record: string;
  created_by: string;
  updated_ms: ColumnType<number, number, number>;
};

/** This module's tables, kept here rather than in db/schema.ts (migration 0600_status_pages). */
type StatusTables = {
  status_pages: StatusPagesTable;
  status_incidents: StatusIncidentsTable;
};

interface IncidentRecord {
  title: string;
  body: string;
  severity: Incident['severity'];
  updates: IncidentUpdate[];
}

export class StatusPageRepository {
  readonly #db: Kysely<StatusTables>;

  constructor(meta: MetaDb) {
    this.#db = meta.db.withTables<StatusTables>() as unknown as Kysely<StatusTables>;
  }

  async list(): Promise<StatusPage[]> {
    const rows = await this.#db.selectFrom('status_pages').selectAll().orderBy('slug').execute();
    return rows.map(pageOf);
  }

  async get(id: string): Promise<StatusPage | undefined> {
    const r = await this.#db.selectFrom('status_pages').selectAll().where('id', '=', id).executeTakeFirst();
    return r && pageOf(r);
  }

  async bySlug(slug: string): Promise<StatusPage | undefined> {
    const r = await this.#db.selectFrom('status_pages').selectAll().where('slug', '=', slug).executeTakeFirst();
    return r && pageOf(r);
  }

  async insert(page: StatusPage): Promise<void> {
    await this.#db
      .insertInto('status_pages')
      .values({
        id: page.id,
        slug: page.spec.slug,
        spec: JSON.stringify(page.spec),
        created_by: page.createdBy,
        created_ms: page.createdMs,
        updated_ms: page.updatedMs,
      })
      .execute();
  }

  async update(id: string, spec: StatusPageSpec, nowMs: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('status_pages')
      .set({ slug: spec.slug, spec: JSON.stringify(spec), updated_ms: nowMs })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Deletes the page with its incidents. */
  async delete(id: string): Promise<boolean> {
    return await this.#db.transaction().execute(async (tx) => {
      await tx.deleteFrom('status_incidents').where('page_id', '=', id).execute();
      const r = await tx.deleteFrom('status_pages').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  /** A page's incidents that started at or after `sinceMs` or are still open, newest first. */
  async incidents(pageId: string, sinceMs = 0): Promise<Incident[]> {
    const rows = await this.#db
      .selectFrom('status_incidents')
      .selectAll()
      .where('page_id', '=', pageId)
      .where((eb) => eb.or([eb('started_ms', '>=', sinceMs), eb('resolved_ms', 'is', null), eb('resolved_ms', '>=', sinceMs)]))
      .orderBy('started_ms', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map(incidentOf);
  }

  async incident(pageId: string, id: string): Promise<Incident | undefined> {
    const r = await this.#db
      .selectFrom('status_incidents')
      .selectAll()
      .where('page_id', '=', pageId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r && incidentOf(r);
  }

  /** Writes the whole incident, new or changed. */
  async putIncident(pageId: string, incident: Incident, by: string, nowMs: number): Promise<void> {
    const record: IncidentRecord = {
      title: incident.title,
      body: incident.body,
      severity: incident.severity,
      updates: incident.updates,
    };
    const row = {
      started_ms: incident.startedMs,
      resolved_ms: incident.resolvedMs,
      record: JSON.stringify(record),
      updated_ms: nowMs,
    };
    const r = await this.#db
      .updateTable('status_incidents')
      .set(row)
      .where('id', '=', incident.id)
      .where('page_id', '=', pageId)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return;
    await this.#db
      .insertInto('status_incidents')
      .values({ id: incident.id, page_id: pageId, created_by: by, ...row })
      .execute();
  }

  async deleteIncident(pageId: string, id: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('status_incidents').where('page_id', '=', pageId).where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

function pageOf(r: { id: string; spec: string; created_by: string; created_ms: number; updated_ms: number }): StatusPage {
  return {
    id: r.id,
    spec: JSON.parse(r.spec) as StatusPageSpec,
    createdBy: r.created_by,
    createdMs: Number(r.created_ms),
    updatedMs: Number(r.updated_ms),
  };
}

function incidentOf(r: { id: string; started_ms: number; resolved_ms: number | null; record: string }): Incident {
  const rec = JSON.parse(r.record) as IncidentRecord;
  return {
    id: r.id,
    title: rec.title,
    body: rec.body,
    severity: rec.severity,
    startedMs: Number(r.started_ms),
    resolvedMs: r.resolved_ms === null ? null : Number(r.resolved_ms),
    updates: rec.updates,
  };
}
