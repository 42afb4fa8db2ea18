import { createHmac, randomBytes } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { MetaDb } from '../db/index.ts';
import { rowContext } from '../db/secrets.ts';
import { randomId } from './ids.ts';

const ISSUER = 'falconet';
const AUDIENCE = 'falconet-dashboard';

const SIGNING_KEY = 'session_signing_key';

/**
 * The HMAC key sessions are signed with: made once, kept in the database so every instance
 * shares it, sealed there under the master key (db/secrets.ts) so a copy of the database cannot
 * sign a cookie.
 */
export async function loadSigningKey(meta: MetaDb, nowMs = Date.now()): Promise<Uint8Array> {
  const box = await meta.secrets();
  const context = rowContext('auth_secrets', 'value', SIGNING_KEY);
  await meta.db
    .insertInto('auth_secrets')
    .values({ name: SIGNING_KEY, value: box.seal(randomBytes(32).toString('base64'), context), created_ms: nowMs })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  const row = await meta.db.selectFrom('auth_secrets').select('value').where('name', '=', SIGNING_KEY).executeTakeFirstOrThrow();
  return new Uint8Array(Buffer.from(box.open(row.value, context), 'base64'));
}

export interface SessionInfo {
  id: string;
  userId: string;
  expiresMs: number;
  /** The value a cookie-authenticated mutation must echo in `X-Falconet-CSRF`. */
  csrf: string;
}

export interface IssuedSession extends SessionInfo {
  /** The JWT that goes into the cookie. */
  jwt: string;
}

/**
 * Signed-in browsers. The cookie holds a short JWT (HS256, jose) naming a session row; the row
 * is what sign-out, password changes and user removal delete, so a stolen cookie dies with it.
 */
export class SessionStore {
  readonly #meta: MetaDb;
  readonly #key: Uint8Array;
  readonly ttlMs: number;

  constructor(meta: MetaDb, key: Uint8Array, ttlMs: number) {
    this.#meta = meta;
    this.#key = key;
    this.ttlMs = ttlMs;
  }

  csrfFor(sessionId: string): string {
    return createHmac('sha256', this.#key).update(`csrf:${sessionId}`).digest('base64url');
  }

  async #sign(sessionId: string, userId: string, expiresMs: number): Promise<string> {
    return await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresMs / 1000))
      .sign(this.#key);
  }

  async issue(userId: string, address: string, userAgent: string, nowMs = Date.now()): Promise<IssuedSession> {
    const id = randomId(18);
    const expiresMs = nowMs + this.ttlMs;
    await this.#meta.db
      .insertInto('sessions')
      .values({ id, user_id: userId, created_ms: nowMs, expires_ms: expiresMs, address, user_agent: userAgent.slice(0, 200) })
      .execute();
    return { id, userId, expiresMs, csrf: this.csrfFor(id), jwt: await this.#sign(id, userId, expiresMs) };
  }

  /** The live session a cookie names, or undefined when it is forged, expired or signed out. */
  async verify(jwt: string, nowMs = Date.now()): Promise<SessionInfo | undefined> {
    let sid: unknown;
    let sub: string | undefined;
    try {
      const { payload } = await jwtVerify(jwt, this.#key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
        currentDate: new Date(nowMs),
      });
      sid = payload.sid;
      sub = payload.sub;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return undefined;
      throw err;
    }
    if (typeof sid !== 'string' || !sub) return undefined;
    const row = await this.#meta.db.selectFrom('sessions').selectAll().where('id', '=', sid).executeTakeFirst();
    if (!row || row.user_id !== sub || Number(row.expires_ms) <= nowMs) return undefined;
    return { id: row.id, userId: row.user_id, expiresMs: Number(row.expires_ms), csrf: this.csrfFor(row.id) };
  }

  /** Sliding expiry: past half its life, a session in use gets a new lifetime and a new JWT. */
  async refreshIfDue(s: SessionInfo, nowMs = Date.now()): Promise<IssuedSession | undefined> {
    if (s.expiresMs - nowMs > this.ttlMs / 2) return undefined;
    const expiresMs = nowMs + this.ttlMs;
    await this.#meta.db.updateTable('sessions').set({ expires_ms: expiresMs }).where('id', '=', s.id).execute();
    return { ...s, expiresMs, jwt: await this.#sign(s.id, s.userId, expiresMs) };
  }

  async revoke(sessionId: string): Promise<void> {
    await this.#meta.db.deleteFrom('sessions').where('id', '=', sessionId).execute();
  }

  /** Ends every session of a user (or every other one, keeping `except`). Returns the ids ended. */
  async revokeUser(userId: string, except?: string): Promise<string[]> {
    let q = this.#meta.db.selectFrom('sessions').select('id').where('user_id', '=', userId);
    if (except) q = q.where('id', '!=', except);
    const ids = (await q.execute()).map((r) => r.id);
    if (ids.length) await this.#meta.db.deleteFrom('sessions').where('id', 'in', ids).execute();
    return ids;
  }

  async purgeExpired(nowMs = Date.now()): Promise<void> {
    await this.#meta.db.deleteFrom('sessions').where('expires_ms', '<=', nowMs).execute();
  }
}
