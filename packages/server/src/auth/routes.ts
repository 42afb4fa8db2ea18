import type { FastifyPluginAsync } from 'fastify';
import type { AccessGuard } from './guard.ts';
import { auditApi } from './routes/audit.ts';
import { sessionsApi } from './routes/sessions.ts';
import { tokensApi } from './routes/tokens.ts';
import { usersApi } from './routes/users.ts';
import type { AuthService } from './service.ts';

/** Sign-in and sessions, users, API and enrollment tokens, and the audit log: one file each under routes/. */
export const authApi: FastifyPluginAsync<{ auth: AuthService; guard: AccessGuard; warnings?: () => readonly string[] }> = async (
  app,
  opts,
) => {
  await app.register(sessionsApi, opts);
  await app.register(usersApi, { auth: opts.auth });
  await app.register(tokensApi, { auth: opts.auth });
  await app.register(auditApi, { auth: opts.auth });
};
