import type { Agent, AgentList, LatestAnswer, SeriesAggregation, SeriesAnswer } from '@falconet/protocol/api';
import { getJson } from './http.ts';

/** The server's agents and metrics REST API, as the dashboard uses it; the shapes are the API contract's. */
export const fetchAgents = () => getJson<AgentList>('/api/agents?limit=10000');

let early: Promise<AgentList> | undefined;

/** Starts reading the fleet as the page loads, beside the session check instead of after it. */
export function prefetchAgents(): void {
  early = fetchAgents();
  // Signed out, it fails; firstAgents reads again once signed in.
  early.catch(() => undefined);
}

/** The fleet: the read started as the page loaded, taken once, or a new read when there was none or it failed. */
export function firstAgents(): Promise<AgentList> {
  const started = early;
  early = undefined;
  return started ? started.catch(() => fetchAgents()) : fetchAgents();
}
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
