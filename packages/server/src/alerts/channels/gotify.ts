/** Gotify: POST /message with an application's token in X-Gotify-Key; the text rendered as markdown. */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const priority = z.number().int().min(0).max(10);

const fields = {
  url: httpUrl.describe('The Gotify server (https://gotify.example.com), without /message.'),
  token: z.string().min(1).max(200).describe("An application's token (A...), from Gotify's Apps page."),
  priority: priority.default(8).describe("The priority of firing notices, 0 to 10 (Gotify's apps notify from 4 or 5 up, by client)."),
  resolved_priority: priority.default(4).describe('The priority of recovery notices.'),
};
type Spec = ChannelSettings<'gotify', typeof fields>;

function gotifySender(spec: Spec): ChannelSender {
  const url = `${spec.url.replace(/\/+$/, '')}/message`;
  return {
    async send(n, signal) {
      const body = {
        title: clip(n.title, 250),
        message: clip(n.text || n.title, 60_000),
        priority: n.status === 'firing' ? spec.priority : spec.resolved_priority,
        extras: {
          'client::display': { contentType: 'text/markdown' },
          ...(n.externalUrl ? { 'client::notification': { click: { url: `${n.externalUrl}/alerts` } } } : {}),
        },
      };
      const answer = parseJsonAnswer(await post(url, JSON.stringify(body), { 'x-gotify-key': spec.token }, signal), 'Gotify');
      if (typeof answer.id !== 'number') throw new DeliveryError(OUTCOME.notJson, `Gotify answered without a message id`, false);
    },
  };
}

export default defineChannel({ type: 'gotify', fields, secrets: ['token'], destination: ['url'], sender: gotifySender });
