/** Telegram: the Bot API's sendMessage in HTML parse mode; api_url can point at a local Bot API server. */
import type { ChannelSpec } from '../spec.ts';
import { escapeHtml } from '../template.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

type Spec = Extract<ChannelSpec, { type: 'telegram' }>;

export function telegramSender(spec: Spec): ChannelSender {
  const url = `${spec.api_url.replace(/\/+$/, '')}/bot${spec.bot_token}/sendMessage`;
  return {
    escape: escapeHtml,
    async send(n, signal) {
      const body = {
        chat_id: spec.chat_id,
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
