/**
 * Matrix: the client-server API's PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}
 * with a bot account's access token. The transaction id is the notification's id, so a retry of a
 * request that did arrive is the same event, not a second message.
 */
import { z } from 'zod';
import { escapeHtml } from '../template.ts';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  homeserver: httpUrl.describe("The homeserver's client API base (https://matrix.example.org)."),
  room_id: z
    .string()
    .regex(/^!.+:.+$/, "must be a room id (!opaque:server.name), not an alias (#room:server): see the room's advanced settings")
    .max(255)
    .describe('The room to write to; the account must have joined it.'),
  access_token: z.string().min(1).max(1000).describe("The sending account's access token."),
  msgtype: z.enum(['m.text', 'm.notice']).default('m.notice').describe('m.notice is what bots send: clients do not answer it.'),
};
type Spec = ChannelSettings<'matrix', typeof fields>;

function matrixSender(spec: Spec): ChannelSender {
  const base = `${spec.homeserver.replace(/\/+$/, '')}/_matrix/client/v3/rooms/${encodeURIComponent(spec.room_id)}/send/m.room.message/`;
  return {
    // The text goes out twice: as HTML (values escaped) and as plain text (the same, tags stripped).
    escape: escapeHtml,
    async send(n, signal) {
      const html = `<b>${n.title}</b><br>${n.text.replace(/\n/g, '<br>')}`;
      const plain = unescapeHtml(`${n.title}\n${n.text}`);
      const body = {
        msgtype: spec.msgtype,
        body: clip(plain, 30_000),
        format: 'org.matrix.custom.html',
        formatted_body: clip(html, 30_000),
      };
      const url = base + encodeURIComponent(`falconet-${n.id}`);
      const answer = parseJsonAnswer(
        await post(url, JSON.stringify(body), { authorization: `Bearer ${spec.access_token}` }, signal, 'PUT'),
        'Matrix',
      );
      if (typeof answer.event_id !== 'string') throw new DeliveryError(OUTCOME.notJson, 'Matrix answered without an event_id', false);
    },
  };
}

function unescapeHtml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export default defineChannel({
  type: 'matrix',
  fields,
  secrets: ['access_token'],
  destination: ['homeserver', 'room_id'],
  sender: matrixSender,
});
