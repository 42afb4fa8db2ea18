/**
 * Counting matching lines per agent over a time range, for alert rules on logs. It goes through
 * the store's `each`, which reads only the blocks the range and the index leave (embedded store)
 * or the rows the range selects (PostgreSQL), so a 5-minute window costs 5 minutes of blocks.
 */
import type { LogFilter } from './query.ts';
import type { LogStore } from './types.ts';

export interface AgentLineCount {
  host: string;
  count: number;
}

/** Lines in [fromMs, toMs] matching `filter`, by agent id. */
export async function countLines(store: LogStore, filter: LogFilter, fromMs: number, toMs: number): Promise<Map<string, AgentLineCount>> {
  const out = new Map<string, AgentLineCount>();
  await store.each({ filter, fromMs, toMs }, (l) => {
    const c = out.get(l.agentId);
    if (c) c.count++;
    else out.set(l.agentId, { host: l.host, count: 1 });
  });
  return out;
}
