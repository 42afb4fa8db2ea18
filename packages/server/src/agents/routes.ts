import {
  Agent,
  AgentForgetQuery,
  AgentForgotten,
  AgentLabelsBody,
  AgentList,
  AgentListQuery,
  type AgentNumericField,
  AgentParams,
  type AgentSortKey,
  ErrorBody,
  SequenceReset,
} from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import type { AlertService } from '../alerts/service.ts';
import { ApiError, notFound } from '../api/errors.ts';
import type { AuditLog } from '../auth/audit.ts';
import { actorOf } from '../auth/service.ts';
import type { LogStore } from '../logs/types.ts';
import type { AgentRegistry } from '../registry.ts';
import type { Store } from '../store/types.ts';
import { trustedLabelsProblem } from './labels.ts';
import type { AgentTokens } from './tokens.ts';

/** Summary values an agent list can be sorted and filtered by (`where=cpu>80`). */
const NUMERIC: Record<AgentNumericField, (a: Agent) => number> = {
  lastSeenMs: (a) => a.lastSeenMs,
  firstSeenMs: (a) => a.firstSeenMs,
  cpu: (a) => a.summary.falconet_cpu_usage_percent ?? -1,
  memory: (a) => a.summary.falconet_memory_used_percent ?? -1,
  disk: (a) => a.summary.falconet_disk_used_percent ?? -1,
  load1: (a) => a.summary.node_load1 ?? -1,
  networkRx: (a) => a.summary.falconet_network_receive_bytes_per_second ?? -1,
  networkTx: (a) => a.summary.falconet_network_transmit_bytes_per_second ?? -1,
  uptime: (a) => a.summary.falconet_uptime_seconds ?? -1,
};

const sortValue: Record<AgentSortKey, (a: Agent) => string | number> = {
  hostname: (a) => a.hostname.toLowerCase(),
  id: (a) => a.id,
  status: (a) => a.status,
  os: (a) => a.os.toLowerCase(),
  version: (a) => a.version,
  ...NUMERIC,
};

const WHERE = /^([a-zA-Z0-9]+)(>=|<=|!=|>|<|=)(-?\d+(?:\.\d+)?)$/;

function parseWhere(raw: string | string[] | undefined): ((a: Agent) => boolean)[] {
  return (Array.isArray(raw) ? raw : raw ? [raw] : []).map((w) => {
    const m = WHERE.exec(w.replaceAll(' ', ''));
    const get = m ? NUMERIC[m[1] as AgentNumericField] : undefined;
    if (!m || !get) {
      throw new ApiError(
        400,
        'bad_request',
        `querystring where: "${w}" is not FIELD OP NUMBER with FIELD one of ${Object.keys(NUMERIC).join(', ')}`,
      );
    }
    const n = Number(m[3]);
    const op = m[2];
    return (a) => {
      const v = get(a);
      return op === '>' ? v > n : op === '<' ? v < n : op === '>=' ? v >= n : op === '<=' ? v <= n : op === '=' ? v === n : v !== n;
    };
  });
}

export interface AgentsApiDeps {
  registry: AgentRegistry;
  store: Store;
  audit: AuditLog;
  /** Agent tokens: forgetting an agent revokes those bound to it. */
  tokens: AgentTokens;
  /** Alerting, when enabled: forgetting an agent takes its alerts out. */
  alerts: () => AlertService | undefined;
  /** The log store, whose sequences a reset forgets too. */
  logs?: LogStore | undefined;
}

export const agentsApi: FastifyPluginAsyncZod<AgentsApiDeps> = async (app, { registry, store, audit, tokens, alerts, logs }) => {
  app.get(
    '/api/agents',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'List agents, with filtering, sorting and pagination',
        tags: ['agents'],
        querystring: AgentListQuery,
        response: { 200: AgentList, 400: ErrorBody },
      },
    },
    async (req) => {
      const { q, status, label, sort, order, limit, offset, os, platform, version } = req.query;
      const where = parseWhere(req.query.where);
      const osNeedle = os?.toLowerCase();
      const labels = (Array.isArray(label) ? label : label ? [label] : []).map((l) => {
        const eq = l.indexOf('=');
        return eq < 0 ? ([l, undefined] as const) : ([l.slice(0, eq), l.slice(eq + 1)] as const);
      });
      const needle = q?.toLowerCase();
      let items = registry
        .list()
        .filter(
          (a) =>
            (!status || a.status === status) &&
            (!needle || a.hostname.toLowerCase().includes(needle) || a.id.includes(needle) || a.ips.some((ip) => ip.includes(needle))) &&
            labels.every(([k, v]) => (v === undefined ? k in a.labels : a.labels[k] === v)) &&
            (!osNeedle || a.os.toLowerCase().includes(osNeedle)) &&
            (!platform || a.platform === platform) &&
            (!version || a.version === version) &&
            where.every((w) => w(a)),
        );
      const key = sortValue[sort];
      const dir = order === 'asc' ? 1 : -1;
      items = items.sort((a, b) => {
        const x = key(a);
        const y = key(b);
        return (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1) * dir;
      });
      return { items: items.slice(offset, offset + limit), total: items.length };
    },
  );

  app.get(
    '/api/agents/:id',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'One agent',
        tags: ['agents'],
        params: AgentParams,
        response: { 200: Agent, 404: ErrorBody },
      },
    },
    async (req) => {
      const agent = registry.get(req.params.id);
      if (!agent) throw notFound(`agent "${req.params.id}"`);
      return agent;
    },
  );

  app.put(
    '/api/agents/:id/labels',
    {
      config: { minRole: 'operator', audit: false },
      schema: {
        summary: "Set an agent's server-side labels: trusted, with its token's they choose it for label-targeted tasks",
        tags: ['agents'],
        params: AgentParams,
        body: AgentLabelsBody,
        response: { 200: Agent, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { id } = req.params;
      const problem = trustedLabelsProblem(req.body.labels);
      if (problem) throw new ApiError(400, 'bad_request', `body labels: ${problem}`);
      const before = registry.get(id);
      if (!before) throw notFound(`agent "${id}"`);
      const actor = actorOf(req.identity);
      const after = await registry.setServerLabels(id, req.body.labels, actor);
      req.audited = true;
      await audit.record({
        actor,
        action: 'agent.labels',
        target: id,
        address: req.ip,
        detail: { before: before.serverLabels, after: req.body.labels },
      });
      return after ?? before;
    },
  );

  app.post(
    '/api/agents/:id/sequence/reset',
    {
      config: { minRole: 'operator', audit: false },
      schema: {
        summary: "Forget an agent's last report sequence, so its next report is taken whatever its number",
        description:
          'For an agent whose reports are refused as a sequence jump it really made (ingest.max_sequence_jump), or whose stored sequence is implausible. Its samples stay.',
        tags: ['agents'],
        params: AgentParams,
        response: { 200: SequenceReset, 404: ErrorBody },
      },
    },
    async (req) => {
      const { id } = req.params;
      if (!registry.get(id) && (await store.lastSeq(id)) === 0) throw notFound(`agent "${id}"`);
      // Sample and log reports share the agent's sequence: both stores forget it.
      const previousLastSeq = Math.max(await store.resetSeq(id), (await logs?.resetSeq(id)) ?? 0);
      registry.sequenceReset(id);
      req.audited = true;
      await audit.record({
        actor: actorOf(req.identity),
        action: 'agent.sequence.reset',
        target: id,
        address: req.ip,
        detail: { previousLastSeq },
      });
      return { agentId: id, previousLastSeq, lastSeq: 0 };
    },
  );

  app.delete(
    '/api/agents/:id',
    {
      config: { minRole: 'admin', audit: false },
      schema: {
        summary: 'Forget an agent: its record, server-side labels, alerts and tokens, and with data=drop its samples',
        description:
          'Refused (409) while the agent is connected: stop it first. The tokens bound to it are revoked, so it cannot register ' +
          'again with them; with data=keep its samples stay and are its history again if the same id registers with a new token.',
        tags: ['agents'],
        params: AgentParams,
        querystring: AgentForgetQuery,
        response: { 200: AgentForgotten, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const { id } = req.params;
      const { data } = req.query;
      const agent = registry.get(id);
      if (!agent) throw notFound(`agent "${id}"`);
      if (agent.connected) {
        throw new ApiError(
          409,
          'agent_connected',
          `agent "${id}" (${agent.hostname}) is connected: stop the agent on that host first, then forget it (forgetting revokes its token, so it cannot come back with it)`,
        );
      }
      // The record goes last: should a step fail, the agent is still listed and the admin can try again.
      const revokedTokens: string[] = [];
      for (const t of await tokens.boundTo(id)) if (await tokens.revoke(t.id)) revokedTokens.push(t.id);
      const droppedSeries = data === 'drop' ? await store.dropAgent(id) : 0;
      const alertsRemoved = (await alerts()?.forgetAgent(id)) ?? 0;
      await registry.forget(id);
      req.audited = true;
      await audit.record({
        actor: actorOf(req.identity),
        action: 'agent.forget',
        target: id,
        address: req.ip,
        detail: { hostname: agent.hostname, data, droppedSeries, alertsRemoved, revokedTokens },
      });
      return { agentId: id, hostname: agent.hostname, data, droppedSeries, alertsRemoved, revokedTokens };
    },
  );
};
