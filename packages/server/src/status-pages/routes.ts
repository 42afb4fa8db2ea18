import {
  ErrorBody,
  Incident,
  IncidentList,
  IncidentNote,
  IncidentParams,
  IncidentSpec,
  NoContent,
  PublicStatusPage,
  PublicStatusParams,
  StatusPage,
  StatusPageList,
  StatusPageParams,
  StatusPageSpec,
} from '@falconet/protocol/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { errorBody } from '../api/errors.ts';
import { actorOf } from '../auth/service.ts';
import { SignInThrottle } from '../auth/throttle.ts';
import type { StatusPageService } from './service.ts';

export interface StatusPagesApiOptions {
  pages: StatusPageService;
  /** Sends the public page's HTML (the dashboard build's status.html); undefined when the dashboard is not built. */
  html?: ((reply: FastifyReply) => unknown) | undefined;
  /** Public requests an address may make at once, and per minute after that. */
  publicBurst?: number;
  publicPerMinute?: number;
}

const notFoundBody = errorBody('not_found', 'no such status page');

export const statusPagesApi: FastifyPluginAsyncZod<StatusPagesApiOptions> = async (app, opts) => {
  const { pages } = opts;
  // The public doors cost store queries: a visitor (or a scanner of slugs) gets a bounded rate per address.
  const throttle = new SignInThrottle({
    burst: opts.publicBurst ?? 30,
    perMinute: opts.publicPerMinute ?? 60,
    maxFailures: 1,
    lockoutMs: 0,
  });
  const limited = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const waitMs = throttle.take(req.ip);
    if (!waitMs) return false;
    reply
      .status(429)
      .header('retry-after', String(Math.ceil(waitMs / 1000)))
      .send(errorBody('rate_limited', 'too many requests for status pages from this address; try again shortly'));
    return true;
  };

  // --- public: no sign-in -------------------------------------------------------------------

  app.get(
    '/api/public/status/:slug',
    {
      config: { public: true, audit: false },
      schema: {
        summary: 'A public status page: its hosts and monitors with 90 days of daily uptime, and its incidents (no sign-in)',
        tags: ['status-pages'],
        params: PublicStatusParams,
        response: { 200: PublicStatusPage, 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      if (limited(req, reply)) return reply;
      const view = await pages.publicView(req.params.slug);
      if (!view) return reply.status(404).send(notFoundBody);
      // The figures are recomputed once a minute anyway; a shared cache may hold them as long.
      reply.header('cache-control', `public, max-age=${Math.round(pages.cacheMs / 1000)}`);
      return view;
    },
  );

  app.get(
    '/status/:slug',
    {
      config: { public: true },
      schema: { hide: true, params: PublicStatusParams },
    },
    async (req, reply) => {
      if (limited(req, reply)) return reply;
      const view = await pages.publicView(req.params.slug);
      if (!opts.html)
        return reply.status(view ? 503 : 404).send(view ? errorBody('unavailable', 'the dashboard is not built') : notFoundBody);
      // The same page either way: it reads the JSON, and says "no such page" on its 404.
      reply.status(view ? 200 : 404);
      return opts.html(reply);
    },
  );

  // --- admin: operators write, viewers read -------------------------------------------------

  app.get(
    '/api/status-pages',
    {
      config: { minRole: 'viewer' },
      schema: { summary: 'Every status page', tags: ['status-pages'], response: { 200: StatusPageList } },
    },
    async () => ({ items: await pages.list() }),
  );
  app.post(
    '/api/status-pages',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Creates a status page',
        tags: ['status-pages'],
        body: StatusPageSpec,
        response: { 201: StatusPage, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => reply.status(201).send(await pages.create(req.body, actorOf(req.identity))),
  );
  app.get(
    '/api/status-pages/:id',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One status page',
        tags: ['status-pages'],
        params: StatusPageParams,
        response: { 200: StatusPage, 404: ErrorBody },
      },
    },
    async (req) => pages.get(req.params.id),
  );
  app.put(
    '/api/status-pages/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Replaces a status page',
        tags: ['status-pages'],
        params: StatusPageParams,
        body: StatusPageSpec,
        response: { 200: StatusPage, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => pages.update(req.params.id, req.body),
  );
  app.delete(
    '/api/status-pages/:id',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Deletes a status page and its incidents',
        tags: ['status-pages'],
        params: StatusPageParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await pages.delete(req.params.id);
      return reply.status(204).send(null);
    },
  );
  app.get(
    '/api/status-pages/:id/preview',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'The page as the public sees it, computed now',
        tags: ['status-pages'],
        params: StatusPageParams,
        response: { 200: PublicStatusPage, 404: ErrorBody },
      },
    },
    async (req) => pages.compute(await pages.get(req.params.id)),
  );

  app.get(
    '/api/status-pages/:id/incidents',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: "A page's incidents, newest first",
        tags: ['status-pages'],
        params: StatusPageParams,
        response: { 200: IncidentList, 404: ErrorBody },
      },
    },
    async (req) => ({ items: await pages.incidents(req.params.id) }),
  );
  app.post(
    '/api/status-pages/:id/incidents',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Opens an incident on a page',
        tags: ['status-pages'],
        params: StatusPageParams,
        body: IncidentSpec,
        response: { 201: Incident, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req, reply) => reply.status(201).send(await pages.openIncident(req.params.id, req.body, actorOf(req.identity))),
  );
  app.put(
    '/api/status-pages/:id/incidents/:incident',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Edits an incident',
        tags: ['status-pages'],
        params: IncidentParams,
        body: IncidentSpec,
        response: { 200: Incident, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => pages.editIncident(req.params.id, req.params.incident, req.body, actorOf(req.identity)),
  );
  app.post(
    '/api/status-pages/:id/incidents/:incident/updates',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Adds a note to an incident, and resolves it with resolve: true',
        tags: ['status-pages'],
        params: IncidentParams,
        body: IncidentNote,
        response: { 200: Incident, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => pages.addNote(req.params.id, req.params.incident, req.body, actorOf(req.identity)),
  );
  app.delete(
    '/api/status-pages/:id/incidents/:incident',
    {
      config: { minRole: 'operator' },
      schema: {
        summary: 'Deletes an incident',
        tags: ['status-pages'],
        params: IncidentParams,
        response: { 204: NoContent, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      await pages.deleteIncident(req.params.id, req.params.incident);
      return reply.status(204).send(null);
    },
  );
};

/** The route table's public doors of this module, for the test that holds every other door shut. */
export const PUBLIC_STATUS_ROUTES = ['GET /api/public/status/:slug', 'GET /status/:slug'] as const;
