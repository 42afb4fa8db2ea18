/**
 * Alerting under /api/alerts: what users write (rules, channels, silences; snake_case, durations
 * as `5m` or seconds, as in the YAML rules file) and what the API shows of them.
 */
import { z } from 'zod';
import { parseDuration } from '../duration.ts';
import { Labels, timeParam } from './common.ts';
import {
  ALERT_HISTORY_STATES,
  ALERT_STATES,
  CHANNEL_FIELD_TYPES,
  COMPARISONS,
  DELIVERY_STATUSES,
  LOG_RULE_SCOPES,
  MATCH_OPS,
  RULE_KINDS,
  SEVERITIES,
  SPEC_SOURCES,
  WINDOW_AGGREGATIONS,
} from './enums.ts';

export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;
export const RuleKind = z.enum(RULE_KINDS);
export type RuleKind = z.infer<typeof RuleKind>;
export const WindowAggregation = z.enum(WINDOW_AGGREGATIONS);
export type WindowAggregation = z.infer<typeof WindowAggregation>;
export const Comparison = z.enum(COMPARISONS);
export type Comparison = z.infer<typeof Comparison>;
export const MatchOp = z.enum(MATCH_OPS);
export type MatchOp = z.infer<typeof MatchOp>;
export const AlertState = z.enum(ALERT_STATES);
export type AlertState = z.infer<typeof AlertState>;
export const AlertHistoryState = z.enum(ALERT_HISTORY_STATES);
export type AlertHistoryState = z.infer<typeof AlertHistoryState>;
export const SpecSource = z.enum(SPEC_SOURCES);
export type SpecSource = z.infer<typeof SpecSource>;
export const DeliveryStatus = z.enum(DELIVERY_STATUSES);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

/** A duration as written (`90s`, `5m`, `1h`, or a number of seconds), checked but kept as given. */
export const durationSpec = z.union([z.string(), z.number().nonnegative()]).superRefine((v, ctx) => {
  try {
    parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
export type DurationSpec = z.infer<typeof durationSpec>;

/** For cross-field checks that run even when the field itself was refused. */
const msOrNaN = (d: DurationSpec): number => {
  try {
    return parseDuration(d);
  } catch {
    return Number.NaN;
  }
};

/** A time as written: milliseconds since the epoch or a date Date.parse reads. */
export const timeSpec = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  if (!Number.isFinite(typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v))) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a time (milliseconds since the epoch or ISO 8601)` });
  }
});

/** Matchers as a selector string `{a="b"}`, a map of exact values, or a list of {name, op, value}. */
const selectorShape = z.union([
  z.string().max(2000),
  z.record(z.string(), z.string()),
  z.array(z.object({ name: z.string(), op: MatchOp, value: z.string() }).strict()),
]);
export type SelectorSpec = z.infer<typeof selectorShape>;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const labelMap = z.record(z.string().regex(LABEL_NAME, 'must be a label name'), z.string().max(1000));

/**
 * What the specs check with the server's own engines: matchers (RE2), message templates and cron
 * schedules. The server plugs them in (alerts/spec.ts); the shapes are declared here once.
 */
export interface AlertSpecChecks {
  /** How many matchers a selector makes, or what is wrong with it. */
  selector(v: SelectorSpec): { matchers: number } | { problem: string };
  /** What is wrong with a message template, or undefined. */
  template(text: string): string | undefined;
  /** What is wrong with a cron expression in a time zone, or undefined. */
  cron(expr: string, timezone: string | undefined): string | undefined;
  /** What is wrong with a log query (naming its position), or undefined; absent = not checked here. */
  logQuery?(q: string): string | undefined;
}

/** A message template as written (`{{ .Labels.host }} is down`), checked with `problem`. */
export const templateText = (problem: AlertSpecChecks['template']) =>
  z
    .string()
    .max(20_000)
    .superRefine((v, ctx) => {
      const p = problem(v);
      if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
    });

/** The schemas of rules, channels' common fields and silences, checked with `checks`. */
export function alertSpecs(checks: AlertSpecChecks) {
  const selectorSpec = selectorShape.superRefine((v, ctx) => {
    const r = checks.selector(v);
    if ('problem' in r) ctx.addIssue({ code: 'custom', message: r.problem });
  });
  const matcherCount = (v: SelectorSpec): number => {
    const r = checks.selector(v);
    // A selector that does not parse was refused on its own; it is not also "empty".
    return 'problem' in r ? 1 : r.matchers;
  };
  const templateSpec = templateText(checks.template);

  const ruleSpec = z
    .object({
      name: z.string().trim().min(1).max(200),
      kind: RuleKind.default('threshold'),
      enabled: z.boolean().default(true),
      severity: Severity.default('warning'),
      description: z.string().max(2000).optional(),
      /** Agents by id or host name; none = every agent (narrowed by host_labels). */
      hosts: z.array(z.string().min(1).max(253)).max(10_000).optional(),
      /** Matchers on the agent's labels, plus `hostname` and `agent` (its id). */
      host_labels: selectorSpec.optional(),
      /** Matchers on the series' own labels: `{mountpoint="/"}`, `{device=~"eth.*"}`. */
      series_labels: selectorSpec.optional(),
      metric: z
        .string()
        .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name')
        .optional(),
      aggregation: WindowAggregation.optional(),
      window: durationSpec.optional(),
      op: Comparison.optional(),
      threshold: z.number().finite().optional(),
      for: durationSpec.optional(),
      /** container_restarting: restarts within the window that count as restarting. */
      restarts: z.number().int().min(1).optional(),
      /** disk_full: how far ahead the fit looks, and over how much history. */
      within: durationSpec.optional(),
      lookback: durationSpec.optional(),
      /** log_lines: the log query whose matching lines are counted (docs/logs.md). */
      query: z.string().max(4096).optional(),
      /** log_lines: count per host (default) or the whole fleet's lines together. */
      scope: z.enum(LOG_RULE_SCOPES).optional(),
      channels: z.array(z.string().min(1).max(100)).max(50).default([]),
      group_by: z.array(z.string().min(1).max(100)).max(20).optional(),
      group_wait: durationSpec.optional(),
      group_interval: durationSpec.optional(),
      repeat_interval: durationSpec.optional(),
      /** Labels added to every alert of the rule (team, service); they can route and group. */
      labels: labelMap.optional(),
      /** Templated texts: summary, description, runbook_url... */
      annotations: z.record(z.string().regex(LABEL_NAME), templateSpec).optional(),
    })
    .strict()
    .superRefine((r, ctx) => {
      const need = (field: keyof typeof r, why: string) => {
        if (r[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `required for ${why}` });
      };
      if (r.kind === 'threshold') {
        need('metric', 'a threshold rule');
        need('threshold', 'a threshold rule');
      }
      if (r.kind === 'no_data') need('metric', 'a no_data rule');
      if (r.kind === 'log_lines') {
        need('query', 'a log_lines rule');
        need('threshold', 'a log_lines rule');
        const problem = r.query === undefined ? undefined : checks.logQuery?.(r.query);
        if (problem) ctx.addIssue({ code: 'custom', path: ['query'], message: problem });
      }
      const notFor = (field: keyof typeof r, kinds: RuleKind[]) => {
        if (r[field] !== undefined && !kinds.includes(r.kind)) {
          ctx.addIssue({ code: 'custom', path: [field], message: `not used by a ${r.kind} rule (only ${kinds.join(', ')})` });
        }
      };
      notFor('aggregation', ['threshold']);
      notFor('op', ['threshold', 'log_lines']);
      notFor('query', ['log_lines']);
      notFor('scope', ['log_lines']);
      notFor('restarts', ['container_restarting']);
      notFor('within', ['disk_full']);
      notFor('lookback', ['disk_full']);
      notFor('threshold', ['threshold', 'disk_full', 'log_lines']);
      notFor('metric', ['threshold', 'no_data', 'disk_full']);
      notFor('series_labels', ['threshold', 'no_data', 'disk_full', 'container_down', 'container_restarting']);
      if (r.kind === 'disk_full' && r.within !== undefined && msOrNaN(r.within) <= 0) {
        ctx.addIssue({ code: 'custom', path: ['within'], message: 'must be more than 0' });
      }
      if (r.window !== undefined && msOrNaN(r.window) > 24 * 3_600_000) {
        ctx.addIssue({ code: 'custom', path: ['window'], message: 'at most 24h; disk_full rules take a lookback for longer history' });
      }
      if (r.lookback !== undefined && msOrNaN(r.lookback) > 7 * 86_400_000) {
        ctx.addIssue({ code: 'custom', path: ['lookback'], message: 'at most 7d' });
      }
    });

  const retrySpec = z
    .object({
      max_attempts: z.number().int().min(1).max(20).optional(),
      initial_backoff: durationSpec.optional(),
      max_backoff: durationSpec.optional(),
    })
    .strict();

  /** The fields every notification channel has; each type adds its own (the server's alerts/channels). */
  const channelCommon = {
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'letters, digits, space, dot, dash and underscore'),
    enabled: z.boolean().default(true),
    send_resolved: z.boolean().default(true),
    /** Message templates; each channel type has defaults (docs/alerts.md). */
    title: templateSpec.optional(),
    text: templateSpec.optional(),
    /** At most this many alerts are listed in one message; the rest are counted. */
    max_alerts: z.number().int().min(1).max(1000).optional(),
    timeout: durationSpec.optional(),
    retry: retrySpec.optional(),
  };

  /**
   * A silence mutes the alerts its matchers select: once, from starts_at to ends_at (or for a
   * duration), or as a maintenance window that opens on a cron schedule for a duration.
   */
  const silenceSpec = z
    .object({
      name: z.string().trim().max(200).optional(),
      matchers: selectorSpec,
      comment: z.string().max(2000).default(''),
      starts_at: timeSpec.optional(),
      ends_at: timeSpec.optional(),
      duration: durationSpec.optional(),
      /** Maintenance window: opens at each time of this cron expression, for `duration`. */
      schedule: z.string().max(200).optional(),
      timezone: z.string().max(100).optional(),
    })
    .strict()
    .superRefine((s, ctx) => {
      if (matcherCount(s.matchers) === 0) ctx.addIssue({ code: 'custom', path: ['matchers'], message: 'at least one matcher' });
      if (s.schedule !== undefined) {
        const err = checks.cron(s.schedule, s.timezone);
        if (err) ctx.addIssue({ code: 'custom', path: ['schedule'], message: err });
        if (s.duration === undefined) ctx.addIssue({ code: 'custom', path: ['duration'], message: 'required with a schedule' });
        if (s.ends_at !== undefined)
          ctx.addIssue({ code: 'custom', path: ['ends_at'], message: 'a scheduled window ends after its duration' });
      } else if (s.ends_at === undefined && s.duration === undefined) {
        ctx.addIssue({ code: 'custom', path: ['ends_at'], message: 'give ends_at or duration' });
      }
      if (s.timezone !== undefined && s.schedule === undefined) {
        ctx.addIssue({ code: 'custom', path: ['timezone'], message: 'only with a schedule' });
      }
    });

  return { selectorSpec, templateSpec, ruleSpec, channelCommon, silenceSpec };
}

type Specs = ReturnType<typeof alertSpecs>;
/** The zod shape of the settings every alert channel takes, beside its type's own. */
export type ChannelCommonShape = Specs['channelCommon'];
export type RuleSpec = z.output<Specs['ruleSpec']>;
/** A rule as a client writes it: the defaults may be left out. */
export type RuleSpecInput = z.input<Specs['ruleSpec']>;
export type SilenceSpec = z.output<Specs['silenceSpec']>;
export type SilenceSpecInput = z.input<Specs['silenceSpec']>;
/** A channel as a client writes it: the common fields, its `type`, and that type's own fields. */
export type ChannelSpecInput = z.input<z.ZodObject<Specs['channelCommon']>> & { type: string; [field: string]: unknown };

// --- what the API shows ---

const SpecMeta = {
  id: z.string(),
  source: SpecSource,
  createdBy: z.string(),
  createdMs: z.number(),
  updatedMs: z.number(),
};

export const AlertRule = z
  .looseObject({ ...SpecMeta, name: z.string(), kind: z.string(), pending: z.number(), firing: z.number() })
  .meta({ id: 'AlertRule' });
/** A rule as the API shows it: its spec, where it comes from, and how many of its alerts are pending and firing. */
export type AlertRule = RuleSpec & z.infer<typeof AlertRule>;

export const ChannelHealth = z.object({
  delivered: z.number(),
  failed: z.number(),
  dropped: z.number(),
  attempts: z.number(),
  retries: z.number(),
  consecutiveFailures: z.number(),
  lastSuccessMs: z.number(),
  lastFailureMs: z.number(),
  lastError: z.string(),
  queued: z.number(),
});
export type ChannelHealth = z.infer<typeof ChannelHealth>;

/** A channel as the API shows it: its spec with secrets masked, and its delivery health. */
export const AlertChannel = z
  .looseObject({ ...SpecMeta, name: z.string(), type: z.string(), health: ChannelHealth })
  .meta({ id: 'AlertChannel' });
export type AlertChannel = z.infer<typeof AlertChannel>;

export const AlertSilence = z
  .looseObject({
    ...SpecMeta,
    active: z.boolean(),
    expired: z.boolean(),
    startsMs: z.number().nullable(),
    endsMs: z.number().nullable(),
    matchers: z.unknown(),
  })
  .meta({ id: 'AlertSilence' });
/** A silence as the API shows it: its spec, whether it is open now, and its current or next window. */
export type AlertSilence = SilenceSpec & z.infer<typeof AlertSilence>;

export const Alert = z
  .object({
    fingerprint: z.string(),
    ruleId: z.string(),
    rule: z.string(),
    kind: z.string(),
    severity: Severity,
    state: AlertState,
    labels: Labels,
    series: z.string(),
    host: z.string(),
    agent: z.string(),
    value: z.number(),
    activeSinceMs: z.number(),
    firedAtMs: z.number(),
    notifiedMs: z.number(),
    lastEvalMs: z.number(),
    silencedBy: z.array(z.string()),
  })
  .meta({ id: 'Alert' });
export type Alert = z.infer<typeof Alert>;

export const AlertHistoryEntry = z.object({
  id: z.string(),
  tsMs: z.number(),
  ruleId: z.string(),
  ruleName: z.string(),
  fingerprint: z.string(),
  agentId: z.string(),
  host: z.string(),
  severity: z.string(),
  from: z.string(),
  to: z.string(),
  reason: z.string(),
  value: z.number(),
  labels: Labels,
});
export type AlertHistoryEntry = z.infer<typeof AlertHistoryEntry>;

export const Delivery = z.object({
  id: z.string(),
  channel: z.string(),
  groupKey: z.string(),
  kind: z.string(),
  status: z.string(),
  title: z.string(),
  alerts: z.number(),
  attempts: z.number(),
  error: z.string(),
  createdMs: z.number(),
  finishedMs: z.number(),
});
export type Delivery = z.infer<typeof Delivery>;
/** POST /api/alerts/channels/:id/test: the delivery and its outcome as a fixed phrase. */
export const ChannelTest = Delivery.extend({ message: z.string() });
export type ChannelTest = z.infer<typeof ChannelTest>;

/** GET /api/alerts/status: the evaluator's last cycle, rules, series in memory, warming. */
export const EvaluatorStatus = z.looseObject({});

// --- requests ---

/** `:id` of a rule, channel (or its name) or silence */
export const AlertObjectParams = z.object({ id: z.string().min(1).max(200) });

/** GET /api/alerts */
export const AlertListQuery = z.object({
  state: AlertState.optional(),
  rule: z.string().max(200).optional().describe('rule id'),
  host: z.string().max(253).optional().describe('host name or agent id'),
  severity: Severity.optional(),
  silenced: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});
export const AlertList = z.object({ items: z.array(Alert), total: z.number() });
export const AlertRuleList = z.object({ items: z.array(AlertRule) });
export const AlertChannelList = z.object({ items: z.array(AlertChannel) });

/** GET /api/alerts/silences */
export const SilenceListQuery = z.object({ expired: z.enum(['true', 'false']).default('false') });
export const AlertSilenceList = z.object({ items: z.array(AlertSilence) });

/** GET /api/alerts/history */
export const AlertHistoryQuery = z.object({
  rule: z.string().max(200).optional(),
  fingerprint: z.string().max(64).optional(),
  host: z.string().max(253).optional(),
  to: AlertHistoryState.optional(),
  from: timeParam.optional(),
  until: timeParam.optional(),
  before: z.string().max(64).optional().describe('the last id of the previous page'),
  limit: z.coerce.number().int().min(1).max(10_000).default(200),
});
export const AlertHistory = z.object({ items: z.array(AlertHistoryEntry) });

/** GET /api/alerts/notifications */
export const DeliveryQuery = z.object({
  channel: z.string().max(100).optional(),
  status: DeliveryStatus.optional(),
  before: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(200),
});
export const DeliveryList = z.object({ items: z.array(Delivery) });

/**
 * POST /api/alerts/preview: a draft rule (the body of POST /api/alerts/rules) evaluated once, now,
 * against stored data: its value per host and series and whether the condition holds. A bounded
 * read: at most `hostsRead` hosts and `PREVIEW_MAX_ITEMS` series are answered for.
 */
export const PREVIEW_MAX_HOSTS = 50;
export const PREVIEW_MAX_ITEMS = 200;
export const RulePreviewItem = z.object({
  agent: z.string(),
  host: z.string(),
  /** The series' own labels as a selector; empty for agent-level rules. */
  series: z.string(),
  /** The rule's value now (agent_offline and no_data: seconds silent); null when the window holds no data. */
  value: z.number().nullable(),
  /** Whether the condition holds now (a `for` duration would still have to pass). */
  breach: z.boolean(),
});
export type RulePreviewItem = z.infer<typeof RulePreviewItem>;
export const RulePreview = z
  .object({
    atMs: z.number(),
    /** The condition as the evaluator reads it: `avg(cpu[1m]) > 90`. */
    condition: z.string(),
    metric: z.string().nullable(),
    /** Agents the rule's host selection takes, and how many of them were read. */
    hosts: z.number(),
    hostsRead: z.number(),
    truncated: z.boolean(),
    items: z.array(RulePreviewItem),
  })
  .meta({ id: 'RulePreview' });
export type RulePreview = z.infer<typeof RulePreview>;

/** GET /api/alerts/channel-kinds: each channel type's own settings, for a form to be built from. */
export const ChannelFieldType = z.enum(CHANNEL_FIELD_TYPES);
export type ChannelFieldType = z.infer<typeof ChannelFieldType>;
export const ChannelField = z.object({
  /** As a request body names it: `url`, `smtp.password`. */
  name: z.string(),
  type: ChannelFieldType,
  required: z.boolean(),
  /** Write-only: shown masked, entered as a password. */
  secret: z.boolean(),
  /** Changing it needs the channel's secrets entered again. */
  destination: z.boolean(),
  help: z.string(),
  /** The values of a `choice`. */
  options: z.array(z.string()).optional(),
  default: z.unknown().optional(),
});
export type ChannelField = z.infer<typeof ChannelField>;
export const ChannelKind = z.object({ type: z.string(), fields: z.array(ChannelField) }).meta({ id: 'ChannelKind' });
export type ChannelKind = z.infer<typeof ChannelKind>;
export const ChannelKindList = z.object({ items: z.array(ChannelKind) });
export type ChannelKindList = z.infer<typeof ChannelKindList>;
