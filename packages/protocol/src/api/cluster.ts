import { z } from 'zod';

/** One node of a cluster as the others hear it (its heartbeat on the bus). */
export const ClusterNode = z.object({
  node: z.string(),
  self: z.boolean().describe('this is the node that answered'),
  http: z.string().describe("the node's HTTP address, as it gives it"),
  version: z.string(),
  startedMs: z.number(),
  heardMs: z.number().describe('when its last heartbeat came (now for the node that answered)'),
  agents: z.number().describe('agents whose stream it holds'),
  watching: z.number().describe('agents its dashboards watch live'),
  databases: z
    .array(z.object({ role: z.string(), up: z.boolean(), reason: z.string() }))
    .describe('its PostgreSQL databases (metadata, samples) as it sees them; empty when it has none'),
});
export type ClusterNode = z.infer<typeof ClusterNode>;

/** GET /api/cluster */
export const ClusterStatus = z.object({
  enabled: z.boolean().describe('false: this server is alone (cluster.nats is empty)'),
  cluster: z.string(),
  node: z.string(),
  bus: z.object({ servers: z.array(z.string()), connected: z.boolean() }),
  nodes: z.array(ClusterNode).describe('every node heard from in the last 15 s, this one first'),
});
export type ClusterStatus = z.infer<typeof ClusterStatus>;
