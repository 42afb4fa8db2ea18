import { z } from 'zod';
import { Labels, oneOrMany, pageOf, paging } from './common.ts';
import { AGENT_STATUSES, FORGET_DATA } from './enums.ts';

export const AgentStatus = z.enum(AGENT_STATUSES);
export type AgentStatus = z.infer<typeof AgentStatus>;

export const Agent = z
  .object({
    id: z.string(),
    hostname: z.string(),
    ips: z.array(z.string()),
    primaryIp: z.string(),
    os: z.string(),
    kernel: z.string(),
    arch: z.string(),
    platform: z.string(),
    version: z.string(),
    labels: Labels.describe('declared by the agent itself: shown and filtered on, never used to choose it for tasks'),
    tokenLabels: Labels.describe('fixed in the token it registered with (create-token --label)'),
    serverLabels: Labels.describe('set on the server (PUT /api/agents/:id/labels)'),
    trustedLabels: Labels.describe('tokenLabels overridden by serverLabels: the only labels that choose it for label-targeted tasks'),
    bootTimeMs: z.number(),
    intervalMs: z.number(),
    firstSeenMs: z.number(),
    lastSeenMs: z.number(),
    summary: z.record(z.string(), z.number()),
    status: AgentStatus,
    connected: z.boolean(),
    sequenceRefused: z
      .object({ seq: z.number(), lastSeq: z.number(), atMs: z.number() })
      .nullable()
      .describe('its reports are refused for their sequence (too far beyond the last acknowledged); an operator may reset it'),
  })
  .meta({ id: 'Agent' });
export type Agent = z.infer<typeof Agent>;

/** Summary values an agent list can be sorted and filtered by (`where=cpu>80`). */
export const AGENT_NUMERIC_FIELDS = [
  'lastSeenMs',
  'firstSeenMs',
  'cpu',
  'memory',
  'disk',
  'load1',
  'networkRx',
  'networkTx',
  'uptime',
] as const;
export type AgentNumericField = (typeof AGENT_NUMERIC_FIELDS)[number];
export const AGENT_SORT_KEYS = ['hostname', 'id', 'status', 'os', 'version', ...AGENT_NUMERIC_FIELDS] as const;
export type AgentSortKey = (typeof AGENT_SORT_KEYS)[number];

/** GET /api/agents */
export const AgentListQuery = z.object({
  q: z.string().max(200).optional().describe('substring of hostname, id or IP'),
  status: AgentStatus.optional(),
  label: oneOrMany(z.string()).optional().describe('label filter NAME=VALUE; repeat for several'),
  os: z.string().max(200).optional().describe('substring of the operating system'),
  platform: z.string().max(100).optional(),
  version: z.string().max(100).optional().describe('agent version, exact'),
  where: oneOrMany(z.string().max(100), 20)
    .optional()
    .describe('numeric filter FIELD OP NUMBER, e.g. cpu>80 or disk>=90; repeat for several'),
  sort: z.enum(AGENT_SORT_KEYS).default('hostname'),
  order: z.enum(['asc', 'desc']).default('asc'),
  ...paging(10_000, 1000),
});
export const AgentList = pageOf(Agent);
export type AgentList = z.infer<typeof AgentList>;

/** `:id` of /api/agents/:id/... */
export const AgentParams = z.object({ id: z.string().max(128) });

/** PUT /api/agents/:id/labels */
export const AgentLabelsBody = z.object({ labels: Labels.describe('the whole set; "" removes a label of its token') });
export type AgentLabelsBody = z.infer<typeof AgentLabelsBody>;

/** POST /api/agents/:id/sequence/reset */
export const SequenceReset = z.object({ agentId: z.string(), previousLastSeq: z.number(), lastSeq: z.number() });
export type SequenceReset = z.infer<typeof SequenceReset>;

/** DELETE /api/agents/:id?data=keep|drop */
export const AgentForgetQuery = z.object({
  data: z
    .enum(FORGET_DATA)
    .describe('keep: its samples stay (and are its history again if the same id registers); drop: they are deleted too'),
});
export type AgentForgetQuery = z.infer<typeof AgentForgetQuery>;
export type ForgetData = (typeof FORGET_DATA)[number];

export const AgentForgotten = z
  .object({
    agentId: z.string(),
    hostname: z.string(),
    data: z.enum(FORGET_DATA),
    droppedSeries: z.number().describe('series deleted from the metric store (0 with data=keep)'),
    alertsRemoved: z.number().describe('alerts of the agent taken out, with nothing sent'),
    revokedTokens: z.array(z.string()).describe('ids of the agent tokens bound to it, revoked so it cannot register again with them'),
  })
  .meta({ id: 'AgentForgotten' });
export type AgentForgotten = z.infer<typeof AgentForgotten>;
