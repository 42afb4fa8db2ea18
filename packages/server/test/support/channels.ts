/** Test support for the alert channels: one notification through a channel, run as the server runs it. */
import pino from 'pino';
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import { channelRuntime, DeliveryQueue } from '../../src/alerts/delivery.ts';
import { buildNotification, type NotifiedAlert } from '../../src/alerts/notification.ts';
import { type ChannelSpecInput, channelSpecSchema } from '../../src/alerts/spec.ts';

/** The notifications' clock. */
export const NOW = Date.parse('2025-03-01T12:00:00Z');

export function alert(host: string, status: 'firing' | 'resolved' = 'firing'): NotifiedAlert {
  return {
    status,
    fingerprint: `fp-${host}`,
    ruleId: 'r1',
    rule: 'High CPU',
    severity: 'critical',
    host,
    agent: host,
    labels: { alertname: 'High CPU', host, severity: 'critical' },
    annotations: {},
    value: 97.5,
    summary: 'falconet_cpu_usage_percent > 90: value 97.5',
    activeSinceMs: NOW - 60_000,
    firedAtMs: NOW - 30_000,
    resolvedAtMs: status === 'resolved' ? NOW : 0,
    startsAt: new Date(NOW - 30_000).toISOString(),
    endsAt: status === 'resolved' ? new Date(NOW).toISOString() : '',
    duration: '30s',
  };
}

export interface DeliverOptions {
  hosts?: string[];
  resolved?: string[];
  /** `alerts.delivery` settings: timeout, backoff, attempts. */
  delivery: Record<string, unknown>;
  notificationId?: string;
}

/** A channel as the server would run it, delivering one notification; resolves with its record, health, the log and the notification. */
export async function deliverOnce(input: ChannelSpecInput, o: DeliverOptions) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const defaults = alertsConfigSchema.parse({ delivery: o.delivery }).delivery;
  const ch = channelRuntime({ id: 'c', source: 'api', spec: channelSpecSchema.parse(input) }, defaults, () => NOW);
  const n = buildNotification(
    {
      id: o.notificationId ?? `n-${Math.random()}`,
      channel: ch.name,
      groupKey: 'g',
      groupLabels: { alertname: 'High CPU' },
      repeat: false,
      externalUrl: 'http://falconet.example',
    },
    (o.hosts ?? ['web-1', 'web-<2>']).map((h) => alert(h)),
    (o.resolved ?? []).map((h) => alert(h, 'resolved')),
    { title: ch.title, text: ch.text, maxAlerts: ch.maxAlerts, escape: ch.sender.escape },
    NOW,
  );
  const queue = new DeliveryQueue({ log, now: () => NOW });
  const rec = queue.enqueue(ch, n, 'firing');
  await queue.idle();
  ch.sender.close?.();
  return { rec, health: queue.health(ch.name), lines, n };
}
