import { AuditLogPage, AuditQuery, ErrorBody } from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../../api/access.ts';
import type { AuthService } from '../service.ts';

/** The audit log, for admins, newest first. */
export const auditApi: FastifyPluginAsyncZod<{ auth: AuthService }> = async (app, { auth }) => {
  app.get(
    '/api/audit',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: 'The audit log, newest first',
        tags: ['audit'],
        querystring: AuditQuery,
        response: { 200: AuditLogPage, 400: ErrorBody },
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
