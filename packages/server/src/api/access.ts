import type { Role } from '@falconet/protocol/api';

/**
 * Who may call a route. Every route declares the least role it needs in its config,
 * `{ config: { minRole: 'viewer' } }`; the auth layer enforces it once users exist.
 * viewer: read; operator: act (tasks, silences, acknowledgements); admin: users, tokens, settings.
 */
export const ROLE_RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

declare module 'fastify' {
  interface FastifyContextConfig {
    minRole?: Role;
    /** Routes any caller may use (health checks, sign-in). */
    public?: boolean;
  }
}
