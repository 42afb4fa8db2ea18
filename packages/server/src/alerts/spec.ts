/**
 * What users write: alert rules, notification channels and silences, in the YAML rules file and
 * in REST bodies alike (snake_case, durations as `5m` or seconds). Specs are stored as given, so
 * what is read back can be written again unchanged; compile.ts turns them into working form.
 * Rules and silences are the API contract's (@falconet/protocol/api), checked here with the
 * server's matchers, templates and cron; each channel type declares its own settings in its file
 * under channels/.
 */
import { type AlertSpecChecks, alertSpecs, type DurationSpec, type SelectorSpec } from '@falconet/protocol/api';
import { parseDuration } from '@falconet/protocol/config';
import { Cron } from 'croner';
import { z } from 'zod';
import { parseQuery, QueryError } from '../logs/query.ts';
import type { ChannelDefinition, ChannelSchema } from './channels/channel.ts';
import { CHANNELS } from './channels/index.ts';
import { type Matcher, MatcherError, toMatchers } from './matchers.ts';
import { templateProblem } from './template.ts';

export type { RuleSpec, RuleSpecInput, SilenceSpec } from '@falconet/protocol/api';

export const ms = (d: DurationSpec | undefined, fallback: number): number => (d === undefined ? fallback : parseDuration(d));

export const selector = (s: SelectorSpec | undefined): Matcher[] => toMatchers(s);

/** The checks the contract's alert specs take from the server: RE2 matchers, message templates, croner schedules. */
const checks: AlertSpecChecks = {
  selector(v) {
    try {
      return { matchers: toMatchers(v).length };
    } catch (err) {
      return { problem: err instanceof MatcherError ? err.message : String(err) };
    }
  },
  template: templateProblem,
  cron(expr, tz) {
    try {
      new Cron(expr, { paused: true, ...(tz ? { timezone: tz } : {}) }).stop();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  },
  logQuery(q) {
    try {
      parseQuery(q);
      return undefined;
    } catch (err) {
      if (err instanceof QueryError) return err.message;
      throw err;
    }
  },
};

const specs = alertSpecs(checks);
export const ruleSpecSchema = specs.ruleSpec;
export const silenceSpecSchema = specs.silenceSpec;
/** The settings every channel takes besides its own. */
export const channelCommon = specs.channelCommon;

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

/** A silence's starts_at or ends_at in milliseconds. */
export const timeMs = (v: string | number): number => (typeof v === 'number' ? v : /^\d+$/.test(v) ? Number(v) : Date.parse(v));

/** The rules file: rules, the channels they name, and maintenance windows. */
export const rulesFileSchema = z
  .object({
    rules: z.array(ruleSpecSchema).default([]),
    channels: z.array(channelSpecSchema).default([]),
    silences: z.array(silenceSpecSchema).default([]),
  })
  .strict();
export type RulesFile = z.output<typeof rulesFileSchema>;
