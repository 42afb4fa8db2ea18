import { createHash, randomBytes } from 'node:crypto';
import { derivePayloadKey } from '@falconet/protocol';
import type { MetaDb } from '../db/index.ts';
import { rowContext } from '../db/secrets.ts';

/**
 * Per-agent tokens. A token is shown once, when created; the server keeps only its SHA-256 (tokens
 * are 256 random bits, so a fast hash is enough) and the AES key derived from it, which opens the
 * agent's sealed payloads. A token names the agent it is for (hostname or agent id); an agent
 * presenting another agent's token is refused.
 */
export interface AgentToken {
  id: string;
  agent: string;
  createdMs: number;
  expiresMs: number | null;
  revokedMs: number | null;
  lastUsedMs: number | null;
}

export type TokenRefusal = 'unknown' | 'expired' | 'revoked';

export type TokenCheck =
  | { ok: true; token: AgentToken; payloadKey: Buffer }
  | { ok: false; reason: TokenRefusal; message: string; token?: AgentToken };

const PREFIX = 'fnt_';
const AGENT_NAME = /^[A-Za-z0-9._-]{1,128}$/;

/** The payload key is sealed at rest (db/secrets.ts), bound to its token's row. */
const payloadKeyContext = (id: string) => rowContext('agent_tokens', 'payload_key', id);

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

type Row = {
  id: string;
  agent: string;
  created_ms: number;
  expires_ms: number | null;
  revoked_ms: number | null;
  last_used_ms: number | null;
};

function toToken(r: Row): AgentToken {
  return {
    id: r.id,
    agent: r.agent,
    createdMs: Number(r.created_ms),
    expiresMs: r.expires_ms === null ? null : Number(r.expires_ms),
    revokedMs: r.revoked_ms === null ? null : Number(r.revoked_ms),
    lastUsedMs: r.last_used_ms === null ? null : Number(r.last_used_ms),
  };
}

export class AgentTokens {
  readonly #meta: MetaDb;
  readonly #now: () => number;

  constructor(meta: MetaDb, now: () => number = Date.now) {
    this.#meta = meta;
    this.#now = now;
  }

  /** Makes a token for `agent`; the returned `token` string exists nowhere else afterwards. */
  async create(agent: string, opts: { expiresInMs?: number } = {}): Promise<{ token: string; record: AgentToken }> {
    if (!AGENT_NAME.test(agent)) throw new Error(`--agent "${agent}": expected a hostname or agent id (letters, digits, . _ -)`);
    if (opts.expiresInMs !== undefined && !(opts.expiresInMs > 0)) throw new Error('--expires must be a positive duration');
    const token = `${PREFIX}${randomBytes(32).toString('base64url')}`;
    const now = this.#now();
    const id = randomBytes(6).toString('hex');
    const row = {
      id,
      agent,
      token_hash: hashToken(token),
      payload_key: (await this.#meta.secrets()).seal(derivePayloadKey(token).toString('hex'), payloadKeyContext(id)),
      created_ms: now,
      expires_ms: opts.expiresInMs === undefined ? null : now + opts.expiresInMs,
      revoked_ms: null,
      last_used_ms: null,
    };
    await this.#meta.db.insertInto('agent_tokens').values(row).execute();
    return { token, record: toToken(row) };
  }

  async verify(token: string): Promise<TokenCheck> {
    if (!token.startsWith(PREFIX)) return { ok: false, reason: 'unknown', message: 'the token is not a falconet agent token' };
    const row = await this.#meta.db.selectFrom('agent_tokens').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
    if (!row) return { ok: false, reason: 'unknown', message: 'unknown token' };
    const t = toToken(row);
    const now = this.#now();
    if (t.revokedMs !== null) return { ok: false, reason: 'revoked', message: `token ${t.id} was revoked`, token: t };
    if (t.expiresMs !== null && t.expiresMs <= now) {
      return { ok: false, reason: 'expired', message: `token ${t.id} expired at ${new Date(t.expiresMs).toISOString()}`, token: t };
    }
    await this.#meta.db.updateTable('agent_tokens').set({ last_used_ms: now }).where('id', '=', t.id).execute();
    const payloadKey = (await this.#meta.secrets()).open(row.payload_key, payloadKeyContext(t.id));
    return { ok: true, token: { ...t, lastUsedMs: now }, payloadKey: Buffer.from(payloadKey, 'hex') };
  }

  async revoke(id: string): Promise<boolean> {
    const r = await this.#meta.db
      .updateTable('agent_tokens')
      .set({ revoked_ms: this.#now() })
      .where('id', '=', id)
      .where('revoked_ms', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async list(agent?: string): Promise<AgentToken[]> {
    let q = this.#meta.db.selectFrom('agent_tokens').select(['id', 'agent', 'created_ms', 'expires_ms', 'revoked_ms', 'last_used_ms']);
    if (agent) q = q.where('agent', '=', agent);
    return (await q.orderBy('created_ms').execute()).map(toToken);
  }

  /** True once any token was ever made: from then on every agent must present a valid one. */
  async anyIssued(): Promise<boolean> {
    const row = await this.#meta.db.selectFrom('agent_tokens').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }
}
