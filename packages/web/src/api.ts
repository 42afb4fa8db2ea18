import type { Agent, AgentList, LatestAnswer, SeriesAggregation, SeriesAnswer } from '@falconet/protocol/api';
import { getJson } from './http.ts';

/** The server's agents and metrics REST API, as the dashboard uses it; the shapes are the API contract's. */
export const fetchAgents = () => getJson<AgentList>('/api/agents?limit=10000');
export const fetchAgent = (id: string) => getJson<Agent>(`/api/agents/${encodeURIComponent(id)}`);

export function fetchHistory(
  agentId: string,
  name: string,
  fromMs: number,
  toMs: number,
  stepMs = 0,
  agg: SeriesAggregation = 'avg',
  labels?: Record<string, string>,
) {
  const q = new URLSearchParams({
    agent: agentId,
    name,
    from: String(Math.round(fromMs)),
    to: String(Math.round(toMs)),
    step: String(stepMs),
    agg,
  });
  if (labels) q.set('labels', JSON.stringify(labels));
  return getJson<SeriesAnswer>(`/api/metrics?${q}`);
}

/** The newest sample of each series of these metrics, between `fromMs` and `toMs`. */
export function fetchLatest(agentId: string, names: readonly string[], fromMs: number, toMs: number) {
  const q = new URLSearchParams({ agent: agentId, from: String(Math.round(fromMs)), to: String(Math.round(toMs)) });
  for (const n of names) q.append('name', n);
  return getJson<LatestAnswer>(`/api/metrics/latest?${q}`);
}
