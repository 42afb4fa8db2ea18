/**
 * What users write: alert rules, notification channels and silences, in the YAML rules file and
 * in REST bodies alike. Rules and silences are the API contract's (@falconet/protocol/api), checked
 * here with the server's matchers, templates and cron; channels are each type's own. Specs are
 * stored as given, so what is read back can be written again unchanged.
 */

import { type AlertSpecChecks, alertSpecs, type DurationSpec, type SelectorSpec } from '@falconet/protocol/api';
import { parseDuration } from '@falconet/protocol/config';
import { Cron } from 'croner';
import { z } from 'zod';
import { type Matcher, MatcherError, toMatchers } from './matchers.ts';
import { compileTemplate, TemplateError } from './template.ts';

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
  template(text) {
    try {
      compileTemplate(text);
      return undefined;
    } catch (err) {
      return err instanceof TemplateError ? err.message : String(err);
    }
  },
  cron(expr, tz) {
    try {
      new Cron(expr, { paused: true, ...(tz ? { timezone: tz } : {}) }).stop();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  },
};

const specs = alertSpecs(checks);
export const ruleSpecSchema = specs.ruleSpec;
export const silenceSpecSchema = specs.silenceSpec;
const { channelCommon, templateSpec } = specs;

const httpUrl = z
  .string()
  .max(2000)
  .refine((u) => {
    try {
      const p = new URL(u);
      return p.protocol === 'http:' || p.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

export const channelSpecSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...channelCommon,
      type: z.literal('webhook'),
      url: httpUrl,
      method: z.enum(['POST', 'PUT']).default('POST'),
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.string().max(4000)).optional(),
      /** Signs each request: X-Falconet-Signature: sha256=HMAC(secret, timestamp + "." + body). */
      secret: z.string().max(500).optional(),
      /** A JSON body template; the default is an Alertmanager-style payload. */
      body: templateSpec.optional(),
    })
    .strict(),
  z
    .object({
      ...channelCommon,
      type: z.literal('email'),
      smtp: z
        .object({
          host: z.string().min(1).max(253),
          port: z.number().int().min(1).max(65535).default(587),
          /** TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it. */
          secure: z.boolean().default(false),
          require_tls: z.boolean().default(false),
          username: z.string().max(500).optional(),
          password: z.string().max(500).optional(),
          /** Accept a certificate that does not verify (a test relay); never for a real one. */
          tls_insecure: z.boolean().default(false),
        })
        .strict(),
      from: z.string().min(3).max(500),
      to: z.array(z.string().min(3).max(500)).min(1).max(100),
    })
    .strict(),
  z.object({ ...channelCommon, type: z.literal('slack'), url: httpUrl }).strict(),
  z
    .object({
      ...channelCommon,
      type: z.literal('telegram'),
      bot_token: z.string().min(1).max(200),
      chat_id: z.union([z.string().min(1).max(200), z.number().int()]),
      /** The Bot API's base URL; another only for a local Bot API server or a test. */
      api_url: httpUrl.default('https://api.telegram.org'),
    })
    .strict(),
  z
    .object({
      ...channelCommon,
      type: z.literal('dingtalk'),
      url: httpUrl,
      /** The robot's signing secret (SEC...), when its security setting is "sign". */
      secret: z.string().max(500).optional(),
      at_mobiles: z.array(z.string().max(50)).max(50).optional(),
      at_all: z.boolean().optional(),
    })
    .strict(),
  z
    .object({
      ...channelCommon,
      type: z.literal('feishu'),
      url: httpUrl,
      /** The bot's signature-verification secret, when that security setting is on. */
      secret: z.string().max(500).optional(),
    })
    .strict(),
  z
    .object({
      ...channelCommon,
      type: z.literal('wecom'),
      url: httpUrl,
      mentioned_mobiles: z.array(z.string().max(50)).max(50).optional(),
    })
    .strict(),
]);
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
