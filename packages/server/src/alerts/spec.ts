/**
 * What users write: alert rules, notification channels and silences, in the YAML rules file and
 * in REST bodies alike (snake_case, durations as `5m` or seconds). Specs are stored as given, so
 * what is read back can be written again unchanged; compile.ts turns them into working form.
 * Each channel type declares its own settings in its file under channels/.
 */
import { parseDuration } from '@falconet/protocol/config';
import { Cron } from 'croner';
import { z } from 'zod';
import type { ChannelDefinition, ChannelSchema } from './channels/channel.ts';
import { CHANNELS } from './channels/index.ts';
import { type Matcher, MatcherError, toMatchers } from './matchers.ts';
import { templateSpec } from './template.ts';

export const RULE_KINDS = ['threshold', 'agent_offline', 'no_data', 'container_down', 'container_restarting', 'disk_full'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const AGGREGATIONS = ['avg', 'min', 'max', 'last', 'sum', 'count', 'rate', 'increase', 'delta'] as const;
export type WindowAggregation = (typeof AGGREGATIONS)[number];

export const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Comparison = (typeof COMPARISONS)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A duration as written (`90s`, `5m`, `1h`, or a number of seconds), checked but kept as given. */
export const durationSpec = z.union([z.string(), z.number().nonnegative()]).superRefine((v, ctx) => {
  try {
    parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
export type DurationSpec = z.infer<typeof durationSpec>;

export const ms = (d: DurationSpec | undefined, fallback: number): number => (d === undefined ? fallback : parseDuration(d));

/** For cross-field checks that run even when the field itself was refused. */
const msOrNaN = (d: DurationSpec): number => {
  try {
    return parseDuration(d);
  } catch {
    return Number.NaN;
  }
};

/** Matchers as a selector string `{a="b"}`, a map of exact values, or a list of {name, op, value}. */
export const selectorSpec = z
  .union([
    z.string().max(2000),
    z.record(z.string(), z.string()),
    z.array(z.object({ name: z.string(), op: z.enum(['=', '!=', '=~', '!~']), value: z.string() }).strict()),
  ])
  .superRefine((v, ctx) => {
    try {
      toMatchers(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof MatcherError ? err.message : String(err) });
    }
  });
export type SelectorSpec = z.infer<typeof selectorSpec>;

export const selector = (s: SelectorSpec | undefined): Matcher[] => toMatchers(s);

const labelMap = z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a label name'), z.string().max(1000));

export const ruleSpecSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    kind: z.enum(RULE_KINDS).default('threshold'),
    enabled: z.boolean().default(true),
    severity: z.enum(SEVERITIES).default('warning'),
    description: z.string().max(2000).optional(),
    /** Agents by id or host name; none = every agent (narrowed by host_labels). */
    hosts: z.array(z.string().min(1).max(253)).max(10_000).optional(),
    /** Matchers on the agent's labels, plus `hostname` and `agent` (its id). */
    host_labels: selectorSpec.optional(),
    /** Matchers on the series' own labels: `{mountpoint="/"}`, `{device=~"eth.*"}`. */
    series_labels: selectorSpec.optional(),
    metric: z.string().regex(METRIC_NAME, 'must be a metric name').optional(),
    aggregation: z.enum(AGGREGATIONS).optional(),
    window: durationSpec.optional(),
    op: z.enum(COMPARISONS).optional(),
    threshold: z.number().finite().optional(),
    for: durationSpec.optional(),
    /** container_restarting: restarts within the window that count as restarting. */
    restarts: z.number().int().min(1).optional(),
    /** disk_full: how far ahead the fit looks, and over how much history. */
    within: durationSpec.optional(),
    lookback: durationSpec.optional(),
    channels: z.array(z.string().min(1).max(100)).max(50).default([]),
    group_by: z.array(z.string().min(1).max(100)).max(20).optional(),
    group_wait: durationSpec.optional(),
    group_interval: durationSpec.optional(),
    repeat_interval: durationSpec.optional(),
    /** Labels added to every alert of the rule (team, service); they can route and group. */
    labels: labelMap.optional(),
    /** Templated texts: summary, description, runbook_url... */
    annotations: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), templateSpec).optional(),
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
    const notFor = (field: keyof typeof r, kinds: RuleKind[]) => {
      if (r[field] !== undefined && !kinds.includes(r.kind)) {
        ctx.addIssue({ code: 'custom', path: [field], message: `not used by a ${r.kind} rule (only ${kinds.join(', ')})` });
      }
    };
    notFor('aggregation', ['threshold']);
    notFor('op', ['threshold']);
    notFor('restarts', ['container_restarting']);
    notFor('within', ['disk_full']);
    notFor('lookback', ['disk_full']);
    notFor('threshold', ['threshold', 'disk_full']);
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
export type RuleSpec = z.output<typeof ruleSpecSchema>;
export type RuleSpecInput = z.input<typeof ruleSpecSchema>;

const retrySpec = z
  .object({
    max_attempts: z.number().int().min(1).max(20).optional(),
    initial_backoff: durationSpec.optional(),
    max_backoff: durationSpec.optional(),
  })
  .strict();

/** The settings every channel takes besides its own. */
export const channelCommon = {
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

export const CHANNEL_TYPES = CHANNELS.map((c) => c.type);

type ChannelSchemas<C extends readonly ChannelDefinition[]> = { [K in keyof C]: ChannelSchema<C[K]['type'], C[K]['fields']> };

/** A channel's settings: the common ones, and those its type declares (channels/<type>.ts), told apart by `type`. */
export const channelSpecSchema = z.discriminatedUnion(
  'type',
  CHANNELS.map((c) => z.object({ ...channelCommon, type: z.literal(c.type), ...c.fields }).strict()) as unknown as ChannelSchemas<
    typeof CHANNELS
  >,
);
export type ChannelSpec = z.output<typeof channelSpecSchema>;
export type ChannelSpecInput = z.input<typeof channelSpecSchema>;

/** Checks a cron expression the way the maintenance schedule will use it. */
function validCron(expr: string, tz: string | undefined): string | undefined {
  try {
    new Cron(expr, { paused: true, ...(tz ? { timezone: tz } : {}) }).stop();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export const timeSpec = z.union([z.string(), z.number()]).superRefine((v, ctx) => {
  if (!Number.isFinite(typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v))) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a time (milliseconds since the epoch or ISO 8601)` });
  }
});
export const timeMs = (v: string | number): number => (typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v));

/**
 * A silence mutes the alerts its matchers select: once, from starts_at to ends_at (or for a
 * duration), or as a maintenance window that opens on a cron schedule for a duration.
 */
export const silenceSpecSchema = z
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
    if (toMatchersSafe(s.matchers).length === 0) ctx.addIssue({ code: 'custom', path: ['matchers'], message: 'at least one matcher' });
    if (s.schedule !== undefined) {
      const err = validCron(s.schedule, s.timezone);
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
export type SilenceSpec = z.output<typeof silenceSpecSchema>;

function toMatchersSafe(s: SelectorSpec): Matcher[] {
  try {
    return toMatchers(s);
  } catch {
    return [{ name: 'invalid', op: '=', value: '' }];
  }
}

/** The rules file: rules, the channels they name, and maintenance windows. */
export const rulesFileSchema = z
  .object({
    rules: z.array(ruleSpecSchema).default([]),
    channels: z.array(channelSpecSchema).default([]),
    silences: z.array(silenceSpecSchema).default([]),
  })
  .strict();
export type RulesFile = z.output<typeof rulesFileSchema>;
