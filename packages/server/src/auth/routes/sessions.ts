import { timingSafeEqual } from 'node:crypto';
import { ErrorBody, NoContent, PasswordChangeBody, Session, SetupBody, SignInBody } from '@falconet/protocol/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../../api/access.ts';
import { ApiError, errorBody } from '../../api/errors.ts';
import type { AccessGuard } from '../guard.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../passwords.ts';
import type { AuthService } from '../service.ts';
import { auditRequest, BODY_LIMIT, caller } from './request.ts';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function retryAfter(reply: FastifyReply, ms: number): void {
  reply.header('retry-after', String(Math.max(1, Math.ceil(ms / 1000))));
}

function userAgent(req: FastifyRequest): string {
  return String(req.headers['user-agent'] ?? '');
}

/** Who the caller is, sign-in and sign-out, the first run's setup, and changing one's own password. */
export const sessionsApi: FastifyPluginAsyncZod<{ auth: AuthService; guard: AccessGuard; warnings?: () => readonly string[] }> = async (
  app,
  { auth, guard, warnings },
) => {
  /** What an admin is told about risks the configuration accepted, with every answer that says who they are. */
  const warningsFor = (role: string | undefined) => (role === 'admin' ? { warnings: [...(warnings?.() ?? [])] } : {});

  app.get(
    '/api/auth/session',
    {
      config: { public: true },
      schema: { summary: 'Who the caller is, and the CSRF token for changes', tags: ['auth'], response: { 200: Session } },
    },
    async (req) => {
      const id = req.identity;
      const secured = await auth.secured();
      return {
        mode: !secured ? ('setup' as const) : id ? ('signed-in' as const) : ('signed-out' as const),
        user: id ? { name: id.name, role: id.role, kind: id.kind } : null,
        csrfToken: id?.csrf ?? null,
        expiresMs: id?.kind === 'session' ? id.expiresMs : null,
        ...warningsFor(id?.role),
      };
    },
  );

  app.post(
    '/api/auth/signin',
    {
      bodyLimit: BODY_LIMIT,
      config: { public: true, audit: false },
      schema: {
        summary: 'Sign in with a name and password; sets the session cookie',
        tags: ['auth'],
        body: SignInBody,
        response: {
          200: Session,
          400: ErrorBody,
          401: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const r = await auth.signIn(req.body.name, req.body.password, req.ip, userAgent(req));
      if (!r.ok) {
        if (r.reason === 'invalid') return reply.status(401).send(errorBody('invalid_credentials', 'wrong name or password'));
        retryAfter(reply, r.retryAfterMs);
        const wait = `${Math.ceil(r.retryAfterMs / 1000)} s`;
        return reply
          .status(429)
          .send(
            r.reason === 'locked'
              ? errorBody('locked', `too many wrong passwords for this name; try again in ${wait}`)
              : errorBody('rate_limited', `too many sign-in attempts from this address; try again in ${wait}`),
          );
      }
      reply.header('set-cookie', guard.sessionCookie(r.session.jwt, r.session.expiresMs));
      return {
        mode: 'signed-in' as const,
        user: { name: r.user.name, role: r.user.role, kind: 'session' as const },
        csrfToken: r.session.csrf,
        expiresMs: r.session.expiresMs,
        ...warningsFor(r.user.role),
      };
    },
  );

  app.post(
    '/api/auth/signout',
    {
      config: { public: true, audit: false },
      schema: { summary: 'End the session and clear its cookie', tags: ['auth'], response: { 204: NoContent } },
    },
    async (req, reply) => {
      const id = req.identity;
      if (id?.kind === 'session' && id.sessionId) {
        await auth.sessions.revoke(id.sessionId);
        auth.cutSockets((s) => s.sessionId === id.sessionId);
        await auditRequest(req, auth.audit, { actor: id.name, action: 'signout', address: req.ip });
      }
      reply.header('set-cookie', guard.clearSessionCookie());
      return reply.status(204).send(null);
    },
  );

  let settingUp = false;
  app.post(
    '/api/auth/setup',
    {
      bodyLimit: BODY_LIMIT,
      config: { public: true, audit: false },
      schema: {
        summary: 'First run: create the first admin with the one-time token printed on the console',
        tags: ['auth'],
        body: SetupBody,
        response: { 200: Session, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const waitMs = auth.throttle.take(req.ip);
      if (waitMs > 0) {
        retryAfter(reply, waitMs);
        return reply.status(429).send(errorBody('rate_limited', 'too many attempts from this address'));
      }
      if (settingUp || (await auth.secured()) || !auth.setupToken) {
        return reply.status(409).send(errorBody('already_set_up', 'a user exists already; sign in instead'));
      }
      if (!sameSecret(req.body.token, auth.setupToken)) {
        await auditRequest(req, auth.audit, { actor: 'anonymous', action: 'setup', address: req.ip, outcome: 'denied' });
        return reply.status(403).send(errorBody('bad_setup_token', 'the setup token does not match the one printed on the console'));
      }
      const problem = passwordProblem(req.body.password, req.body.name);
      if (problem) throw new ApiError(400, 'bad_request', `body password: ${problem}`);
      settingUp = true;
      try {
        const user = await auth.users.create(req.body.name, 'admin', await hashPassword(req.body.password));
        auth.markSecured();
        await auditRequest(req, auth.audit, {
          actor: user.name,
          action: 'setup',
          target: user.name,
          address: req.ip,
          detail: { role: 'admin' },
        });
        const session = await auth.sessions.issue(user.id, req.ip, userAgent(req));
        reply.header('set-cookie', guard.sessionCookie(session.jwt, session.expiresMs));
        return {
          mode: 'signed-in' as const,
          user: { name: user.name, role: user.role, kind: 'session' as const },
          csrfToken: session.csrf,
          expiresMs: session.expiresMs,
          ...warningsFor(user.role),
        };
      } finally {
        settingUp = false;
      }
    },
  );

  app.put(
    '/api/auth/password',
    {
      bodyLimit: BODY_LIMIT,
      config: { minRole: 'viewer', audit: false },
      schema: {
        summary: 'Change your own password; ends your other sessions',
        tags: ['auth'],
        body: PasswordChangeBody,
        response: { 204: NoContent, 400: ErrorBody, 403: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = caller(req);
      if (id.kind !== 'session' || !id.userId) {
        return reply.status(403).send(errorBody('session_only', 'only a signed-in user has a password to change'));
      }
      const waitMs = auth.throttle.take(req.ip);
      if (waitMs > 0) {
        retryAfter(reply, waitMs);
        return reply.status(429).send(errorBody('rate_limited', 'too many attempts from this address'));
      }
      const user = await auth.users.byId(id.userId);
      if (!user || !(await verifyPassword(req.body.current, user.passwordHash))) {
        await auditRequest(req, auth.audit, {
          actor: id.name,
          action: 'password.change',
          target: id.name,
          address: req.ip,
          outcome: 'denied',
        });
        return reply.status(403).send(errorBody('invalid_credentials', 'the current password is wrong'));
      }
      const problem = passwordProblem(req.body.password, user.name);
      if (problem) throw new ApiError(400, 'bad_request', `body password: ${problem}`);
      await auth.users.update(user.id, { passwordHash: await hashPassword(req.body.password) });
      const ended = await auth.sessions.revokeUser(user.id, id.sessionId);
      auth.cutSockets((s) => s.userId === user.id && s.sessionId !== id.sessionId);
      await auditRequest(req, auth.audit, {
        actor: id.name,
        action: 'password.change',
        target: id.name,
        address: req.ip,
        detail: { sessionsEnded: ended.length },
      });
      return reply.status(204).send(null);
    },
  );
};
