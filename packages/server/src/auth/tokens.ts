import { timingSafeEqual } from 'node:crypto';
import type { Role } from '@falconet/protocol/api';
import type { Selectable } from 'kysely';
import { isDatabaseUnavailable } from '../db/health.ts';
import type { MetaDb } from '../db/index.ts';
import type { ApiTokensTable, EnrollmentTokensTable } from '../db/schema.ts';
import { randomId, secretHash } from './ids.ts';
import { isRole } from './users.ts';

/**
 * Bearer secrets are `PREFIX` + a 12-character public id + a 32-character secret (base64url), so
 * a leaked one is recognisable in logs and scanners, and the id finds its row without a scan.
 */
const ID_CHARS = 12;
const SECRET_CHARS = 32;

export const API_TOKEN_PREFIX = 'fnt_';
export const ENROLLMENT_TOKEN_PREFIX = 'fne_';

function mint(prefix: string): { id: string; secret: string; token: string } {
  const id = randomId(9);
  const secret = randomId(24);
  return { id, secret, token: prefix + id + secret };
}

function split(prefix: string, token: string): { id: string; secret: string } | undefined {
  if (token.length !== prefix.length + ID_CHARS + SECRET_CHARS || !token.startsWith(prefix)) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(token.slice(prefix.length))) return undefined;
  return { id: token.slice(prefix.length, prefix.length + ID_CHARS), secret: token.slice(prefix.length + ID_CHARS) };
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A scope is `*` or a route path prefix such as `/api/metrics`; it matches whole path segments. */
export function scopeProblem(scope: string): string | undefined {
  if (scope === '*') return undefined;
  if (!/^\/[A-Za-z0-9._~\-/:]*$/.test(scope) || scope.includes('//') || scope.includes('/../') || scope.endsWith('/..')) {
    return `scope "${scope}": expected * or a route path such as /api/metrics`;
  }
  return undefined;
}

export function scopeAllows(scopes: readonly string[], routeUrl: string): boolean {
  return scopes.some((s) => s === '*' || routeUrl === s || routeUrl.startsWith(s.endsWith('/') ? s : `${s}/`));
}

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  scopes: string[];
  createdBy: string;
  createdMs: number;
  /** 0 = never. */
  expiresMs: number;
  revokedMs: number;
  lastUsedMs: number;
}

function tokenFromRow(r: Selectable<ApiTokensTable>): ApiToken {
  return {
    id: r.id,
    name: r.name,
    role: isRole(r.role) ? r.role : 'viewer',
    scopes: JSON.parse(r.scopes) as string[],
    createdBy: r.created_by,
    createdMs: Number(r.created_ms),
    expiresMs: Number(r.expires_ms),
    revokedMs: Number(r.revoked_ms),
    lastUsedMs: Number(r.last_used_ms),
  };
}

export type TokenRefusal = 'malformed' | 'unknown' | 'revoked' | 'expired';

/** Only write last-used once a minute per token: a script polling every second must not mean a write per call. */
const LAST_USED_EVERY_MS = 60_000;
/**
 * While the database is unreachable, a token it accepted this recently is still taken (expiry
 * checked): a Prometheus scraping /metrics keeps seeing the server, `falconet_server_database_up 0`
 * included, through an outage. Nothing can revoke a token while the database is away.
 */
const KNOWN_DURING_OUTAGE_MS = 15 * 60_000;

/** API tokens for scripts: a role, scopes, an expiry, revocable; only a hash of the secret is stored. */
export class ApiTokenRepository {
  readonly #meta: MetaDb;
  /** Tokens the database accepted, by id, with their secret's hash: taken for a while when it is unreachable. */
  readonly #accepted = new Map<string, { hash: string; token: ApiToken; atMs: number }>();

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  async create(
    spec: { name: string; role: Role; scopes: string[]; expiresMs: number; createdBy: string },
    nowMs = Date.now(),
  ): Promise<{ token: string; record: ApiToken }> {
    const { id, secret, token } = mint(API_TOKEN_PREFIX);
    const row = {
      id,
      name: spec.name,
      role: spec.role,
      scopes: JSON.stringify(spec.scopes),
      secret_hash: secretHash(secret),
      created_by: spec.createdBy,
      created_ms: nowMs,
      expires_ms: spec.expiresMs,
      revoked_ms: 0,
      last_used_ms: 0,
    };
    await this.#meta.db.insertInto('api_tokens').values(row).execute();
    return { token, record: tokenFromRow(row) };
  }

  async list(): Promise<ApiToken[]> {
    const rows = await this.#meta.db.selectFrom('api_tokens').selectAll().orderBy('created_ms', 'desc').execute();
    return rows.map(tokenFromRow);
  }

  async get(id: string): Promise<ApiToken | undefined> {
    const r = await this.#meta.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? tokenFromRow(r) : undefined;
  }

  async revoke(id: string, nowMs = Date.now()): Promise<boolean> {
    this.#accepted.delete(id);
    const r = await this.#meta.db
      .updateTable('api_tokens')
      .set({ revoked_ms: nowMs })
      .where('id', '=', id)
      .where('revoked_ms', '=', 0)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async verify(token: string, nowMs = Date.now()): Promise<ApiToken | TokenRefusal> {
    const parts = split(API_TOKEN_PREFIX, token);
    if (!parts) return 'malformed';
    const hash = secretHash(parts.secret);
    let row: Selectable<ApiTokensTable> | undefined;
    try {
      row = await this.#meta.db.selectFrom('api_tokens').selectAll().where('id', '=', parts.id).executeTakeFirst();
    } catch (err) {
      const known = this.#accepted.get(parts.id);
      if (!isDatabaseUnavailable(err) || !known || !sameHash(known.hash, hash) || nowMs - known.atMs > KNOWN_DURING_OUTAGE_MS) throw err;
      return known.token.expiresMs && known.token.expiresMs <= nowMs ? 'expired' : known.token;
    }
    if (!row || !sameHash(row.secret_hash, hash)) return 'unknown';
    const t = tokenFromRow(row);
    this.#accepted.delete(t.id);
    if (t.revokedMs) return 'revoked';
    if (t.expiresMs && t.expiresMs <= nowMs) return 'expired';
    this.#accepted.set(t.id, { hash, token: t, atMs: nowMs });
    if (nowMs - t.lastUsedMs > LAST_USED_EVERY_MS) {
      // Best effort: a database that went away between the two statements does not refuse the token.
      await this.#meta.db
        .updateTable('api_tokens')
        .set({ last_used_ms: nowMs })
        .where('id', '=', t.id)
        .execute()
        .catch((err: unknown) => {
          if (!isDatabaseUnavailable(err)) throw err;
        });
    }
    return t;
  }
}

export interface EnrollmentToken {
  id: string;
  name: string;
  labels: Record<string, string>;
  createdBy: string;
  createdMs: number;
  expiresMs: number;
  maxUses: number;
  uses: number;
  revokedMs: number;
}

function enrollmentFromRow(r: Selectable<EnrollmentTokensTable>): EnrollmentToken {
  return {
    id: r.id,
    name: r.name,
    labels: JSON.parse(r.labels) as Record<string, string>,
    createdBy: r.created_by,
    createdMs: Number(r.created_ms),
    expiresMs: Number(r.expires_ms),
    maxUses: Number(r.max_uses),
    uses: Number(r.uses),
    revokedMs: Number(r.revoked_ms),
  };
}

/**
 * Enrollment tokens: a short-lived secret an operator pastes into a new agent's config, which
 * the agent exchanges once for its own per-agent credential (docs/security.md, "Agent enrollment").
 */
export class EnrollmentTokenRepository {
  readonly #meta: MetaDb;

  constructor(meta: MetaDb) {
    this.#meta = meta;
  }

  async create(
    spec: { name: string; labels: Record<string, string>; expiresMs: number; maxUses: number; createdBy: string },
    nowMs = Date.now(),
  ): Promise<{ token: string; record: EnrollmentToken }> {
    const { id, secret, token } = mint(ENROLLMENT_TOKEN_PREFIX);
    const row = {
      id,
      name: spec.name,
      secret_hash: secretHash(secret),
      labels: JSON.stringify(spec.labels),
      created_by: spec.createdBy,
      created_ms: nowMs,
      expires_ms: spec.expiresMs,
      max_uses: spec.maxUses,
      uses: 0,
      revoked_ms: 0,
    };
    await this.#meta.db.insertInto('enrollment_tokens').values(row).execute();
    return { token, record: enrollmentFromRow(row) };
  }

  async list(): Promise<EnrollmentToken[]> {
    const rows = await this.#meta.db.selectFrom('enrollment_tokens').selectAll().orderBy('created_ms', 'desc').execute();
    return rows.map(enrollmentFromRow);
  }

  async revoke(id: string, nowMs = Date.now()): Promise<boolean> {
    const r = await this.#meta.db
      .updateTable('enrollment_tokens')
      .set({ revoked_ms: nowMs })
      .where('id', '=', id)
      .where('revoked_ms', '=', 0)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * Spends one use of an enrollment token. The use is taken in one conditional UPDATE, so two
   * agents racing for the last use cannot both have it.
   */
  async redeem(token: string, nowMs = Date.now()): Promise<EnrollmentToken | TokenRefusal | 'used up'> {
    const parts = split(ENROLLMENT_TOKEN_PREFIX, token);
    if (!parts) return 'malformed';
    const row = await this.#meta.db.selectFrom('enrollment_tokens').selectAll().where('id', '=', parts.id).executeTakeFirst();
    if (!row || !sameHash(row.secret_hash, secretHash(parts.secret))) return 'unknown';
    const t = enrollmentFromRow(row);
    if (t.revokedMs) return 'revoked';
    if (t.expiresMs <= nowMs) return 'expired';
    const taken = await this.#meta.db
      .updateTable('enrollment_tokens')
      .set((eb) => ({ uses: eb('uses', '+', 1) }))
      .where('id', '=', t.id)
      .where('uses', '<', t.maxUses)
      .where('revoked_ms', '=', 0)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) return 'used up';
    return { ...t, uses: t.uses + 1 };
  }
}
