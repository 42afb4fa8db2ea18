/** DingTalk custom robots: a markdown message, signed when the robot's security setting is "sign". */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl, type SenderOptions } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  url: httpUrl.describe("The robot's webhook URL, with its access_token."),
  secret: z.string().max(500).optional().describe('The robot\'s signing secret (SEC...), when its security setting is "sign".'),
  at_mobiles: z.array(z.string().max(50)).max(50).optional().describe('Mobile numbers to @mention.'),
  at_all: z.boolean().optional().describe('@mention everyone in the group.'),
};
type Spec = ChannelSettings<'dingtalk', typeof fields>;

/**
 * DingTalk's robot signature: HMAC-SHA256 keyed by the secret over "timestamp\nsecret",
 * Base64, then URL-encoded, sent as the `timestamp` (ms) and `sign` query parameters.
 */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return encodeURIComponent(createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64'));
}

function dingtalkSender(spec: Spec, { now }: SenderOptions): ChannelSender {
  return {
    async send(n, signal) {
      let url = spec.url;
      if (spec.secret) {
        const ts = now();
        url += `${url.includes('?') ? '&' : '?'}timestamp=${ts}&sign=${dingtalkSign(spec.secret, ts)}`;
      }
      // A mobile number is @-mentioned only when it also appears in the text.
      const mentions = spec.at_mobiles?.length ? `\n\n${spec.at_mobiles.map((m) => `@${m}`).join(' ')}` : '';
      const body = {
        msgtype: 'markdown',
        markdown: { title: clip(n.title, 100), text: clip(`### ${n.title}\n\n${n.text}${mentions}`, 18_000, true) },
        at: { atMobiles: spec.at_mobiles ?? [], isAtAll: spec.at_all ?? false },
      };
      const answer = parseJsonAnswer(await post(url, JSON.stringify(body), {}, signal), 'DingTalk');
      if (answer.errcode !== 0) {
        // 130101: sending too fast (20 a minute per robot); worth another try later.
        const limited = answer.errcode === 130101;
        throw new DeliveryError(
          limited ? OUTCOME.rateLimited : OUTCOME.refused,
          `DingTalk errcode ${String(answer.errcode)}: ${String(answer.errmsg ?? '')}`,
          limited,
        );
      }
    },
  };
}

export default defineChannel({ type: 'dingtalk', fields, secrets: ['secret'], destination: ['url'], sender: dingtalkSender });
