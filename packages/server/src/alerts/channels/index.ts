/** One sender per channel type; a new type is one file here and one line in this switch. */
import type { ChannelSpec } from '../spec.ts';
import { dingtalkSender } from './dingtalk.ts';
import { emailSender } from './email.ts';
import { feishuSender } from './feishu.ts';
import type { ChannelSender } from './http.ts';
import { slackSender } from './slack.ts';
import { telegramSender } from './telegram.ts';
import { webhookSender } from './webhook.ts';
import { wecomSender } from './wecom.ts';

export type { ChannelSender } from './http.ts';
export { DeliveryError, isOutcome, OUTCOME, outcomeOf } from './http.ts';

export function createSender(spec: ChannelSpec, opts: { timeoutMs: number; now: () => number }): ChannelSender {
  switch (spec.type) {
    case 'webhook':
      return webhookSender(spec, opts.now);
    case 'email':
      return emailSender(spec, opts.timeoutMs);
    case 'slack':
      return slackSender(spec);
    case 'telegram':
      return telegramSender(spec);
    case 'dingtalk':
      return dingtalkSender(spec, opts.now);
    case 'feishu':
      return feishuSender(spec, opts.now);
    case 'wecom':
      return wecomSender(spec);
  }
}

/** Fields that hold secrets, masked when a channel is read back over REST. */
export const SECRET_FIELDS = ['secret', 'password', 'bot_token'] as const;
export const MASK = '********';

/**
 * Webhook URLs carry their token in the path, query, fragment or user info: shown as scheme, host
 * and first path segment only, so where a channel sends stays readable and its token does not.
 */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    const segments = u.pathname.split('/').filter(Boolean);
    const hidden = u.search || u.hash || u.username || u.password || segments.length > 1;
    return hidden ? `${u.protocol}//${u.host}${segments.length ? `/${segments[0]}` : ''}/${MASK}` : url;
  } catch {
    return MASK;
  }
}
