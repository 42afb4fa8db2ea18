/** A rule in working form: selectors compiled, durations in milliseconds, templates parsed, and its live alerts. */
import { createHash } from 'node:crypto';
import type { Labels } from '@falconet/protocol';
import type { AlertState, Comparison, RuleKind, WindowAggregation } from '@falconet/protocol/api';
import { LogFilter } from '../logs/query.ts';
import { type CompiledMatcher, compileMatcher, matchesAll } from './matchers.ts';
import { ms, type RuleSpec, selector } from './spec.ts';
import { compileTemplate, type Template } from './template.ts';

/** One alert: a rule's condition holding for one series or agent. Gone once resolved (history keeps it). */
export interface AlertInstance {
  ruleId: string;
  /** The series key (agent id and series labels), or the agent id for agent-level rules. */
  key: string;
  /** A hash of rule id and key: the same alert across evaluations and restarts. */
  fingerprint: string;
  state: AlertState;
  labels: Record<string, string>;
  /** The series' own labels as a selector, `{mountpoint="/"}`; empty for agent-level alerts. */
  series: string;
  agentId: string;
  value: number;
  activeSinceMs: number;
  firedAtMs: number;
  /** When its firing was last sent to a channel; 0 = never. */
  notifiedMs: number;
  lastEvalMs: number;
  /** The evaluation cycle that last saw the condition (held or not); older = no data. */
  cycle: number;
  /**
   * Taken over from another node of the cluster: not resolved for want of data before this time,
   * while the agent's samples start arriving here (not stored; absent otherwise).
   */
  holdUntilMs?: number;
}

export interface RuleDefaults {
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
}

/** Filesystems whose free space is not worth predicting, when a disk_full rule names none. */
const PSEUDO_FILESYSTEMS = 'tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|autofs|proc|sysfs|cgroup2?|fuse\\..*';

export class CompiledRule {
  readonly id: string;
  readonly spec: RuleSpec;
  readonly source: string;
  readonly kind: RuleKind;
  /** The series the rule reads; undefined for agent_offline. */
  readonly metric: string | undefined;
  readonly seriesMatchers: CompiledMatcher[];
  readonly hostMatchers: CompiledMatcher[];
  readonly hosts: ReadonlySet<string> | null;
  readonly aggregation: WindowAggregation;
  readonly windowMs: number;
  readonly op: Comparison;
  readonly threshold: number;
  readonly forMs: number;
  /** disk_full: predict this far ahead, fitting over this much history. */
  readonly withinMs: number;
  readonly lookbackMs: number;
  readonly groupBy: string[];
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  readonly annotations: [string, Template][];
  /** log_lines: the parsed query, and whether the fleet's lines are counted together. */
  readonly logFilter: LogFilter | undefined;
  readonly fleet: boolean;
  readonly instances = new Map<string, AlertInstance>();

  constructor(id: string, spec: RuleSpec, source: string, defaults: RuleDefaults) {
    this.id = id;
    this.spec = spec;
    this.source = source;
    this.kind = spec.kind;
    const series = selector(spec.series_labels);
    let metric = spec.metric;
    let aggregation: WindowAggregation = spec.aggregation ?? 'avg';
    let op: Comparison = spec.op ?? '>';
    let threshold = spec.threshold ?? 0;
    let windowMs = ms(spec.window, 60_000);
    switch (spec.kind) {
      case 'container_down':
        metric = 'falconet_container_state';
        series.push({ name: 'state', op: '=', value: 'running' });
        aggregation = 'last';
        op = '==';
        threshold = 0;
        break;
      case 'container_restarting':
        metric = 'falconet_container_restarts_total';
        aggregation = 'increase';
        op = '>=';
        threshold = spec.restarts ?? 1;
        windowMs = ms(spec.window, 600_000);
        break;
      case 'disk_full':
        metric ??= 'node_filesystem_avail_bytes';
        if (series.length === 0) series.push({ name: 'fstype', op: '!~', value: PSEUDO_FILESYSTEMS });
        op = '<=';
        break;
      case 'no_data':
        windowMs = ms(spec.window, 300_000);
        break;
      case 'log_lines':
        windowMs = ms(spec.window, 300_000);
        break;
      default:
        break;
    }
    this.metric = spec.kind === 'agent_offline' || spec.kind === 'log_lines' ? undefined : metric;
    this.logFilter = spec.kind === 'log_lines' ? new LogFilter(spec.query ?? '') : undefined;
    this.fleet = spec.kind === 'log_lines' && spec.scope === 'fleet';
    this.seriesMatchers = series.map(compileMatcher);
    this.hostMatchers = selector(spec.host_labels).map(compileMatcher);
    this.hosts = spec.hosts?.length ? new Set(spec.hosts) : null;
    this.aggregation = aggregation;
    this.windowMs = windowMs;
    this.op = op;
    this.threshold = threshold;
    this.forMs = ms(spec.for, 0);
    this.withinMs = ms(spec.within, 24 * 3_600_000);
    this.lookbackMs = ms(spec.lookback, 6 * 3_600_000);
    this.groupBy = spec.group_by ?? ['alertname'];
    this.groupWaitMs = ms(spec.group_wait, defaults.groupWaitMs);
    this.groupIntervalMs = ms(spec.group_interval, defaults.groupIntervalMs);
    this.repeatIntervalMs = ms(spec.repeat_interval, defaults.repeatIntervalMs);
    this.annotations = Object.entries(spec.annotations ?? {}).map(([k, v]) => [k, compileTemplate(v)]);
  }

  get name(): string {
    return this.spec.name;
  }

  /** Whether the rule's host selection takes this agent. */
  takesAgent(agentId: string, hostname: string, agentLabels: Labels): boolean {
    if (this.hosts && !this.hosts.has(agentId) && !this.hosts.has(hostname)) return false;
    if (this.hostMatchers.length === 0) return true;
    for (const m of this.hostMatchers) {
      const v = m.name === 'hostname' ? hostname : m.name === 'agent' ? agentId : agentLabels[m.name];
      if (!m.test(v)) return false;
    }
    return true;
  }

  takesSeries(labels: Labels): boolean {
    return matchesAll(this.seriesMatchers, labels);
  }

  /** How much recent history the rule reads, and how much long history. */
  get retainMs(): number {
    return this.kind === 'no_data' || this.kind === 'disk_full' || this.kind === 'log_lines' ? 0 : this.windowMs;
  }

  describeCondition(): string {
    switch (this.kind) {
      case 'agent_offline':
        return 'agent offline';
      case 'no_data':
        return `no ${this.metric} for ${fmt(this.windowMs)}`;
      case 'container_down':
        return 'container not running';
      case 'container_restarting':
        return `${this.threshold}+ restarts in ${fmt(this.windowMs)}`;
      case 'log_lines':
        return `lines matching ${JSON.stringify(this.spec.query ?? '')} in ${fmt(this.windowMs)}${this.fleet ? ' (fleet)' : ''} ${this.op} ${this.threshold}`;
      case 'disk_full':
        return `${this.metric} predicted <= ${this.threshold} within ${fmt(this.withinMs)}`;
      default:
        return this.aggregation === 'last'
          ? `${this.metric} ${this.op} ${this.threshold}`
          : `${this.aggregation}(${this.metric}[${fmt(this.windowMs)}]) ${this.op} ${this.threshold}`;
    }
  }
}

function fmt(msValue: number): string {
  if (msValue % 3_600_000 === 0) return `${msValue / 3_600_000}h`;
  if (msValue % 60_000 === 0) return `${msValue / 60_000}m`;
  return `${msValue / 1000}s`;
}

export function compare(v: number, op: Comparison, t: number): boolean {
  switch (op) {
    case '>':
      return v > t;
    case '>=':
      return v >= t;
    case '<':
      return v < t;
    case '<=':
      return v <= t;
    case '==':
      return v === t;
    case '!=':
      return v !== t;
  }
}

export function alertFingerprint(ruleId: string, key: string): string {
  return createHash('sha1').update(`${ruleId}\u0000${key}`).digest('hex').slice(0, 16);
}
