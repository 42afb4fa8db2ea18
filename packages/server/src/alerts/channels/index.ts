/**
 * The channel types: one file each in this directory, declaring its settings, secrets,
 * destination and sender (channel.ts); a new type is one file and one entry in CHANNELS.
 */

import alertmanager from './alertmanager.ts';
import bark from './bark.ts';
import type { ChannelDefinition, SenderOptions } from './channel.ts';
import dingtalk from './dingtalk.ts';
import discord from './discord.ts';
import email from './email.ts';
import feishu from './feishu.ts';
import gotify from './gotify.ts';
import type { ChannelSender } from './http.ts';
import matrix from './matrix.ts';
import ntfy from './ntfy.ts';
import pushover from './pushover.ts';
import pushplus from './pushplus.ts';
import serverchan from './serverchan.ts';
import slack from './slack.ts';
import teams from './teams.ts';
import telegram from './telegram.ts';
import webhook from './webhook.ts';
import wecom from './wecom.ts';

export type { ChannelSender } from './http.ts';
export { DeliveryError, isOutcome, OUTCOME, outcomeOf } from './http.ts';

/** In this order in the OpenAPI document. */
export const CHANNELS = [
  webhook,
  email,
  slack,
  telegram,
  dingtalk,
  feishu,
  wecom,
  discord,
  teams,
  ntfy,
  gotify,
  bark,
  serverchan,
  pushplus,
  pushover,
  matrix,
  alertmanager,
] as const;

const byType = new Map<string, ChannelDefinition>(CHANNELS.map((c) => [c.type, c as ChannelDefinition]));

/** The definition of a channel's type; a parsed spec's type always has one. */
export function channelDefinition(type: string): ChannelDefinition {
  const def = byType.get(type);
  if (!def) throw new Error(`no channel type "${type}" (types: ${[...byType.keys()].join(', ')})`);
  return def;
}

/** A sender for a parsed channel spec (spec.ts's ChannelSpec), by its type's definition. */
export function createSender(spec: Parameters<ChannelDefinition['sender']>[0] & { type: string }, opts: SenderOptions): ChannelSender {
  return channelDefinition(spec.type).sender(spec, opts);
}
