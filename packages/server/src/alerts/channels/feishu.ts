/** Feishu/Lark custom bots: an interactive card, red while firing and green when resolved; signed when set. */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl, type SenderOptions } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  url: httpUrl.describe("The bot's webhook URL."),
  secret: z.string().max(500).optional().describe("The bot's signature-verification secret, when that security setting is on."),
};
type Spec = ChannelSettings<'feishu', typeof fields>;

/**
 * Feishu/Lark's bot signature: HMAC-SHA256 keyed by "timestamp\nsecret" over an empty message,
 * Base64; sent in the body with the timestamp in seconds.
 */
export function feishuSign(secret: string, timestampS: number): string {
  return createHmac('sha256', `${timestampS}\n${secret}`).update('').digest('base64');
}

function feishuSender(spec: Spec, { now }: SenderOptions): ChannelSender {
  return {
    async send(n, signal) {
      const body: Record<string, unknown> = {
        msg_type: 'interactive',
        card: {
          config: { wide_screen_mode: true },
          header: { title: { tag: 'plain_text', content: clip(n.title, 200) }, template: n.status === 'firing' ? 'red' : 'green' },
          elements: [
            { tag: 'div', text: { tag: 'lark_md', content: clip(n.text || n.title, 20_000) } },
            ...(n.externalUrl ? [{ tag: 'div', text: { tag: 'lark_md', content: `[Open alerts](${n.externalUrl}/alerts)` } }] : []),
          ],
        },
      };
      if (spec.secret) {
        const ts = Math.floor(now() / 1000);
        body.timestamp = String(ts);
        body.sign = feishuSign(spec.secret, ts);
      }
      const answer = parseJsonAnswer(await post(spec.url, JSON.stringify(body), {}, signal), 'Feishu');
      // Newer answers carry `code`, older ones `StatusCode`; 0 is success in both.
      const code = answer.code ?? answer.StatusCode;
      if (code !== 0) {
        // 11232: the bot's frequency limit.
        const limited = code === 11232;
        throw new DeliveryError(
          limited ? OUTCOME.rateLimited : OUTCOME.refused,
          `Feishu code ${String(code)}: ${String(answer.msg ?? answer.StatusMessage ?? '')}`,
          limited,
        );
      }
    },
  };
}

export default defineChannel({ type: 'feishu', fields, secrets: ['secret'], destination: ['url'], sender: feishuSender });
