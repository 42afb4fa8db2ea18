/** Which agents a monitor chooses, and the probe each of them runs for it. */
import type { Agent, MonitorAgents, MonitorSpec } from '@falconet/protocol/api';
import { MONITOR_LABEL, monitorProbeId } from '@falconet/protocol/api';

/**
 * Whether the selector chooses the agent: listed by id, or carrying every label as a trusted label
 * (the server's or its token's). Labels an agent declares about itself never choose it, as for
 * tasks: otherwise any agent could make itself a location of any monitor and count toward it.
 */
export function choosesAgent(sel: MonitorAgents, agent: Pick<Agent, 'id' | 'trustedLabels'>): boolean {
  if (sel.ids.includes(agent.id)) return true;
  const wanted = Object.entries(sel.labels);
  if (wanted.length === 0) return false;
  for (const [k, v] of wanted) if (agent.trustedLabels[k] !== v) return false;
  return true;
}

/** `1500` ms as `1500ms`: a number alone would be read as seconds by the probe schema. */
const msText = (ms: number) => `${ms}ms`;

/**
 * The probe an agent runs for a monitor, in the agent config's `probes:` input shape (durations as
 * text), with the monitor's probe id and its `monitor` label, which its series carry back.
 */
export function assignedProbe(id: string, spec: MonitorSpec): Record<string, unknown> {
  const p = spec.probe;
  return {
    ...p,
    id: monitorProbeId(id),
    interval: msText(p.interval),
    timeout: msText(p.timeout),
    labels: { ...p.labels, [MONITOR_LABEL]: id },
  };
}
