import { type Agent, ErrorBody, type FleetHistory, type FleetHistorySpan, FleetSummary, FleetSummaryQuery } from '@falconet/protocol/api';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import '../api/access.ts';
import { parseAgentLabels } from '../metrics/routes.ts';
import type { AgentRegistry } from '../registry.ts';
import type { Store } from '../store/types.ts';

/** The metrics the summary averages across agents, by the key it answers with. */
export const FLEET_AVERAGED = {
  cpu: 'falconet_cpu_usage_percent',
  memory: 'falconet_memory_used_percent',
  disk: 'falconet_disk_used_percent',
  load1: 'node_load1',
} as const;

const HISTORY_MS: Record<FleetHistorySpan, number> = {
  '15m': 900_000,
  '1h': 3_600_000,
  '6h': 21_600_000,
  '24h': 86_400_000,
  '7d': 604_800_000,
  '30d': 2_592_000_000,
};

function averagesOf(agents: Agent[]): Record<string, number | null> {
  const averages: Record<string, number | null> = {};
  for (const [key, name] of Object.entries(FLEET_AVERAGED)) {
    let sum = 0;
    let n = 0;
    for (const a of agents) {
      const v = a.summary[name];
      if (typeof v === 'number' && Number.isFinite(v)) {
        sum += v;
        n++;
      }
    }
    averages[key] = n ? sum / n : null;
  }
  return averages;
}

/** Counts, averages and totals of these agents as the registry has them now; with `by`, also per value of that label. */
export function fleetSnapshot(all: Agent[], by?: string): FleetSummary {
  const online = all.filter((a) => a.status === 'online');
  const total = (name: string) => online.reduce((s, a) => s + (a.summary[name] ?? 0), 0);
  const out: FleetSummary = {
    agents: all.length,
    online: online.length,
    offline: all.length - online.length,
    averages: averagesOf(online),
    totals: {
      networkReceiveBytesPerSecond: total('falconet_network_receive_bytes_per_second'),
      networkTransmitBytesPerSecond: total('falconet_network_transmit_bytes_per_second'),
    },
  };
  if (by) {
    const groups = new Map<string, Agent[]>();
    for (const a of all) {
      const v = a.labels[by] ?? '';
      const g = groups.get(v);
      if (g) g.push(a);
      else groups.set(v, [a]);
    }
    out.groups = [...groups.entries()]
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([v, agents]) => {
        const on = agents.filter((a) => a.status === 'online');
        return { labels: { [by]: v }, agents: agents.length, online: on.length, averages: averagesOf(on) };
      });
  }
  return out;
}

/** The fleet averages over the last `span` ms from the store: one fleet-wide aggregate per averaged metric. */
export async function fleetHistory(store: Store, span: number, agentIds: string[] | undefined): Promise<FleetHistory> {
  const toMs = Date.now();
  const stepMs = span <= 3_600_000 ? 60_000 : span <= 86_400_000 ? 300_000 : 3_600_000;
  const series: Record<string, [number, number | null][]> = {};
  await Promise.all(
    Object.entries(FLEET_AVERAGED).map(async ([key, name]) => {
      const [g] = await store.queryAggregate({ name, agentIds, fromMs: toMs - span, toMs, stepMs, agg: 'avg', across: 'avg' });
      series[key] = (g?.points ?? []).map(([t, v]) => [t, Number.isFinite(v) ? v : null]);
    }),
  );
  return { stepMs, series };
}

/** Fleet history is recomputed in the background at most this often; a dashboard polls it. */
const HISTORY_FRESH_MS = 10_000;

export const fleetApi: FastifyPluginAsyncZod<{ registry: AgentRegistry; store: Store }> = async (app, { registry, store }) => {
  const histories = new Map<string, { at: number; value: Promise<FleetHistory>; refreshing: boolean }>();

  /** Serves the last computed history and refreshes it behind the answer once it is stale. */
  const historyOf = (span: number, agentIds: string[] | undefined): Promise<FleetHistory> => {
    const key = `${span}:${agentIds?.join(',') ?? '*'}`;
    const hit = histories.get(key);
    const now = Date.now();
    if (!hit) {
      const entry = { at: now, value: fleetHistory(store, span, agentIds), refreshing: false };
      histories.set(key, entry);
      entry.value.catch(() => histories.delete(key));
      if (histories.size > 64) histories.delete(histories.keys().next().value as string);
      return entry.value;
    }
    if (now - hit.at > HISTORY_FRESH_MS && !hit.refreshing) {
      hit.refreshing = true;
      const next = fleetHistory(store, span, agentIds);
      next.then(
        () => {
          hit.value = next;
          hit.at = Date.now();
          hit.refreshing = false;
        },
        () => {
          hit.refreshing = false;
        },
      );
    }
    return hit.value;
  };

  app.get(
    '/api/fleet/summary',
    {
      config: { minRole: 'viewer' },
      schema: {
        summary: 'Counts and averages across online agents; optionally per label value and over time',
        tags: ['fleet'],
        querystring: FleetSummaryQuery,
        response: { 200: FleetSummary, 400: ErrorBody },
      },
    },
    async (req) => {
      const wanted = parseAgentLabels(req.query.label);
      const all = registry.list().filter((a) => wanted.every(([k, v]) => a.labels[k] === v));
      const out = fleetSnapshot(all, req.query.by);
      const unwritable = store.unwritable?.();
      if (unwritable) out.storeUnwritable = unwritable;
      if (req.query.history) {
        out.history = await historyOf(HISTORY_MS[req.query.history], wanted.length ? all.map((a) => a.id) : undefined);
      }
      return out;
    },
  );
};
