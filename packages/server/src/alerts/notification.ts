/** What one message to one channel says: a group's firing and resolved alerts, with the title and text to show. */

import type { Notification, NotifiedAlert } from './message.ts';
import type { CompiledRule } from './rule.ts';
import { compileTemplate, formatDurationMs, type Template } from './template.ts';

export type { Notification, NotifiedAlert } from './message.ts';

export const DEFAULT_TITLE = compileTemplate('[{{status | upper}}{{#firingCount}}:{{firingCount}}{{/firingCount}}] {{name}}');

export const DEFAULT_TEXT = compileTemplate(
  [
    '{{#shownFiring}}- [{{severity}}] {{host}}: {{summary}} (for {{duration}})\n{{/shownFiring}}',
    '{{#moreFiring}}- and {{moreFiring}} more firing\n{{/moreFiring}}',
    '{{#shownResolved}}- [resolved] {{host}}: {{summary}} (after {{duration}})\n{{/shownResolved}}',
    '{{#moreResolved}}- and {{moreResolved}} more resolved\n{{/moreResolved}}',
  ].join(''),
);

/** The value as a person reads it: a few significant digits, no exponent for everyday sizes. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? String(Math.round(v)) : String(Number(v.toPrecision(a >= 1 ? 4 : 3)));
}

export interface AlertForMessage {
  status: 'firing' | 'resolved';
  fingerprint: string;
  rule: CompiledRule;
  labels: Record<string, string>;
  value: number;
  series: string;
  activeSinceMs: number;
  firedAtMs: number;
  resolvedAtMs: number;
  details: Record<string, number> | undefined;
}

/**
 * The Logs page showing the lines a log_lines alert counted: its query (narrowed to the agent for
 * a per-host alert) over the window that ended when it fired (or resolved).
 */
export function logsLink(a: AlertForMessage, nowMs: number, externalUrl: string): string {
  const r = a.rule;
  const q = r.spec.query?.trim() ?? '';
  // Per host, the lines of that agent, or of that syslog sender (which has no agent id).
  const narrow = r.fleet ? '' : a.labels.agent ? `agent:${a.labels.agent}` : a.labels.host ? `host:${a.labels.host}` : '';
  const query = !narrow ? q : q ? `${narrow} (${q})` : narrow;
  const to = a.status === 'resolved' ? a.resolvedAtMs : a.firedAtMs || nowMs;
  const params = new URLSearchParams({ q: query, from: String(to - r.windowMs), to: String(to) });
  return `${externalUrl.replace(/\/+$/, '')}/logs?${params}`;
}

/** Renders an alert's annotations (the rule's templates) and its one-line summary. */
export function describeAlert(a: AlertForMessage, nowMs: number, externalUrl = ''): NotifiedAlert {
  const r = a.rule;
  const logsUrl = r.kind === 'log_lines' ? logsLink(a, nowMs, externalUrl) : undefined;
  const ctx = {
    labels: a.labels,
    value: a.value,
    threshold: r.threshold,
    op: r.op,
    host: a.labels.host,
    agent: a.labels.agent,
    rule: r.name,
    severity: r.spec.severity,
    condition: r.describeCondition(),
    series: a.series,
    window: formatDurationMs(r.windowMs),
    for: formatDurationMs(r.forMs),
    query: r.spec.query,
    logs_url: logsUrl,
    ...a.details,
  };
  const annotations: Record<string, string> = {};
  if (logsUrl) annotations.logs_url = logsUrl;
  for (const [k, t] of r.annotations) annotations[k] = t.render(ctx);
  const hoursLeft = a.details?.hours_left;
  const summary =
    annotations.summary ??
    (r.kind === 'log_lines'
      ? `${formatValue(a.value)} lines matching ${JSON.stringify(r.spec.query ?? '')} in ${formatDurationMs(r.windowMs)} (${r.op} ${r.threshold}): ${logsUrl}`
      : undefined) ??
    `${r.describeCondition()}${a.series ? ` ${a.series}` : ''}: ${
      r.kind === 'disk_full' && hoursLeft !== undefined
        ? `full in ${formatDurationMs(hoursLeft * 3_600_000)}`
        : r.kind === 'agent_offline' || r.kind === 'container_down'
          ? a.status === 'firing'
            ? 'yes'
            : 'no longer'
          : `value ${formatValue(a.value)}`
    }`;
  const since = a.firedAtMs || a.activeSinceMs;
  const end = a.status === 'resolved' ? a.resolvedAtMs : nowMs;
  return {
    status: a.status,
    fingerprint: a.fingerprint,
    ruleId: r.id,
    rule: r.name,
    severity: r.spec.severity,
    host: a.labels.host ?? '',
    agent: a.labels.agent ?? '',
    labels: a.labels,
    annotations,
    value: a.value,
    summary,
    activeSinceMs: a.activeSinceMs,
    firedAtMs: a.firedAtMs,
    resolvedAtMs: a.resolvedAtMs,
    startsAt: new Date(since).toISOString(),
    endsAt: a.status === 'resolved' ? new Date(a.resolvedAtMs).toISOString() : '',
    duration: formatDurationMs(Math.max(0, end - since)),
  };
}

function common(maps: Record<string, string>[]): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = { ...maps[0] };
  for (const m of maps.slice(1)) for (const k of Object.keys(out)) if (m[k] !== out[k]) delete out[k];
  return out;
}

export interface ChannelTemplates {
  title?: Template | undefined;
  text?: Template | undefined;
  maxAlerts: number;
  escape?: ((s: string) => string) | undefined;
}

export function buildNotification(
  base: { id: string; channel: string; groupKey: string; groupLabels: Record<string, string>; repeat: boolean; externalUrl: string },
  firing: NotifiedAlert[],
  resolved: NotifiedAlert[],
  t: ChannelTemplates,
  nowMs: number,
): Notification {
  const alerts = [...firing, ...resolved];
  const shownFiring = firing.slice(0, t.maxAlerts);
  const shownResolved = resolved.slice(0, Math.max(0, t.maxAlerts - shownFiring.length));
  const commonLabels = common(alerts.map((a) => a.labels));
  const n: Notification = {
    ...base,
    status: firing.length > 0 ? 'firing' : 'resolved',
    name: base.groupLabels.alertname ?? commonLabels.alertname ?? `${alerts.length} alerts`,
    commonLabels,
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    alerts,
    firing,
    resolved,
    firingCount: firing.length,
    resolvedCount: resolved.length,
    shownFiring,
    shownResolved,
    moreFiring: firing.length - shownFiring.length,
    moreResolved: resolved.length - shownResolved.length,
    createdMs: nowMs,
    title: '',
    text: '',
  };
  n.title = (t.title ?? DEFAULT_TITLE).render(n, t.escape).trim() || `[${n.status.toUpperCase()}] alerts`;
  n.text = (t.text ?? DEFAULT_TEXT).render(n, t.escape);
  return n;
}
