import {
  ApiTokenList,
  EnrollmentTokenList,
  ErrorBody,
  NewApiToken,
  NewApiTokenBody,
  NewEnrollmentToken,
  NewEnrollmentTokenBody,
  NoContent,
  TokenParams,
} from '@falconet/protocol/api';
import { parseDuration } from '@falconet/protocol/config';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ROLE_RANK } from '../../api/access.ts';
import { ApiError } from '../../api/errors.ts';
import { type AuthService, actorOf } from '../service.ts';
import { scopeProblem } from '../tokens.ts';
import { auditRequest, BODY_LIMIT, caller } from './request.ts';

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

/** API tokens for scripts and enrollment tokens for agents, for admins: list, create (the secret answered once), revoke. */
export const tokensApi: FastifyPluginAsyncZod<{ auth: AuthService }> = async (app, { auth }) => {
  app.get(
    '/api/tokens',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: 'API tokens (never their secrets)',
        tags: ['tokens'],
        response: { 200: ApiTokenList },
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
        body: NewApiTokenBody,
        response: { 201: NewApiToken, 400: ErrorBody, 403: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = caller(req);
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
      await auditRequest(req, auth.audit, {
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
        params: TokenParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const t = await auth.tokens.get(req.params.id);
      if (!t) throw new ApiError(404, 'not_found', `token "${req.params.id}" not found`);
      await auth.tokens.revoke(t.id);
      auth.cutSockets((s) => s.tokenId === t.id);
      await auditRequest(req, auth.audit, {
        actor: actorOf(caller(req)),
        action: 'token.revoke',
        target: t.name,
        address: req.ip,
        detail: { id: t.id },
      });
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
        response: { 200: EnrollmentTokenList },
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
        body: NewEnrollmentTokenBody,
        response: { 201: NewEnrollmentToken, 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const id = caller(req);
      const expiresMs = expiryFrom(req.body.expires, 'expires');
      if (expiresMs === 0) throw new ApiError(400, 'bad_request', 'body expires: an enrollment token must expire');
      const made = await auth.enrollment.create({
        name: req.body.name,
        labels: req.body.labels,
        expiresMs,
        maxUses: req.body.maxUses,
        createdBy: actorOf(id),
      });
      await auditRequest(req, auth.audit, {
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
        params: TokenParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      if (!(await auth.enrollment.revoke(req.params.id))) {
        throw new ApiError(404, 'not_found', `enrollment token "${req.params.id}" not found or already revoked`);
      }
      await auditRequest(req, auth.audit, {
        actor: actorOf(caller(req)),
        action: 'enrollment.revoke',
        target: req.params.id,
        address: req.ip,
      });
      return reply.status(204).send(null);
    },
  );
};
