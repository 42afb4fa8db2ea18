/**
 * Microsoft Teams: an Adaptive Card in a "message" envelope, the shape both Power Automate's
 * "When a Teams webhook request is received" workflows and the older incoming webhooks take.
 */
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, post } from './http.ts';

const fields = {
  url: httpUrl.describe("The workflow's HTTP POST URL (https://...logic.azure.com/workflows/...) or an incoming webhook URL."),
};
type Spec = ChannelSettings<'teams', typeof fields>;

function teamsSender(spec: Spec): ChannelSender {
  return {
    async send(n, signal) {
      const card = {
        $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
        type: 'AdaptiveCard',
        version: '1.4',
        msteams: { width: 'Full' },
        body: [
          {
            type: 'TextBlock',
            text: clip(n.title, 500),
            weight: 'Bolder',
            size: 'Medium',
            wrap: true,
            color: n.status === 'firing' ? 'Attention' : 'Good',
          },
          { type: 'TextBlock', text: clip(n.text || n.title, 20_000), wrap: true },
        ],
        ...(n.externalUrl ? { actions: [{ type: 'Action.OpenUrl', title: 'Open alerts', url: `${n.externalUrl}/alerts` }] } : {}),
      };
      const body = {
        type: 'message',
        attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }],
      };
      const r = await post(spec.url, JSON.stringify(body), {}, signal);
      // Workflows answer 202 with nothing; an incoming webhook answers 200 "1", or 200 with the reason it refused.
      const text = r.text.trim();
      if (r.status === 200 && text && text !== '1' && !text.startsWith('{')) {
        throw new DeliveryError(OUTCOME.refused, `Teams answered ${text.slice(0, 200)}`, false);
      }
    },
  };
}

export default defineChannel({ type: 'teams', fields, destination: ['url'], sender: teamsSender });
