import { getJson } from './http.ts';

/** The server's REST API, as the dashboard uses it. */
export interface Agent {
  id: string;
  hostname: string;
  ips: string[];
  primaryIp: string;
  os: string;
  kernel: string;
  arch: string;
  platform: string;
  version: string;
  /** Declared by the agent itself: shown, never used to choose it for tasks. */
  labels: Record<string, string>;
  /** Fixed in its token; set on the server; the two together (the server's win): the ones that choose it for tasks. */
  tokenLabels: Record<string, string>;
  serverLabels: Record<string, string>;
  trustedLabels: Record<string, string>;
  bootTimeMs: number;
  intervalMs: number;
  firstSeenMs: number;
  lastSeenMs: number;
  summary: Record<string, number>;
  status: 'online' | 'offline';
  connected: boolean;
  /** Its reports are refused for their sequence (too far beyond the last acknowledged). */
  sequenceRefused: { seq: number; lastSeq: number; atMs: number } | null;
}

export interface Series {
  name: string;
  labels: Record<string, string>;
  points: [number, number | null][];
}

export const fetchAgents = () => getJson<{ items: Agent[]; total: number }>('/api/agents?limit=10000');
export const fetchAgent = (id: string) => getJson<Agent>(`/api/agents/${encodeURIComponent(id)}`);

export function fetchHistory(
  agentId: string,
  name: string,
  fromMs: number,
  toMs: number,
  stepMs = 0,
  agg = 'avg',
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
  return getJson<{ series: Series[]; stepMs: number }>(`/api/metrics?${q}`);
}

export interface LatestSample {
  name: string;
  labels: Record<string, string>;
  value: number | null;
  timestampMs: number;
}

/** The newest sample of each series of these metrics, between `fromMs` and `toMs`. */
export function fetchLatest(agentId: string, names: readonly string[], fromMs: number, toMs: number) {
  const q = new URLSearchParams({ agent: agentId, from: String(Math.round(fromMs)), to: String(Math.round(toMs)) });
  for (const n of names) q.append('name', n);
  return getJson<{ samples: LatestSample[] }>(`/api/metrics/latest?${q}`);
}
