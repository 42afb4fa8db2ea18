import type { FastifyRequest } from 'fastify';
import type { AuditEvent, AuditLog } from '../audit.ts';
import type { Identity } from '../service.ts';

/** Credentials and settings are small; nothing in the auth routes needs the API's general 4 MiB body limit. */
export const BODY_LIMIT = 16 * 1024;

/** The caller of a route that needs one: the access guard let nobody else through. */
export const caller = (req: FastifyRequest): Identity => req.identity as Identity;

/** Records an event and marks the request as audited, so the guard's catch-all does not record it twice. */
export function auditRequest(req: FastifyRequest, log: AuditLog, e: AuditEvent): Promise<void> {
  req.audited = true;
  return log.record(e);
}
