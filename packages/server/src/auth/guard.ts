import type { Role } from '@falconet/protocol/api';
import { hostOf, isLoopbackAddress, isLoopbackHost } from '@falconet/protocol/net';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ROLE_RANK } from '../api/access.ts';
import { errorBody } from '../api/errors.ts';
import { parseCookies, serializeCookie } from './cookies.ts';
import { type AuthService, actorOf, type Identity } from './service.ts';
import { scopeAllows } from './tokens.ts';

export const SESSION_COOKIE = 'falconet_session';
export const CSRF_HEADER = 'x-falconet-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, set by the access guard before any handler runs; undefined = anonymous. */
    identity: Identity | undefined;
    /** Set by a handler that wrote its own audit entry for this request. */
    audited: boolean;
  }
  interface FastifyContextConfig {
    /** false: this route records its own audit entries (or is data, not a change, like ingest). */
    audit?: boolean;
  }
}

/** One route as the guard knows it; the authorization matrix test walks this table. */
export interface RouteEntry {
  method: string;
  url: string;
  websocket: boolean;
  options: RouteOptions;
}

export interface RouteAccess {
  public: boolean;
  minRole: Role | undefined;
}

export function routeAccess(e: RouteEntry): RouteAccess {
  const c = e.options.config as { public?: boolean; minRole?: Role } | undefined;
  return { public: c?.public === true, minRole: c?.minRole };
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function refuse(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  // A refused WebSocket upgrade has no HTTP parser left on its socket: close it once answered.
  if (reply.request.headers.upgrade) reply.raw.once('finish', () => reply.request.raw.socket?.destroy());
  return reply.status(status).send(errorBody(code, message));
}

/** The request comes from a page of this same server, or from no browser page at all. */
function sameOrigin(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    const u = new URL(origin);
    return u.host === req.headers.host && u.protocol === `${req.protocol}:`;
  } catch {
    return false;
  }
}

export interface GuardOptions {
  secureCookies: boolean;
}

export interface AccessGuard {
  /** Every route registered after the guard, including HEAD twins and static files. */
  readonly routes: RouteEntry[];
  sessionCookie(jwt: string, expiresMs: number): string;
  clearSessionCookie(): string;
}

/**
 * Puts the access rule in front of every route. Runs in onRequest, before any body is read:
 * - a route must declare `config.public` or `config.minRole`; one that declares neither refuses
 *   every request (fail closed);
 * - until the first user exists, only loopback clients naming a loopback host get in, as `local`;
 * - afterwards a session cookie or `Authorization: Bearer` token is needed, with a role of at
 *   least the route's minRole and, for tokens, a scope that covers the route;
 * - browser mutations must be same-origin, and cookie-authenticated ones must echo the
 *   session's CSRF token in X-Falconet-CSRF;
 * - WebSocket upgrades are checked the same way, and cut when their credential ends.
 * Must be installed before any route is registered.
 */
export function installAccessGuard(app: FastifyInstance, auth: AuthService, opts: GuardOptions): AccessGuard {
  const routes: RouteEntry[] = [];
  const sessionCookie = (jwt: string, expiresMs: number) =>
    serializeCookie(SESSION_COOKIE, jwt, {
      httpOnly: true,
      secure: opts.secureCookies,
      sameSite: 'Strict',
      maxAgeSeconds: (expiresMs - Date.now()) / 1000,
    });
  const clearSessionCookie = () => serializeCookie(SESSION_COOKIE, '', { httpOnly: true, secure: opts.secureCookies, maxAgeSeconds: 0 });

  app.decorateRequest('identity', undefined);
  app.decorateRequest('audited', false);

  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const method of methods) routes.push({ method, url: r.url, websocket: Boolean(r.websocket), options: r });
  });
  app.addHook('onReady', async () => {
    // Checked once all routes exist: static files get `public` from their scope's own onRoute hook.
    for (const e of routes) {
      const a = routeAccess(e);
      if (!a.public && !a.minRole)
        app.log.error({ route: `${e.method} ${e.url}` }, 'route declares no access rule; it refuses every request');
    }
  });

  async function identify(req: FastifyRequest, reply: FastifyReply): Promise<Identity | 'refused' | undefined> {
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const m = /^Bearer +([A-Za-z0-9_-]{1,200})$/.exec(authorization);
      if (!m) {
        refuse(reply, 401, 'unauthorized', 'Authorization must be "Bearer TOKEN"');
        return 'refused';
      }
      const t = await auth.tokens.verify(m[1] as string);
      if (typeof t === 'string') {
        reply.header('www-authenticate', 'Bearer error="invalid_token"');
        refuse(
          reply,
          401,
          'unauthorized',
          `API token ${t === 'malformed' ? 'is malformed' : t === 'unknown' ? 'is not known' : `is ${t}`}`,
        );
        return 'refused';
      }
      return { kind: 'token', name: t.name, role: t.role, tokenId: t.id, scopes: t.scopes, expiresMs: t.expiresMs };
    }
    const jwt = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (!jwt) return undefined;
    const session = await auth.sessions.verify(jwt);
    const user = session ? await auth.users.byId(session.userId) : undefined;
    if (!session || !user || user.disabled) {
      reply.header('set-cookie', clearSessionCookie());
      return undefined;
    }
    const renewed = await auth.sessions.refreshIfDue(session);
    if (renewed) reply.header('set-cookie', sessionCookie(renewed.jwt, renewed.expiresMs));
    return {
      kind: 'session',
      name: user.name,
      role: user.role,
      userId: user.id,
      sessionId: session.id,
      scopes: ['*'],
      csrf: session.csrf,
      expiresMs: (renewed ?? session).expiresMs,
    };
  }

  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url;
    const config = req.routeOptions.config as { public?: boolean; minRole?: Role } | undefined;
    const upgrade = req.headers.upgrade?.toLowerCase() === 'websocket';
    const found = await identify(req, reply);
    if (found === 'refused') return reply;
    let identity = found;

    if (!(await auth.secured())) {
      // The first run: no sign-in, so nothing but this machine may come in. Checking the Host
      // header too stops DNS rebinding, where a web page's own name resolves to 127.0.0.1.
      if (!isLoopbackAddress(req.socket.remoteAddress) || !isLoopbackHost(hostOf(req.headers.host ?? ''))) {
        return refuse(
          reply,
          403,
          'loopback_only',
          'until the first user exists this server answers only on loopback; create one with falconet-server create-user',
        );
      }
      identity ??= { kind: 'local', name: 'local', role: 'admin', scopes: ['*'], expiresMs: 0 };
    }
    req.identity = identity;

    const browserCredential = identity?.kind !== 'token';
    if (browserCredential && (MUTATING.has(req.method) || upgrade) && !sameOrigin(req)) {
      return refuse(reply, 403, 'cross_origin', 'cross-origin requests are refused');
    }

    if (url === undefined) {
      // No such route: the dashboard's client-side pages are public, anything else needs an identity.
      if (!identity && !(req.method === 'GET' && !req.url.startsWith('/api/'))) {
        return refuse(reply, 401, 'unauthorized', 'sign in or send an API token');
      }
      return;
    }
    if (config?.public) return;
    const minRole = config?.minRole;
    if (!minRole || !(minRole in ROLE_RANK)) {
      return refuse(reply, 403, 'no_access_rule', `${req.method} ${url} declares no access rule, so it is refused`);
    }
    if (!identity) return refuse(reply, 401, 'unauthorized', 'sign in or send an API token');
    if (ROLE_RANK[identity.role] < ROLE_RANK[minRole]) {
      return refuse(reply, 403, 'forbidden', `${req.method} ${url} needs the ${minRole} role; ${actorOf(identity)} is ${identity.role}`);
    }
    if (identity.kind === 'token' && !scopeAllows(identity.scopes, url)) {
      return refuse(reply, 403, 'forbidden', `API token ${identity.name} has no scope for ${url}`);
    }
    if (identity.kind === 'session' && MUTATING.has(req.method) && req.headers[CSRF_HEADER] !== identity.csrf) {
      return refuse(reply, 403, 'csrf', `a signed-in change needs the ${CSRF_HEADER} header from GET /api/auth/session`);
    }
    if (upgrade && req.raw.socket) auth.trackSocket(identity, req.raw.socket);
  });

  // Changes are audited here once for every module. Routes that audit themselves (or are data, not
  // changes) say `audit: false`; their refusals by a known caller are still recorded here.
  app.addHook('onResponse', async (req, reply) => {
    const url = req.routeOptions.url;
    const config = req.routeOptions.config as { audit?: boolean } | undefined;
    if (!MUTATING.has(req.method) || url === undefined || req.audited) return;
    if (config?.audit === false && (reply.statusCode < 400 || !req.identity)) return;
    // Anonymous refusals are noise anyone can generate; they go to the server log only.
    if (!req.identity) {
      if (reply.statusCode === 401) req.log.info({ method: req.method, url, address: req.ip }, 'anonymous change refused');
      if (reply.statusCode === 401) return;
    }
    const status = reply.statusCode;
    await auth.audit.record({
      actor: actorOf(req.identity),
      action: `${req.method} ${url}`,
      target: req.url.split('?')[0] ?? '',
      address: req.ip,
      outcome: status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : 'failed',
      detail: { status },
    });
  });

  return { routes, sessionCookie, clearSessionCookie };
}
