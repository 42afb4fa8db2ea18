import { ErrorBody, NewUserBody, NoContent, UserChangeBody, UserList, UserParams, User as UserSchema } from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ROLE_RANK } from '../../api/access.ts';
import { ApiError, errorBody } from '../../api/errors.ts';
import { hashPassword, passwordProblem } from '../passwords.ts';
import { type AuthService, actorOf } from '../service.ts';
import type { User } from '../users.ts';
import { auditRequest, BODY_LIMIT, caller } from './request.ts';

/** A user as the API shows it: never the password hash nor the count of failed sign-ins. */
const view = (u: User) => ({
  id: u.id,
  name: u.name,
  role: u.role,
  disabled: u.disabled,
  lockedUntilMs: u.lockedUntilMs,
  createdMs: u.createdMs,
  updatedMs: u.updatedMs,
});

/** Users, for admins: list, create, change (role, password, disabled, lockout), remove. */
export const usersApi: FastifyPluginAsyncZod<{ auth: AuthService }> = async (app, { auth }) => {
  app.get(
    '/api/users',
    {
      config: { minRole: 'admin' },
      schema: { summary: 'Users', tags: ['users'], response: { 200: UserList } },
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
        body: NewUserBody,
        response: { 201: UserSchema, 400: ErrorBody, 403: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = caller(req);
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
      await auditRequest(req, auth.audit, {
        actor: actorOf(id),
        action: 'user.create',
        target: user.name,
        address: req.ip,
        detail: { role: user.role },
      });
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
        params: UserParams,
        body: UserChangeBody,
        response: { 200: UserSchema, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const id = caller(req);
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
      await auditRequest(req, auth.audit, {
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
        params: UserParams,
        response: { 204: NoContent, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const u = await target(req.params.name);
      await keepAnAdmin(u, true);
      await auth.sessions.revokeUser(u.id);
      await auth.users.delete(u.id);
      auth.cutSockets((s) => s.userId === u.id);
      await auditRequest(req, auth.audit, { actor: actorOf(caller(req)), action: 'user.delete', target: u.name, address: req.ip });
      return reply.status(204).send(null);
    },
  );
};
