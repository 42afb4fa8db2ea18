/** WeCom (WeChat Work) group robots: markdown, or text when mobiles are to be mentioned. */
import type { ChannelSpec } from '../spec.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

type Spec = Extract<ChannelSpec, { type: 'wecom' }>;

export function wecomSender(spec: Spec): ChannelSender {
  return {
    async send(n, signal) {
      // Markdown messages cannot @-mention by mobile number; text messages can.
      const body = spec.mentioned_mobiles?.length
        ? {
            msgtype: 'text',
            text: { content: clip(`${n.title}\n${n.text}`, 2048, true), mentioned_mobile_list: spec.mentioned_mobiles },
          }
        : {
            msgtype: 'markdown',
            markdown: {
              content: clip(`**${n.title}**\n${n.text}${n.externalUrl ? `\n[Open alerts](${n.externalUrl}/alerts)` : ''}`, 4096, true),
            },
          };
      const answer = parseJsonAnswer(await post(spec.url, JSON.stringify(body), {}, signal), 'WeCom');
      if (answer.errcode !== 0) {
        // 45009: the robot's limit of 20 messages a minute.
        const limited = answer.errcode === 45009;
        throw new DeliveryError(
          limited ? OUTCOME.rateLimited : OUTCOME.refused,
          `WeCom errcode ${String(answer.errcode)}: ${String(answer.errmsg ?? '')}`,
          limited,
        );
      }
    },
  };
}
