/** WeCom (WeChat Work) group robots: markdown, or text when mobiles are to be mentioned. */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  url: httpUrl.describe("The group robot's webhook URL, with its key."),
  mentioned_mobiles: z.array(z.string().max(50)).max(50).optional().describe('Mobile numbers to @mention.'),
};
type Spec = ChannelSettings<'wecom', typeof fields>;

function wecomSender(spec: Spec): ChannelSender {
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

export default defineChannel({ type: 'wecom', fields, destination: ['url'], sender: wecomSender });
