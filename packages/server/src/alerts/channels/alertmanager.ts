/**
 * Prometheus Alertmanager: POST /api/v2/alerts, as Prometheus itself sends, so Falconet's alerts
 * join an existing routing tree, silences and inhibitions. A firing alert carries an endsAt in
 * the future (like Prometheus's), renewed by every reminder; a resolved one its resolution time.
 */
import { durationSpec } from '@falconet/protocol/api';
import { parseDuration } from '@falconet/protocol/config';
import { z } from 'zod';
import type { NotifiedAlert } from '../message.ts';
import { type ChannelSettings, defineChannel, httpUrl } from './channel.ts';
import { type ChannelSender, post } from './http.ts';

const fields = {
  url: httpUrl.describe("Alertmanager's base URL (http://alertmanager:9093), with its path prefix if it has one."),
  username: z.string().max(200).optional().describe('Basic authentication, when Alertmanager sits behind it (web.config.file).'),
  password: z.string().max(500).optional().describe('The basic authentication password.'),
  bearer_token: z.string().max(4000).optional().describe('Sent as Authorization: Bearer, instead of basic authentication.'),
  firing_ends_after: durationSpec
    .default('5h')
    .describe(
      "How long Alertmanager keeps a firing alert active without news: keep it above the rules' repeat_interval (4h by default), so reminders renew it.",
    ),
  labels: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Prometheus label name'), z.string().min(1).max(1000))
    .optional()
    .describe('Labels added to every alert (source: falconet, team...), for routing.'),
};
type Spec = ChannelSettings<'alertmanager', typeof fields>;

const TEST_HOLD_MS = 5 * 60_000;

/** Alertmanager before 0.27 takes only classic label names: others are rewritten, as Prometheus's relabelling would. */
const labelName = (k: string) => {
  const s = k.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
};

/** One alert as Alertmanager's postableAlert. Empty values are left out: Alertmanager treats them as absent. */
export function postableAlert(a: NotifiedAlert, extra: Record<string, string>, generatorURL: string, nowMs: number, holdMs: number) {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...a.labels, ...extra })) if (v !== '') labels[labelName(k)] = v;
  labels.alertname ??= a.rule;
  const annotations: Record<string, string> = { summary: a.summary };
  for (const [k, v] of Object.entries(a.annotations)) if (v !== '') annotations[labelName(k)] = v;
  annotations.value = String(a.value);
  return {
    labels,
    annotations,
    startsAt: a.startsAt,
    endsAt: a.status === 'resolved' ? a.endsAt : new Date(nowMs + holdMs).toISOString(),
    ...(generatorURL ? { generatorURL } : {}),
  };
}

function alertmanagerSender(spec: Spec, { now }: { now: () => number }): ChannelSender {
  const url = `${spec.url.replace(/\/+$/, '')}/api/v2/alerts`;
  const holdMs = parseDuration(spec.firing_ends_after);
  const headers: Record<string, string> = spec.bearer_token
    ? { authorization: `Bearer ${spec.bearer_token}` }
    : spec.username
      ? { authorization: `Basic ${Buffer.from(`${spec.username}:${spec.password ?? ''}`).toString('base64')}` }
      : {};
  return {
    async send(n, signal) {
      const generatorURL = n.externalUrl ? `${n.externalUrl}/alerts` : '';
      // A "send test" alert (service.ts's testChannel) ends by itself soon: it should not page anyone for hours.
      const body = n.alerts.map((a) =>
        postableAlert(
          a,
          spec.labels ?? {},
          generatorURL,
          now(),
          a.ruleId === 'test' && a.fingerprint === 'test' ? Math.min(holdMs, TEST_HOLD_MS) : holdMs,
        ),
      );
      await post(url, JSON.stringify(body), headers, signal);
    },
  };
}

export default defineChannel({
  type: 'alertmanager',
  fields,
  secrets: ['password', 'bearer_token'],
  destination: ['url', 'username'],
  sender: alertmanagerSender,
});
