import type { ErrorBody } from '@falconet/protocol/api';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isDatabaseUnavailable, unavailableReason } from '../db/health.ts';

/**
 * An error a route answers with: `{error: {code, message}}` and its HTTP status. The modules
 * behind the routes throw it (or a subclass) for a request they turn down.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/**
 * Every error leaves the API in one shape, naming the field that was wrong. With `spaShell`, a GET
 * outside /api that matches no route gets the dashboard's index.html: the app routes on the client.
 */
export function installErrorHandling(
  app: FastifyInstance,
  spaShell?: (reply: FastifyReply) => unknown,
  /** Told when a request failed because the database is away (db/health.ts confirms and logs it). */
  databaseUnavailable?: (err: unknown) => void,
): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).send(errorBody(err.code, err.message));
    // PostgreSQL restarting or away: a clear 503 at once, not a bare 500; the pools reconnect by themselves.
    if (isDatabaseUnavailable(err)) {
      databaseUnavailable?.(err);
      return reply
        .status(503)
        .header('retry-after', '5')
        .send(
          errorBody(
            'database_unavailable',
            `the database is unavailable (${unavailableReason(err)}); the server reconnects by itself, try again shortly`,
          ),
        );
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const message = err.validation
        .map((v) => {
          const field =
            v.instancePath.replace(/^\//, '').replace(/\//g, '.') ||
            (v.params as { issue?: { path?: unknown[] } })?.issue?.path?.join('.') ||
            where;
          return `${where} ${field}: ${v.message}`;
        })
        .join('; ');
      return reply.status(400).send(errorBody('bad_request', message));
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const code =
      status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : status >= 500 ? 'internal' : 'bad_request';
    return reply.status(status).send(errorBody(code, status >= 500 ? 'internal server error' : err.message));
  });
  app.setNotFoundHandler((req, reply) => {
    if (spaShell && req.method === 'GET' && !req.url.startsWith('/api/')) return spaShell(reply);
    return reply.status(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
}
