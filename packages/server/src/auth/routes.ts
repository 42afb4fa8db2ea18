import { timingSafeEqual } from 'node:crypto';
import { parseDuration } from '@falconet/protocol/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import '../api/access.ts';
import { ROLE_RANK } from '../api/access.ts';
import { ApiError, errorBody } from '../api/errors.ts';
import { ErrorResponse, timeParam } from '../api/schemas.ts';
import type { AuditEvent } from './audit.ts';
import type { AccessGuard } from './guard.ts';
import { NAME_PATTERN, NAME_RULE } from './ids.ts';
import { hashPassword, PASSWORD_MAX, passwordProblem, verifyPassword } from './passwords.ts';
import { type AuthService, actorOf, type Identity } from './service.ts';
import { scopeProblem } from './tokens.ts';
import { ROLES, type User } from './users.ts';

/** Credentials and settings are small; nothing here needs the API's general 4 MiB body limit. */
const BODY_LIMIT = 16 * 1024;

const Name = z.string().regex(NAME_PATTERN, NAME_RULE);
const RoleSchema = z.enum(ROLES as ['viewer', 'operator', 'admin']);
const Password = z.string().min(1).max(PASSWORD_MAX);

const UserSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: RoleSchema,
    disabled: z.boolean(),
    lockedUntilMs: z.number(),
    createdMs: z.number(),
    updatedMs: z.number(),
  })
  .meta({ id: 'User' });

const TokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: RoleSchema,
    scopes: z.array(z.string()),
    createdBy: z.string(),
    createdMs: z.number(),
    expiresMs: z.number().describe('0 = never'),
    revokedMs: z.number().describe('0 = not revoked'),
    lastUsedMs: z.number(),
  })
  .meta({ id: 'ApiToken' });

const EnrollmentTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    labels: z.record(z.string(), z.string()),
    createdBy: z.string(),
    createdMs: z.number(),
    expiresMs: z.number(),
    maxUses: z.number(),
    uses: z.number(),
    revokedMs: z.number(),
  })
  .meta({ id: 'EnrollmentToken' });

const SessionSchema = z.object({
  mode: z.enum(['setup', 'signed-in', 'signed-out']).describe('setup: no user exists yet, loopback needs no sign-in'),
  user: z.object({ name: z.string(), role: RoleSchema, kind: z.enum(['session', 'token', 'local']) }).nullable(),
  csrfToken: z.string().nullable().describe('echo in X-Falconet-CSRF on changes made with the session cookie'),
  expiresMs: z.number().nullable(),
  warnings: z
    .array(z.string())
    .optional()
    .describe(
      'admins only: risks the configuration accepted, for the dashboard to show (grpc_plaintext: a plaintext agent channel beyond loopback)',
    ),
});

/** `30d`, `12h`, or `never`; returns an absolute expiry, 0 for never. */
function expiryFrom(input: string, field: string, nowMs = Date.now()): number {
  if (input === 'never') return 0;
  let ms: number;
  try {
    ms = parseDuration(input);
  } catch (err) {
    throw new ApiError(400, 'bad_request', `body ${field}: ${(err as Error).message} or never`);
  }
  if (ms < 60_000 || ms > 3650 * 86_400_000) throw new ApiError(400, 'bad_request', `body ${field}: between 1m and 3650d`);
  return nowMs + ms;
}

const view = (u: User) => ({
  id: u.id,
  name: u.name,
  role: u.role,
  disabled: u.disabled,
  lockedUntilMs: u.lockedUntilMs,
  createdMs: u.createdMs,
  updatedMs: u.updatedMs,
});

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

/** Sign-in, sign-out, first-run setup, users, API tokens, enrollment tokens and the audit log. */
export const authApi: FastifyPluginAsyncZod<{ auth: AuthService; guard: AccessGuard; warnings?: () => readonly string[] }> = async (
  app,
  { auth, guard, warnings },
) => {
  const me = (req: FastifyRequest) => req.identity as Identity;
  /** What an admin is told about risks the configuration accepted, with every answer that says who they are. */
  const warningsFor = (role: string | undefined) => (role === 'admin' ? { warnings: [...(warnings?.() ?? [])] } : {});
  /** Records an event and marks the request as audited, so the guard's catch-all does not record it twice. */
  const audit = (req: FastifyRequest, e: AuditEvent) => {
    req.audited = true;
    return auth.audit.record(e);
  };

  app.get(
    '/api/auth/session',
    {
      config: { public: true },
      schema: { summary: 'Who the caller is, and the CSRF token for changes', tags: ['auth'], response: { 200: SessionSchema } },
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
        body: z.object({ name: z.string().min(1).max(64), password: Password }),
        response: {
          200: SessionSchema,
          400: ErrorResponse,
          401: ErrorResponse,
          429: ErrorResponse,
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
      schema: { summary: 'End the session and clear its cookie', tags: ['auth'], response: { 204: z.null() } },
    },
    async (req, reply) => {
      const id = req.identity;
      if (id?.kind === 'session' && id.sessionId) {
        await auth.sessions.revoke(id.sessionId);
        auth.cutSockets((s) => s.sessionId === id.sessionId);
        await audit(req, { actor: id.name, action: 'signout', address: req.ip });
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
        body: z.object({ token: z.string().min(1).max(200), name: Name, password: Password }),
        response: { 200: SessionSchema, 400: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse },
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
        await audit(req, { actor: 'anonymous', action: 'setup', address: req.ip, outcome: 'denied' });
        return reply.status(403).send(errorBody('bad_setup_token', 'the setup token does not match the one printed on the console'));
      }
      const problem = passwordProblem(req.body.password, req.body.name);
      if (problem) throw new ApiError(400, 'bad_request', `body password: ${problem}`);
      settingUp = true;
      try {
        const user = await auth.users.create(req.body.name, 'admin', await hashPassword(req.body.password));
        auth.markSecured();
        await audit(req, { actor: user.name, action: 'setup', target: user.name, address: req.ip, detail: { role: 'admin' } });
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
        body: z.object({ current: Password, password: Password }),
        response: { 204: z.null(), 400: ErrorResponse, 403: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (req, reply) => {
      const id = me(req);
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
        await audit(req, { actor: id.name, action: 'password.change', target: id.name, address: req.ip, outcome: 'denied' });
        return reply.status(403).send(errorBody('invalid_credentials', 'the current password is wrong'));
      }
      const problem = passwordProblem(req.body.password, user.name);
      if (problem) throw new ApiError(400, 'bad_request', `body password: ${problem}`);
      await auth.users.update(user.id, { passwordHash: await hashPassword(req.body.password) });
      const ended = await auth.sessions.revokeUser(user.id, id.sessionId);
      auth.cutSockets((s) => s.userId === user.id && s.sessionId !== id.sessionId);
      await audit(req, {
        actor: id.name,
        action: 'password.change',
        target: id.name,
        address: req.ip,
        detail: { sessionsEnded: ended.length },
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/users',
    {
      config: { minRole: 'admin' },
      schema: { summary: 'Users', tags: ['users'], response: { 200: z.object({ items: z.array(UserSchema) }) } },
    },
    async () => ({ items: (await auth.users.list()).map(view) }),
  );

  app.post(
    '/api/users',
    {
      bodyLimit: BODY_LIMIT,
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Create a user',
        tags: ['users'],
        body: z.object({ name: Name, role: RoleSchema, password: Password }),
        response: { 201: UserSchema, 400: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (req, reply) => {
      const id = me(req);
      if (id.kind === 'local') {
        return reply
          .status(403)
          .send(
            errorBody('setup_required', 'the first user is made with the setup link printed on the console or falconet-server create-user'),
          );
      }
      const problem = passwordProblem(req.body.password, req.body.name);
      if (problem) throw new ApiError(400, 'bad_request', `body password: ${problem}`);
      if (await auth.users.byName(req.body.name)) throw new ApiError(409, 'conflict', `user "${req.body.name}" exists already`);
      const user = await auth.users.create(req.body.name, req.body.role, await hashPassword(req.body.password));
      await audit(req, { actor: actorOf(id), action: 'user.create', target: user.name, address: req.ip, detail: { role: user.role } });
      return reply.status(201).send(view(user));
    },
  );

  /** Refuses a change that would leave no enabled admin: nobody could manage users any more. */
  async function keepAnAdmin(target: User, becomesNonAdmin: boolean): Promise<void> {
    if (target.role === 'admin' && !target.disabled && becomesNonAdmin && (await auth.users.countAdmins()) <= 1) {
      throw new ApiError(409, 'last_admin', `"${target.name}" is the last admin; make another admin first`);
    }
  }

  async function target(name: string) {
    const u = await auth.users.byName(name);
    if (!u) throw new ApiError(404, 'not_found', `user "${name}" not found`);
    return u;
  }

  app.patch(
    '/api/users/:name',
    {
      bodyLimit: BODY_LIMIT,
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Change a user: role, password, disabled, or lift a lockout',
        tags: ['users'],
        params: z.object({ name: Name }),
        body: z
          .object({
            role: RoleSchema.optional(),
            password: Password.optional(),
            disabled: z.boolean().optional(),
            unlock: z.literal(true).optional(),
          })
          .strict(),
        response: { 200: UserSchema, 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (req) => {
      const id = me(req);
      const u = await target(req.params.name);
      const { role, password, disabled, unlock } = req.body;
      await keepAnAdmin(u, (role !== undefined && role !== 'admin') || disabled === true);
      if (password !== undefined) {
        const problem = passwordProblem(password, u.name);
        if (problem) throw new ApiError(400, 'bad_request', `body password: ${problem}`);
      }
      await auth.users.update(u.id, {
        ...(role ? { role } : {}),
        ...(password !== undefined ? { passwordHash: await hashPassword(password) } : {}),
        ...(disabled !== undefined ? { disabled } : {}),
        ...(unlock ? { unlock } : {}),
      });
      if (password !== undefined || disabled === true || (role && ROLE_RANK[role] < ROLE_RANK[u.role])) {
        // Fewer rights or a new password: what was signed in before must sign in again.
        await auth.sessions.revokeUser(u.id);
        auth.cutSockets((s) => s.userId === u.id);
      }
      await audit(req, {
        actor: actorOf(id),
        action: 'user.update',
        target: u.name,
        address: req.ip,
        detail: { role, disabled, unlock, password: password !== undefined ? 'changed' : undefined },
      });
      return view((await auth.users.byId(u.id)) as User);
    },
  );

  app.delete(
    '/api/users/:name',
    {
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Remove a user and end their sessions',
        tags: ['users'],
        params: z.object({ name: Name }),
        response: { 204: z.null(), 404: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (req, reply) => {
      const u = await target(req.params.name);
      await keepAnAdmin(u, true);
      await auth.sessions.revokeUser(u.id);
      await auth.users.delete(u.id);
      auth.cutSockets((s) => s.userId === u.id);
      await audit(req, { actor: actorOf(me(req)), action: 'user.delete', target: u.name, address: req.ip });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/tokens',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: 'API tokens (never their secrets)',
        tags: ['tokens'],
        response: { 200: z.object({ items: z.array(TokenSchema) }) },
      },
    },
    async () => ({ items: await auth.tokens.list() }),
  );

  app.post(
    '/api/tokens',
    {
      bodyLimit: BODY_LIMIT,
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Create an API token; its secret is in this answer only',
        tags: ['tokens'],
        body: z.object({
          name: Name,
          role: RoleSchema,
          scopes: z.array(z.string().max(200)).min(1).max(50).default(['*']).describe('* or route prefixes such as /api/metrics'),
          expires: z.string().max(20).default('90d').describe('30d, 12h, ... or never'),
        }),
        response: { 201: z.object({ token: z.string(), record: TokenSchema }), 400: ErrorResponse, 403: ErrorResponse },
      },
    },
    async (req, reply) => {
      const id = me(req);
      if (ROLE_RANK[req.body.role] > ROLE_RANK[id.role]) {
        throw new ApiError(403, 'forbidden', `a ${id.role} cannot make a token with the ${req.body.role} role`);
      }
      for (const s of req.body.scopes) {
        const problem = scopeProblem(s);
        if (problem) throw new ApiError(400, 'bad_request', `body scopes: ${problem}`);
      }
      const made = await auth.tokens.create({
        name: req.body.name,
        role: req.body.role,
        scopes: req.body.scopes,
        expiresMs: expiryFrom(req.body.expires, 'expires'),
        createdBy: actorOf(id),
      });
      await audit(req, {
        actor: actorOf(id),
        action: 'token.create',
        target: made.record.name,
        address: req.ip,
        detail: { id: made.record.id, role: made.record.role, scopes: made.record.scopes, expiresMs: made.record.expiresMs },
      });
      return reply.status(201).send(made);
    },
  );

  app.delete(
    '/api/tokens/:id',
    {
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Revoke an API token',
        tags: ['tokens'],
        params: z.object({ id: z.string().max(64) }),
        response: { 204: z.null(), 404: ErrorResponse },
      },
    },
    async (req, reply) => {
      const t = await auth.tokens.get(req.params.id);
      if (!t) throw new ApiError(404, 'not_found', `token "${req.params.id}" not found`);
      await auth.tokens.revoke(t.id);
      auth.cutSockets((s) => s.tokenId === t.id);
      await audit(req, { actor: actorOf(me(req)), action: 'token.revoke', target: t.name, address: req.ip, detail: { id: t.id } });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/enrollment-tokens',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: 'Agent enrollment tokens (never their secrets)',
        tags: ['tokens'],
        response: { 200: z.object({ items: z.array(EnrollmentTokenSchema) }) },
      },
    },
    async () => ({ items: await auth.enrollment.list() }),
  );

  app.post(
    '/api/enrollment-tokens',
    {
      bodyLimit: BODY_LIMIT,
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Create an agent enrollment token; its secret is in this answer only',
        tags: ['tokens'],
        body: z.object({
          name: Name,
          expires: z.string().max(20).default('24h'),
          maxUses: z.number().int().min(1).max(100_000).default(1),
          labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/), z.string().max(256)).default({}),
        }),
        response: { 201: z.object({ token: z.string(), record: EnrollmentTokenSchema }), 400: ErrorResponse },
      },
    },
    async (req, reply) => {
      const id = me(req);
      const expiresMs = expiryFrom(req.body.expires, 'expires');
      if (expiresMs === 0) throw new ApiError(400, 'bad_request', 'body expires: an enrollment token must expire');
      const made = await auth.enrollment.create({
        name: req.body.name,
        labels: req.body.labels,
        expiresMs,
        maxUses: req.body.maxUses,
        createdBy: actorOf(id),
      });
      await audit(req, {
        actor: actorOf(id),
        action: 'enrollment.create',
        target: made.record.name,
        address: req.ip,
        detail: { id: made.record.id, maxUses: made.record.maxUses, expiresMs },
      });
      return reply.status(201).send(made);
    },
  );

  app.delete(
    '/api/enrollment-tokens/:id',
    {
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Revoke an enrollment token',
        tags: ['tokens'],
        params: z.object({ id: z.string().max(64) }),
        response: { 204: z.null(), 404: ErrorResponse },
      },
    },
    async (req, reply) => {
      if (!(await auth.enrollment.revoke(req.params.id))) {
        throw new ApiError(404, 'not_found', `enrollment token "${req.params.id}" not found or already revoked`);
      }
      await audit(req, { actor: actorOf(me(req)), action: 'enrollment.revoke', target: req.params.id, address: req.ip });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/audit',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: 'The audit log, newest first',
        tags: ['audit'],
        querystring: z.object({
          actor: z.string().max(200).optional(),
          action: z.string().max(200).optional(),
          outcome: z.enum(['ok', 'denied', 'failed', 'locked']).optional(),
          from: timeParam.optional(),
          to: timeParam.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          before: z.string().max(64).optional().describe('the last id of the previous page'),
        }),
        response: {
          200: z.object({
            items: z.array(
              z.object({
                id: z.string(),
                tsMs: z.number(),
                actor: z.string(),
                action: z.string(),
                target: z.string(),
                address: z.string(),
                outcome: z.string(),
                detail: z.record(z.string(), z.unknown()),
              }),
            ),
          }),
          400: ErrorResponse,
        },
      },
    },
    async (req) => {
      const q = req.query;
      return {
        items: await auth.audit.query({
          actor: q.actor,
          action: q.action,
          outcome: q.outcome,
          fromMs: q.from,
          toMs: q.to,
          limit: q.limit,
          before: q.before,
        }),
      };
    },
  );
};
