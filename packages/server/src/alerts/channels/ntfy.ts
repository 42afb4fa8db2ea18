/** ntfy: JSON publishing to the server's root URL, with an access token or a user's password when the topic is protected. */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl, secretMatching } from './channel.ts';
import { type ChannelSender, clip, post } from './http.ts';

const priority = z.number().int().min(1).max(5);

const fields = {
  url: httpUrl.default('https://ntfy.sh').describe('The ntfy server (https://ntfy.sh or your own).'),
  topic: secretMatching(/^[-_A-Za-z0-9]{1,64}$/, "must be 1 to 64 letters, digits, - or _ (ntfy's topic names)").describe(
    'The topic to publish to; on a public server its name is its only protection.',
  ),
  token: z.string().max(200).optional().describe('An access token (tk_...), sent as a Bearer token.'),
  username: z.string().max(200).optional().describe('A user, when the topic is protected by a password instead of a token.'),
  password: z.string().max(200).optional().describe("That user's password."),
  priority: priority.default(4).describe('The priority of firing notices, 1 (min) to 5 (max).'),
  resolved_priority: priority.default(3).describe('The priority of recovery notices.'),
  tags: z.array(z.string().min(1).max(100)).max(20).optional().describe('Tags, or emoji short codes, shown with the message.'),
};
type Spec = ChannelSettings<'ntfy', typeof fields>;

function authorization(spec: Spec): Record<string, string> {
  if (spec.token) return { authorization: `Bearer ${spec.token}` };
  if (spec.username) return { authorization: `Basic ${Buffer.from(`${spec.username}:${spec.password ?? ''}`).toString('base64')}` };
  return {};
}

function ntfySender(spec: Spec): ChannelSender {
  const url = `${spec.url.replace(/\/+$/, '')}/`;
  return {
    async send(n, signal) {
      const firing = n.status === 'firing';
      const body = {
        topic: spec.topic,
        title: clip(n.title, 250),
        // ntfy turns messages over 4,096 bytes into attachments: stay below.
        message: clip(n.text || n.title, 4000, true),
        priority: firing ? spec.priority : spec.resolved_priority,
        tags: [...(spec.tags ?? []), firing ? 'rotating_light' : 'white_check_mark'],
        ...(n.externalUrl ? { click: `${n.externalUrl}/alerts` } : {}),
      };
      await post(url, JSON.stringify(body), authorization(spec), signal);
    },
  };
}

export default defineChannel({
  type: 'ntfy',
  fields,
  // The topic too: on ntfy.sh whoever knows its name can read it.
  secrets: ['topic', 'token', 'password'],
  destination: ['url', 'topic', 'username'],
  sender: ntfySender,
});
