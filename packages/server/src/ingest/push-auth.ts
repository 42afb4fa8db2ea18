import type { Socket } from 'node:net';
import { ROLE_RANK } from '../api/access.ts';
import type { AuditEvent } from '../auth/audit.ts';
import type { AuthService, Identity } from '../auth/service.ts';
import { scopeAllows } from '../auth/tokens.ts';
import type { RejectReason } from './counters.ts';
import type { PushSender } from './push-limits.ts';

/** The route whose role and scope a push needs, on HTTP and on the TCP listener alike. */
export const PUSH_ROUTE = '/api/v1/push';

export type SenderCheck =
  | { ok: true; sender: PushSender }
  | { ok: false; reason: RejectReason; message: string /** For the audit log. */; actor: string };

/** How the Open-Falcon TCP listener learns who a sender is, and where it records what it refused. */
export interface TransferAuth {
  /** Checks the token of a connection's first line; a good one ties the socket to it (cut when it is revoked). */
  verify(token: string, socket: Socket): Promise<SenderCheck>;
  audit(e: AuditEvent): void;
}

/** The sender a push over HTTP is counted against: its token, its user, or the first-run local caller. */
export function httpSender(identity: Identity | undefined, address: string): PushSender {
  if (!identity) return { key: `addr:${address}`, name: `sender ${address}` };
  if (identity.kind === 'token') return { key: `token:${identity.tokenId}`, name: `token:${identity.name}` };
  if (identity.kind === 'local') return { key: 'local', name: 'local' };
  return { key: `user:${identity.name}`, name: identity.name };
}

/**
 * TCP senders present the same API tokens as POST /api/v1/push (made with `create-token --api` or
 * the Settings page): the operator role and a scope covering /api/v1/push. One credential per
 * sender for both push paths, with the expiry, revocation, last-used time and audit trail API
 * tokens already have, and one budget under the push caps.
 */
export function apiTokenTransferAuth(auth: AuthService): TransferAuth {
  return {
    async verify(token, socket) {
      const t = await auth.tokens.verify(token);
      if (typeof t === 'string') {
        const reason: RejectReason = t === 'revoked' ? 'token_revoked' : t === 'expired' ? 'token_expired' : 'token_invalid';
        return {
          ok: false,
          reason,
          actor: 'anonymous',
          message: `API token ${t === 'malformed' || t === 'unknown' ? 'is not known' : `is ${t}`}`,
        };
      }
      const actor = `token:${t.name}`;
      if (ROLE_RANK[t.role] < ROLE_RANK.operator) {
        return {
          ok: false,
          reason: 'token_forbidden',
          actor,
          message: `API token ${t.name} is ${t.role}; pushing needs the operator role`,
        };
      }
      if (!scopeAllows(t.scopes, PUSH_ROUTE)) {
        return { ok: false, reason: 'token_forbidden', actor, message: `API token ${t.name} has no scope for ${PUSH_ROUTE}` };
      }
      auth.trackSocket({ kind: 'token', name: t.name, role: t.role, tokenId: t.id, scopes: t.scopes, expiresMs: t.expiresMs }, socket);
      return { ok: true, sender: { key: `token:${t.id}`, name: actor } };
    },
    audit(e) {
      void auth.audit.record(e);
    },
  };
}
