/**
 * Monitors alert through the server's alerting: each monitor that is not paused has a rule of its
 * own (source `monitor`) on the series `falconet_monitor_down{monitor="<id>"}`, which this module
 * feeds every evaluation interval with 1 while the monitor is down and 0 otherwise. The evaluator,
 * the dispatcher, silences, history and notification dedup then treat it like any other rule: one
 * notification when it goes down, one when it recovers.
 */
import type { Sample } from '@falconet/protocol';
import { MONITOR_LABEL, type MonitorSpec } from '@falconet/protocol/api';
import type { AlertService } from '../alerts/service.ts';
import { type RuleSpec, ruleSpecSchema } from '../alerts/spec.ts';

export const MONITOR_DOWN_METRIC = 'falconet_monitor_down';
export const MONITOR_RULE_SOURCE = 'monitor';

/** The agent id a monitor's down series is kept under: a monitor is no agent, and none can send as it (ids have no `:`). */
export const monitorSeriesAgent = (monitorId: string) => `monitor:${monitorId}`;
export const monitorRuleId = (monitorId: string) => `monitor-${monitorId}`;

/** What monitors need from alerting; undefined when alerting is off. */
export interface MonitorAlerts {
  /** Alert channels by id, with the name rules route by. */
  channels(): ReadonlyMap<string, string>;
  setRules(rules: { id: string; spec: RuleSpec }[]): void;
  observe(agentId: string, samples: readonly Sample[]): void;
  evaluationIntervalMs: number;
}

export function monitorAlerts(alerts: AlertService | undefined): MonitorAlerts | undefined {
  if (!alerts) return undefined;
  return {
    channels: () => new Map(alerts.catalog.channels.map((c) => [c.id, c.spec.name])),
    setRules: (rules) => alerts.setExternalRules(MONITOR_RULE_SOURCE, rules),
    observe: (agentId, samples) => alerts.observe(agentId, samples),
    evaluationIntervalMs: alerts.config.evaluation_interval,
  };
}

/** The rule of one monitor; its channels by name (a channel deleted since is left out). */
export function monitorRule(id: string, spec: MonitorSpec, channelNames: ReadonlyMap<string, string>): { id: string; spec: RuleSpec } {
  return {
    id: monitorRuleId(id),
    spec: ruleSpecSchema.parse({
      name: `Monitor down: ${spec.name.slice(0, 180)}`,
      kind: 'threshold',
      severity: 'critical',
      hosts: [monitorSeriesAgent(id)],
      metric: MONITOR_DOWN_METRIC,
      aggregation: 'last',
      op: '>=',
      threshold: 1,
      channels: spec.channels.flatMap((c) => {
        const name = channelNames.get(c);
        return name === undefined ? [] : [name];
      }),
      // The alert's host is the monitor's target: what is down, where messages say "on <host>".
      labels: { [MONITOR_LABEL]: id, monitor_name: spec.name, host: spec.probe.target.slice(0, 1000) },
      annotations: {
        summary: `${spec.probe.kind} ${spec.probe.target}: at least ${spec.alert_failing_locations} location(s) failing`,
      },
    }),
  };
}

export function downSample(id: string, down: boolean, nowMs: number): Sample {
  return { name: MONITOR_DOWN_METRIC, labels: { [MONITOR_LABEL]: id }, value: down ? 1 : 0, timestampMs: nowMs };
}
