/**
 * A generic webhook: an Alertmanager-style JSON payload (or a body template), signed with
 * HMAC-SHA256 when the channel has a secret, so the receiver can tell it came from this server.
 */
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { compileTemplate, escapeJsonString, templateSpec } from '../template.ts';
import { type ChannelSettings, defineChannel, httpUrl, type SenderOptions } from './channel.ts';
import { type ChannelSender, DeliveryError, OUTCOME, post } from './http.ts';

const fields = {
  url: httpUrl.describe('Where each notification is sent.'),
  method: z.enum(['POST', 'PUT']).default('POST').describe('The HTTP method.'),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.string().max(4000))
    .optional()
    .describe('Extra request headers (Authorization...); their values are kept secret.'),
  secret: z.string().max(500).optional().describe('Signs each request: X-Falconet-Signature: sha256=HMAC(secret, timestamp + "." + body).'),
  body: templateSpec.optional().describe('A JSON body template; the default is an Alertmanager-style payload.'),
};
type WebhookSpec = ChannelSettings<'webhook', typeof fields>;

export const SIGNATURE_HEADER = 'x-falconet-signature';
export const TIMESTAMP_HEADER = 'x-falconet-timestamp';

/** `sha256=` + hex HMAC-SHA256 of `TIMESTAMP.BODY`: the timestamp inside the MAC stops replays of old bodies. */
export function webhookSignature(secret: string, timestampS: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')}`;
}

function webhookSender(spec: WebhookSpec, { now }: SenderOptions): ChannelSender {
  const body = spec.body ? compileTemplate(spec.body) : undefined;
  return {
    async send(n, signal) {
      let payload: string;
      if (body) {
        payload = body.render(n, escapeJsonString);
        try {
          JSON.parse(payload);
        } catch (err) {
          throw new DeliveryError(OUTCOME.badTemplate, `body template did not produce JSON (${(err as Error).message})`, false);
        }
      } else payload = JSON.stringify(defaultPayload(n));
      const ts = Math.floor(now() / 1000);
      const headers: Record<string, string> = { ...spec.headers, 'x-falconet-delivery': n.id };
      if (spec.secret) {
        headers[TIMESTAMP_HEADER] = String(ts);
        headers[SIGNATURE_HEADER] = webhookSignature(spec.secret, ts, payload);
      }
      await post(spec.url, payload, headers, signal, spec.method);
    },
  };
}

/** The payload Alertmanager's webhook receivers understand, plus the rendered title and text. */
export function defaultPayload(n: import('../message.ts').Notification) {
  return {
    version: '4',
    receiver: n.channel,
    status: n.status,
    groupKey: n.groupKey,
    truncatedAlerts: 0,
    groupLabels: n.groupLabels,
    commonLabels: n.commonLabels,
    commonAnnotations: n.commonAnnotations,
    externalURL: n.externalUrl,
    repeat: n.repeat,
    title: n.title,
    message: n.text,
    alerts: n.alerts.map((a) => ({
      status: a.status,
      labels: a.labels,
      annotations: { summary: a.summary, ...a.annotations },
      startsAt: a.startsAt,
      endsAt: a.endsAt || '0001-01-01T00:00:00Z',
      generatorURL: `${n.externalUrl}/alerts`,
      fingerprint: a.fingerprint,
      value: a.value,
    })),
  };
}

export default defineChannel({
  type: 'webhook',
  fields,
  // Every header value: which headers a webhook sends shows, what they hold does not.
  secrets: ['secret', 'headers.*'],
  destination: ['url'],
  sender: webhookSender,
});
