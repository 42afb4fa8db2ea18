import { isIP } from 'node:net';
import type { pb } from '@falconet/protocol';
import type { AgentTokens } from '../agents/tokens.ts';
import type { RejectReason } from './counters.ts';

export type AuthResult = { ok: true; payloadKey?: Buffer; tokenId?: string } | { ok: false; reason: RejectReason; message: string };

/** Decides whether a Register may open a stream, and with which payload key. */
export type AgentAuthenticator = (reg: pb.Register, peer: string) => Promise<AuthResult>;

/** The address part of a gRPC peer string: `127.0.0.1:5000`, `[::1]:5000`, `ipv4:...`. */
export function peerHost(peer: string): string {
  const p = peer.replace(/^ipv[46]:/, '');
  const m = /^\[([^\]]+)\]:\d+$/.exec(p) ?? /^([^:]+):\d+$/.exec(p);
  return (m?.[1] ?? p).replace(/^::ffff:/, '');
}

export function isLoopbackPeer(peer: string): boolean {
  const host = peerHost(peer);
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export interface AuthPolicy {
  tokens: AgentTokens;
  /**
   * Whether an agent without a token is refused. By default: when it connects from beyond this
   * machine, when ingest.require_token is set, or once any agent token was made. The auth issue
   * adds "once a user exists".
   */
  requireToken(peer: string): Promise<boolean>;
}

/**
 * Token checks for the agent channel: a token, when given, must be valid, unexpired, unrevoked and
 * made for this agent (its hostname or agent id); no token is accepted only where the policy allows.
 */
export function agentAuthenticator(policy: AuthPolicy): AgentAuthenticator {
  return async (reg, peer) => {
    if (reg.token) {
      const check = await policy.tokens.verify(reg.token);
      if (!check.ok) {
        const reason: RejectReason =
          check.reason === 'unknown' ? 'token_invalid' : check.reason === 'expired' ? 'token_expired' : 'token_revoked';
        return { ok: false, reason, message: `agent token rejected: ${check.message}` };
      }
      const t = check.token;
      if (t.agent !== reg.agentId && t.agent !== reg.hostname) {
        return {
          ok: false,
          reason: 'token_wrong_agent',
          message: `agent token rejected: token ${t.id} is for agent "${t.agent}", not ${reg.hostname} (${reg.agentId})`,
        };
      }
      return { ok: true, payloadKey: check.payloadKey, tokenId: t.id };
    }
    if (await policy.requireToken(peer)) {
      return {
        ok: false,
        reason: 'token_missing',
        message: 'this server requires an agent token: make one with `falconet-server create-token --agent NAME` and set server.token',
      };
    }
    return { ok: true };
  };
}
