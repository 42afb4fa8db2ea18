import type { AuditOutcome } from '@falconet/protocol/api';
import type { Logger } from 'pino';
import type { MetaDb } from '../db/index.ts';
import { timeOrderedId } from './ids.ts';

export interface AuditEvent {
  /** Who: a user name, `token:NAME`, `console` (CLI), `local` (before the first user), or `anonymous`. */
  actor: string;
  /** What: `signin`, `signout`, `user.create`, `token.revoke`, `POST /api/...`. */
  action: string;
  /** On what: a user or token name, a route. */
  target?: string;
  address?: string;
  outcome?: AuditOutcome;
  detail?: Record<string, unknown>;
}

export interface AuditEntry extends Required<Omit<AuditEvent, 'detail'>> {
  id: string;
  tsMs: number;
  detail: Record<string, unknown>;
}

export interface AuditQuery {
  actor?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
  fromMs?: number | undefined;
  toMs?: number | undefined;
  limit: number;
  /** Entries strictly older than this id (the last id of the previous page). */
  before?: string | undefined;
}

/**
 * The audit log: sign-ins (good and bad) and every change. Written to the metadata database and
 * to the server log, so a failed database write still leaves a trace.
 */
export class AuditLog {
  readonly #meta: MetaDb;
  readonly #log: Logger;

  constructor(meta: MetaDb, log: Logger) {
    this.#meta = meta;
    this.#log = log;
  }

  async record(e: AuditEvent, nowMs = Date.now()): Promise<void> {
    const entry = {
      id: timeOrderedId(nowMs),
      ts_ms: nowMs,
      actor: e.actor.slice(0, 200),
      action: e.action.slice(0, 200),
      target: (e.target ?? '').slice(0, 500),
      address: e.address ?? '',
      outcome: e.outcome ?? 'ok',
      detail: JSON.stringify(e.detail ?? {}).slice(0, 4000),
    };
    this.#log.info({ audit: { ...e, detail: e.detail } }, `audit: ${entry.actor} ${entry.action} ${entry.target}`.trim());
    try {
      await this.#meta.db.insertInto('audit_log').values(entry).execute();
    } catch (err) {
      this.#log.error({ err, audit: e }, 'audit entry not stored');
    }
  }

  async query(q: AuditQuery): Promise<AuditEntry[]> {
    let sel = this.#meta.db.selectFrom('audit_log').selectAll();
    if (q.actor) sel = sel.where('actor', '=', q.actor);
    if (q.action) sel = sel.where('action', '=', q.action);
    if (q.outcome) sel = sel.where('outcome', '=', q.outcome);
    if (q.fromMs !== undefined) sel = sel.where('ts_ms', '>=', q.fromMs);
    if (q.toMs !== undefined) sel = sel.where('ts_ms', '<=', q.toMs);
    if (q.before) sel = sel.where('id', '<', q.before);
    const rows = await sel.orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({
      id: r.id,
      tsMs: Number(r.ts_ms),
      actor: r.actor,
      action: r.action,
      target: r.target,
      address: r.address,
      outcome: r.outcome as AuditEntry['outcome'],
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }
}
