/** Bark (iOS): POST /push on the Bark server with the device key in the JSON body. */
import { z } from 'zod';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, clip, DeliveryError, OUTCOME, parseJsonAnswer, post } from './http.ts';

const fields = {
  url: httpUrl.default('https://api.day.app').describe('The Bark server (https://api.day.app or your own bark-server).'),
  device_key: z.string().min(1).max(200).describe("The device's key, the part after the server in the app's example URL."),
  group: z.string().max(100).default('Falconet').describe('Groups the notices in the notification centre.'),
  level: z
    .enum(['active', 'timeSensitive', 'passive', 'critical'])
    .default('timeSensitive')
    .describe('How firing notices interrupt (critical sounds even when muted); recovery notices are passive.'),
  sound: z.string().max(100).optional().describe("One of the app's sounds (alarm, bell...)."),
};
type Spec = ChannelSettings<'bark', typeof fields>;

function barkSender(spec: Spec): ChannelSender {
  const url = `${spec.url.replace(/\/+$/, '')}/push`;
  return {
    async send(n, signal) {
      const body = {
        device_key: spec.device_key,
        title: clip(n.title, 200),
        // Apple's push payload is at most 4 KiB, the envelope included.
        body: clip(n.text || n.title, 3000, true),
        group: spec.group,
        level: n.status === 'firing' ? spec.level : 'passive',
        ...(spec.sound ? { sound: spec.sound } : {}),
        ...(n.externalUrl ? { url: `${n.externalUrl}/alerts` } : {}),
      };
      const answer = parseJsonAnswer(await post(url, JSON.stringify(body), {}, signal), 'Bark');
      if (answer.code !== 200)
        throw new DeliveryError(OUTCOME.refused, `Bark code ${String(answer.code)}: ${String(answer.message ?? '')}`, false);
    },
  };
}

export default defineChannel({ type: 'bark', fields, secrets: ['device_key'], destination: ['url'], sender: barkSender });
