/** Telegram: the Bot API's sendMessage in HTML parse mode; api_url can point at a local Bot API server. */
import { z } from 'zod';
import { escapeHtml } from '../template.ts';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  bot_token: z.string().min(1).max(200).describe('The token @BotFather gave the bot (123456:ABC...).'),
  chat_id: z.union([z.string().min(1).max(200), z.number().int()]).describe('The chat, group or channel to write to (-100...).'),
  message_thread_id: z
    .number()
    .int()
    .positive()
    .optional()
    .describe("A forum topic's thread id, to write into that topic of a group with topics."),
  api_url: httpUrl
    .default('https://api.telegram.org')
    .describe("The Bot API's base URL; another only for a local Bot API server or a test."),
};
type Spec = ChannelSettings<'telegram', typeof fields>;

function telegramSender(spec: Spec): ChannelSender {
  const url = `${spec.api_url.replace(/\/+$/, '')}/bot${spec.bot_token}/sendMessage`;
  return {
    escape: escapeHtml,
    async send(n, signal) {
      const body = {
        chat_id: spec.chat_id,
        ...(spec.message_thread_id !== undefined ? { message_thread_id: spec.message_thread_id } : {}),
        text: clip(`<b>${n.title}</b>\n${n.text}`, 4096),
        parse_mode: 'HTML',
        disable_web_page_preview: true,
      };
      let answer: Record<string, unknown>;
      try {
        answer = parseJsonAnswer(await post(url, JSON.stringify(body), {}, signal), 'Telegram');
      } catch (err) {
        throw scrub(err, spec.bot_token);
      }
      if (answer.ok !== true) throw new DeliveryError(OUTCOME.refused, `Telegram: ${String(answer.description ?? 'not ok')}`, false);
    },
  };
}

/** The bot token is in the URL path: keep it out of errors, logs and the REST answers. */
function scrub(err: unknown, token: string): unknown {
  if (!(err instanceof DeliveryError)) return err;
  return new DeliveryError(err.outcome, err.message.split(token).join('<token>'), err.retryable, err.retryAfterMs);
}

export default defineChannel({
  type: 'telegram',
  fields,
  secrets: ['bot_token'],
  destination: ['api_url', 'chat_id', 'message_thread_id'],
  sender: telegramSender,
});
