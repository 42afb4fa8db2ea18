import type { pb } from '@falconet/protocol';
import { hostOf, isLoopbackAddress } from '@falconet/protocol/net';
import type { Labels } from '../agents/labels.ts';
import type { AgentTokens } from '../agents/tokens.ts';
import type { RejectReason } from './counters.ts';

export type AuthResult =
  | {
      ok: true;
      payloadKey?: Buffer;
      tokenId?: string;
      /** The token's labels: trusted, they choose the agent for label-targeted tasks. */
      labels?: Labels;
      /** This registration bound the token to the agent (its enrolment). */
      enrolled?: boolean;
    }
  | { ok: false; reason: RejectReason; message: string; tokenId?: string };

/** Decides whether a Register may open a stream, and with which payload key. */
export type AgentAuthenticator = (reg: pb.Register, peer: string) => Promise<AuthResult>;

/** Whether a gRPC peer (`127.0.0.1:5000`, `[::1]:5000`, `ipv4:...`) is on this machine. */
export function isLoopbackPeer(peer: string): boolean {
  return isLoopbackAddress(hostOf(peer.replace(/^ipv[46]:/, '')));
}

export interface AuthPolicy {
  tokens: AgentTokens;
  /**
   * Whether an agent without a token is refused. By default: when it connects from beyond this
   * machine, when ingest.require_token is set, or once any agent token was made. The auth issue
   * adds "once a user exists".
   */
  requireToken(peer: string): Promise<boolean>;
  /** The hostname the server knows `agentId` under (registry or agents table); undefined for an unknown agent. */
  knownHostname(agentId: string): Promise<string | undefined>;
}

const refused = (tokenId: string, message: string): AuthResult => ({
  ok: false,
  reason: 'token_wrong_agent',
  message: `agent token rejected: ${message}`,
  tokenId,
});

/**
 * Token checks for the agent channel: a token, when given, must be valid, unexpired and unrevoked,
 * and is one agent identity. A bound token takes exactly its agent id and hostname. An unbound one
 * must be named for the agent (its hostname or agent id) and binds to it, unless that agent id is
 * known under another hostname or bound to another token. No token is accepted only where the
 * policy allows.
 */
export function agentAuthenticator(policy: AuthPolicy): AgentAuthenticator {
  return async (reg, peer) => {
    if (reg.token) {
      const check = await policy.tokens.verify(reg.token);
      if (!check.ok) {
        const reason: RejectReason =
          check.reason === 'unknown' ? 'token_invalid' : check.reason === 'expired' ? 'token_expired' : 'token_revoked';
        return {
          ok: false,
          reason,
          message: `agent token rejected: ${check.message}`,
          ...(check.token ? { tokenId: check.token.id } : {}),
        };
      }
      const t = check.token;
      const accepted = (enrolled: boolean): AuthResult => ({
        ok: true,
        payloadKey: check.payloadKey,
        tokenId: t.id,
        labels: t.labels,
        enrolled,
      });
      if (t.bound) return sameIdentity(t.bound, reg) ? accepted(false) : refused(t.id, boundMessage(t.id, t.bound, reg));
      if (t.agent !== reg.agentId && t.agent !== reg.hostname) {
        return refused(t.id, `token ${t.id} is for agent "${t.agent}", not ${printable(reg.hostname)} (${printable(reg.agentId)})`);
      }
      // Enrolment: the first registration binds the token, but never to an agent that is someone else.
      const known = await policy.knownHostname(reg.agentId);
      if (known !== undefined && known !== reg.hostname) {
        return refused(t.id, `agent id "${reg.agentId}" is already known as host "${printable(known)}"; token ${t.id} cannot take it`);
      }
      const other = (await policy.tokens.boundTo(reg.agentId)).find((o) => o.id !== t.id);
      if (other) return refused(t.id, `agent id "${reg.agentId}" belongs to token ${other.id}; token ${t.id} cannot take it`);
      if (await policy.tokens.bind(t.id, reg.agentId, reg.hostname)) return accepted(true);
      // Another registration with this token bound it first: this one must be that same agent.
      const now = (await policy.tokens.get(t.id))?.bound;
      if (now && sameIdentity(now, reg)) return accepted(false);
      return refused(t.id, now ? boundMessage(t.id, now, reg) : `token ${t.id} could not be bound`);
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

function sameIdentity(bound: { agentId: string; hostname: string }, reg: pb.Register): boolean {
  return bound.agentId === reg.agentId && bound.hostname === reg.hostname;
}

function boundMessage(tokenId: string, bound: { agentId: string; hostname: string }, reg: pb.Register): string {
  return (
    `token ${tokenId} is bound to agent "${bound.agentId}" (host "${printable(bound.hostname)}"), not "${printable(reg.agentId)}" (host "${printable(reg.hostname)}"); ` +
    'a reinstalled or renamed host needs a token of its own (falconet-server create-token --agent NAME)'
  );
}

/** A claimed name as it may appear in a message or a log: cut short, control characters replaced. */
export function printable(text: string, max = 128): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}
