/**
 * Pushover: POST /1/messages.json, form-encoded, with the application's token and the user's (or
 * group's) key. Emergency priority (2) repeats until acknowledged: every `retry`, for `expire`.
 */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl, secretMatching } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const key = secretMatching(/^[A-Za-z0-9]{30}$/, "must be 30 letters and digits (Pushover's keys)");

const fields = {
  token: key.describe("The application's API token."),
  user_key: key.describe('The user or group key to send to.'),
  device: z.string().max(250).optional().describe("Some of the user's devices only, by name, comma-separated."),
  priority: z.number().int().min(-2).max(2).default(1).describe('-2 (silent) to 2 (emergency: repeats until acknowledged).'),
  retry: z.number().int().min(30).max(10_800).default(300).describe('Emergency priority: seconds between repeats (at least 30).'),
  expire: z.number().int().min(30).max(10_800).default(3600).describe('Emergency priority: seconds before repeats stop (at most 10,800).'),
  sound: z.string().max(50).optional().describe("One of Pushover's sounds (siren, pushover...)."),
  api_url: httpUrl.default('https://api.pushover.net').describe("Pushover's API; another only for a test or a proxy."),
};
type Spec = ChannelSettings<'pushover', typeof fields>;

/** Pushover's HTML subset is <b>, <i>, <u>, <font>, <a>: everything else in values is shown as text. */
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function pushoverSender(spec: Spec): ChannelSender {
  const url = `${spec.api_url.replace(/\/+$/, '')}/1/messages.json`;
  return {
    escape: escapeHtml,
    async send(n, signal) {
      const firing = n.status === 'firing';
      // Recovery notices do not page: at most normal priority.
      const priority = firing ? spec.priority : Math.min(spec.priority, 0);
      const form = new URLSearchParams({
        token: spec.token,
        user: spec.user_key,
        title: clip(n.title, 250),
        message: clip(n.text || n.title, 1024),
        html: '1',
        priority: String(priority),
        timestamp: String(Math.floor(n.createdMs / 1000)),
      });
      if (priority === 2) {
        form.set('retry', String(spec.retry));
        form.set('expire', String(spec.expire));
      }
      if (spec.device) form.set('device', spec.device);
      if (spec.sound) form.set('sound', spec.sound);
      if (n.externalUrl) {
        form.set('url', `${n.externalUrl}/alerts`);
        form.set('url_title', 'Open alerts');
      }
      const answer = parseJsonAnswer(
        await post(url, form.toString(), { 'content-type': 'application/x-www-form-urlencoded' }, signal),
        'Pushover',
      );
      if (answer.status !== 1) {
        const errors = Array.isArray(answer.errors) ? answer.errors.join('; ') : '';
        throw new DeliveryError(OUTCOME.refused, `Pushover status ${String(answer.status)}: ${errors}`, false);
      }
    },
  };
}

export default defineChannel({
  type: 'pushover',
  fields,
  secrets: ['token', 'user_key'],
  destination: ['api_url', 'user_key', 'device'],
  sender: pushoverSender,
});
