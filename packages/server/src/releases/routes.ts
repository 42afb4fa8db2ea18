import { ErrorBody, NewRolloutBody, ReleaseList, RolloutDetail, RolloutList, RolloutParams } from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { notFound } from '../api/errors.ts';
import { actorOf } from '../tasks/routes.ts';
import type { UpdateService } from './service.ts';
import type { ReleaseStore } from './store.ts';

/** REST for self-update: everyone signed in reads, admins start and steer rollouts (docs/update.md). */
export const releasesApi: FastifyPluginAsyncZod<{ releases: ReleaseStore; updates: UpdateService }> = async (
  app,
  { releases, updates },
) => {
  app.get(
    '/api/releases',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Agent releases stored on the server, newest first, and the release public key',
        tags: ['updates'],
        response: { 200: ReleaseList },
      },
    },
    async () => ({
      items: releases.list().map((r) => ({
        version: r.manifest.version,
        target: r.manifest.target,
        sha256: r.manifest.sha256,
        size: r.manifest.size,
        minVersion: r.manifest.min_version,
        createdMs: r.manifest.created_ms,
      })),
      publicKey: releases.publicKeyPem(),
    }),
  );

  app.get(
    '/api/rollouts',
    {
      config: { minRole: 'viewer' },
      schema: { summary: 'Rollouts, newest first, with counts by agent state', tags: ['updates'], response: { 200: RolloutList } },
    },
    async () => ({ items: updates.list() }),
  );

  app.post(
    '/api/rollouts',
    {
      config: { minRole: 'admin' },
      schema: {
        summary: 'Start offering a stored release to a share of the agents (by labels and target)',
        tags: ['updates'],
        body: NewRolloutBody,
        response: { 201: RolloutDetail, 400: ErrorBody },
      },
    },
    async (req, reply) => reply.status(201).send(await updates.create(req.body, actorOf(req))),
  );

  app.get(
    '/api/rollouts/:id',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One rollout with every chosen agent and its state',
        tags: ['updates'],
        params: RolloutParams,
        response: { 200: RolloutDetail, 404: ErrorBody },
      },
    },
    async (req) => {
      const r = updates.get(req.params.id);
      if (!r) throw notFound(`rollout ${req.params.id}`);
      return r;
    },
  );

  for (const [action, status] of [
    ['pause', 'paused'],
    ['resume', 'active'],
    ['cancel', 'cancelled'],
  ] as const) {
    app.post(
      `/api/rollouts/:id/${action}`,
      {
        config: { minRole: 'admin' },
        schema: {
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} a rollout`,
          tags: ['updates'],
          params: RolloutParams,
          response: { 200: RolloutDetail, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (req) => await updates.setStatus(req.params.id, status, actorOf(req)),
    );
  }
};
