/**
 * Each agent's last stored report sequence, kept in VictoriaMetrics itself: every write carries a
 * sample `falconet_report_seq{falconet_agent="<id>",falconet_kind="seq"}` with the agent's new
 * last sequence, in the same remote_write request as the report's samples, so the two are
 * acknowledged together. The newest marker of each agent is its last sequence (0 after a reset);
 * markers are stamped with the wall clock, one millisecond apart at least, so "newest" is never a tie.
 */
import type { VictoriaClient } from './client.ts';
import { FUTURE_MS } from './client.ts';
import { AGENT_LABEL, KIND_LABEL, quote } from './labels.ts';

export const SEQ_METRIC = 'falconet_report_seq';
const MARKERS = `${SEQ_METRIC}{${KIND_LABEL}="seq"}`;

export interface SeqState {
  seq: number;
  /** The marker's timestamp: the next one goes after it. */
  markedMs: number;
}

/**
 * The newest marker of every agent (or of one), read with one pair of instant queries: at start,
 * and for one agent each time it registers, since another server of a cluster may have written
 * its reports since.
 */
export async function loadSequences(client: VictoriaClient, now: number, agentId?: string): Promise<Map<string, SeqState>> {
  // Asked at a time ahead of the clock, so a marker written moments ago (or by a clock a little
  // ahead) is inside the window, and VictoriaMetrics' latency offset for "now" does not apply.
  const at = now + FUTURE_MS;
  // Back to 1970 and no further: a window reaching before it finds nothing (VictoriaMetrics 1.79).
  const window = `${Math.floor(at / 86_400_000) - 1}d`;
  const markers = agentId === undefined ? MARKERS : `${SEQ_METRIC}{${KIND_LABEL}="seq",${AGENT_LABEL}=${quote(agentId)}}`;
  const [values, times] = await Promise.all([
    client.query(`last_over_time(${markers}[${window}])`, at),
    client.query(`tlast_over_time(${markers}[${window}])`, at),
  ]);
  const out = new Map<string, SeqState>();
  for (const r of values) {
    const agent = r.metric[AGENT_LABEL];
    const seq = Number(r.value[1]);
    if (agent !== undefined && Number.isSafeInteger(seq)) out.set(agent, { seq, markedMs: 0 });
  }
  for (const r of times) {
    const s = out.get(r.metric[AGENT_LABEL] ?? '');
    if (s) s.markedMs = Math.round(Number(r.value[1]) * 1000);
  }
  return out;
}

/** The labels of an agent's marker series, sorted. */
export function markerLabels(agentId: string): { name: string; value: string }[] {
  return [
    { name: '__name__', value: SEQ_METRIC },
    { name: AGENT_LABEL, value: agentId },
    { name: KIND_LABEL, value: 'seq' },
  ];
}
