import { ClusterStatus } from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';

/** GET /api/cluster: the nodes of this server's cluster as the bus says (this one alone when it has none). */
export const clusterApi: FastifyPluginAsyncZod<{ status: () => ClusterStatus }> = async (app, { status }) => {
  app.get(
    '/api/cluster',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'The nodes of the cluster: their agents, dashboards, databases and when each was last heard',
        tags: ['cluster'],
        response: { 200: ClusterStatus },
      },
    },
    async () => status(),
  );
};
