/** Slack incoming webhooks: a header and a mrkdwn section, with the title as the notification text. */
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, post } from './http.ts';

const fields = { url: httpUrl.describe('The incoming webhook URL (https://hooks.slack.com/services/...).') };
type Spec = ChannelSettings<'slack', typeof fields>;

/** Slack's mrkdwn treats only &, < and > as markup. */
const escapeSlack = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function slackSender(spec: Spec): ChannelSender {
  return {
    escape: escapeSlack,
    async send(n, signal) {
      const body = {
        text: n.title,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: clip(n.title, 150), emoji: true } },
          { type: 'section', text: { type: 'mrkdwn', text: clip(n.text || n.title, 3000) } },
          ...(n.externalUrl ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `<${n.externalUrl}/alerts|Open alerts>` }] }] : []),
        ],
      };
      const r = await post(spec.url, JSON.stringify(body), {}, signal);
      // An incoming webhook answers the plain text "ok"; anything else names the problem.
      if (r.text.trim() !== 'ok') throw new DeliveryError(OUTCOME.refused, `Slack answered ${r.text.slice(0, 200)}`, false);
    },
  };
}

export default defineChannel({ type: 'slack', fields, destination: ['url'], sender: slackSender });
