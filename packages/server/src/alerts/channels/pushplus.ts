/** PushPlus (推送加): POST /send with the user's token, the text as markdown. */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  token: z.string().min(1).max(200).describe("The user's token from pushplus.plus."),
  topic: z.string().max(100).optional().describe("A group's code, to send to the group instead of the user alone."),
  channel: z
    .enum(['wechat', 'webhook', 'cp', 'mail', 'sms'])
    .default('wechat')
    .describe("PushPlus's own channel: the WeChat account, a webhook, WeCom (cp), mail or SMS."),
  api_url: httpUrl.default('https://www.pushplus.plus').describe("PushPlus's API; another only for a test or a proxy."),
};
type Spec = ChannelSettings<'pushplus', typeof fields>;

function pushplusSender(spec: Spec): ChannelSender {
  const url = `${spec.api_url.replace(/\/+$/, '')}/send`;
  return {
    async send(n, signal) {
      const body = {
        token: spec.token,
        title: clip(n.title, 100),
        content: clip(n.text || n.title, 20_000),
        template: 'markdown',
        channel: spec.channel,
        ...(spec.topic ? { topic: spec.topic } : {}),
      };
      const answer = parseJsonAnswer(await post(url, JSON.stringify(body), {}, signal), 'PushPlus');
      if (answer.code !== 200) {
        // 900: the daily limit of the account was reached; tomorrow is soon enough to try again.
        throw new DeliveryError(OUTCOME.refused, `PushPlus code ${String(answer.code)}: ${String(answer.msg ?? '')}`, false);
      }
    },
  };
}

export default defineChannel({ type: 'pushplus', fields, secrets: ['token'], destination: ['api_url'], sender: pushplusSender });
