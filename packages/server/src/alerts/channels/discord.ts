/** Discord webhooks: one embed, red while firing and green once resolved; Discord answers 204 No Content. */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, post } from './http.ts';

const fields = {
  url: httpUrl.describe('The webhook URL (https://discord.com/api/webhooks/ID/TOKEN).'),
  username: z.string().min(1).max(80).optional().describe("Overrides the webhook's default name."),
  avatar_url: httpUrl.optional().describe("Overrides the webhook's default avatar."),
};
type Spec = ChannelSettings<'discord', typeof fields>;

/** Discord's markdown: a backslash before a markup character shows it as itself. */
const escapeDiscord = (s: string) => s.replace(/[\\*_~`|>[\]()#-]/g, '\\$&');

function discordSender(spec: Spec): ChannelSender {
  return {
    escape: escapeDiscord,
    async send(n, signal) {
      // Discord's limits: content 2,000 characters, embed title 256, description 4,096.
      const body = {
        ...(spec.username ? { username: spec.username } : {}),
        ...(spec.avatar_url ? { avatar_url: spec.avatar_url } : {}),
        content: '',
        embeds: [
          {
            title: clip(n.title, 256),
            description: clip(n.text || n.title, 4096),
            color: n.status === 'firing' ? 0xd93f0b : 0x2da44e,
            ...(n.externalUrl ? { url: `${n.externalUrl}/alerts` } : {}),
            timestamp: new Date(n.createdMs).toISOString(),
          },
        ],
        // Mentions written in alert text must not ping anyone.
        allowed_mentions: { parse: [] },
      };
      await post(spec.url, JSON.stringify(body), {}, signal);
    },
  };
}

export default defineChannel({ type: 'discord', fields, destination: ['url'], sender: discordSender });
