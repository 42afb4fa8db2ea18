/**
 * Counting matching lines per agent over a time range, for alert rules on logs. A store that can
 * count from its index (the embedded one) does; otherwise each matching line is visited. Either
 * way only the blocks the range and the index leave (embedded) or the rows the range selects
 * (PostgreSQL) are read, so a 5-minute window costs 5 minutes of lines, not the day's.
 */
import type { LogFilter, QueryNode } from './query.ts';
import type { LogStore } from './types.ts';

export interface AgentLineCount {
  /** Empty for lines no agent sent (the syslog receiver's). */
  agentId: string;
  host: string;
  count: number;
}

/**
 * Lines in [fromMs, toMs] matching `filter`, by sender: the agent id, or `syslog:<host>` for lines
 * with no agent (syslog senders are told apart by host only).
 */
export async function countLines(store: LogStore, filter: LogFilter, fromMs: number, toMs: number): Promise<Map<string, AgentLineCount>> {
  if (store.count) return await store.count({ filter, fromMs, toMs });
  const out = new Map<string, AgentLineCount>();
  await store.each({ filter, fromMs, toMs }, (l) => addCount(out, l.agentId, l.host, 1));
  return out;
}

export const senderKey = (agentId: string, host: string): string => agentId || `syslog:${host}`;

export function addCount(out: Map<string, AgentLineCount>, agentId: string, host: string, n: number): void {
  const key = senderKey(agentId, host);
  const c = out.get(key);
  if (c) c.count += n;
  else out.set(key, { agentId, host, count: n });
}

const BLOCK_FIELDS = new Set(['host', 'agent', 'source']);

/**
 * Whether a block's index entry alone decides the query for all its lines: the query is only
 * levels and at most one exact host, agent and source (each the same for every line of a block),
 * so a block the index keeps, lying wholly in the range with only wanted levels, matches entirely.
 */
export function indexDecides(root: QueryNode): boolean {
  const items = root.k === 'and' ? root.items : [root];
  const seen = new Set<string>();
  for (const n of items) {
    if (n.k !== 'field') return false;
    if (n.level !== undefined) continue;
    if (!BLOCK_FIELDS.has(n.name) || n.value.endsWith('*') || seen.has(n.name)) return false;
    seen.add(n.name);
  }
  return true;
}
