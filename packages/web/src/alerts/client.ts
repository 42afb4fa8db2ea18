/** The alerting REST API (/api/alerts), as the dashboard's alert pages use it. */
import { request } from '../http.ts';

export type Severity = 'info' | 'warning' | 'critical';
export const RULE_KINDS = ['threshold', 'agent_offline', 'no_data', 'container_down', 'container_restarting', 'disk_full'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];
export const AGGREGATIONS = ['avg', 'min', 'max', 'last', 'sum', 'count', 'rate', 'increase', 'delta'] as const;
export const COMPARISONS = ['>', '>=', '<', '<=', '==', '!='] as const;
export const CHANNEL_TYPES = ['webhook', 'email', 'slack', 'telegram', 'dingtalk', 'feishu', 'wecom'] as const;

interface Meta {
  id: string;
  source: 'api' | 'file';
  createdBy: string;
  createdMs: number;
  updatedMs: number;
}

export interface RuleSpec {
  name: string;
  kind: RuleKind;
  enabled?: boolean;
  severity?: Severity;
  description?: string;
  hosts?: string[];
  host_labels?: string | Record<string, string>;
  series_labels?: string | Record<string, string>;
  metric?: string;
  aggregation?: (typeof AGGREGATIONS)[number];
  window?: string | number;
  op?: (typeof COMPARISONS)[number];
  threshold?: number;
  for?: string | number;
  restarts?: number;
  within?: string | number;
  lookback?: string | number;
  channels?: string[];
  group_by?: string[];
  group_wait?: string | number;
  group_interval?: string | number;
  repeat_interval?: string | number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export type Rule = RuleSpec & Meta & { pending: number; firing: number };

export interface ChannelHealth {
  delivered: number;
  failed: number;
  dropped: number;
  attempts: number;
  retries: number;
  consecutiveFailures: number;
  lastSuccessMs: number;
  lastFailureMs: number;
  lastError: string;
  queued: number;
}
export type ChannelSpec = { name: string; type: (typeof CHANNEL_TYPES)[number] } & Record<string, unknown>;
export type Channel = ChannelSpec & Meta & { health: ChannelHealth };

export interface SilenceSpec {
  name?: string;
  matchers: string | Record<string, string>;
  comment?: string;
  starts_at?: string | number;
  ends_at?: string | number;
  duration?: string | number;
  schedule?: string;
  timezone?: string;
}
export type Silence = SilenceSpec & Meta & { active: boolean; expired: boolean; startsMs: number | null; endsMs: number | null };

export interface Alert {
  fingerprint: string;
  ruleId: string;
  rule: string;
  kind: string;
  severity: Severity;
  state: 'pending' | 'firing';
  labels: Record<string, string>;
  series: string;
  host: string;
  agent: string;
  value: number;
  activeSinceMs: number;
  firedAtMs: number;
  notifiedMs: number;
  silencedBy: string[];
}

export interface HistoryEntry {
  id: string;
  tsMs: number;
  ruleName: string;
  host: string;
  severity: string;
  from: string;
  to: string;
  reason: string;
  value: number;
}

export interface Delivery {
  id: string;
  channel: string;
  kind: string;
  status: string;
  title: string;
  alerts: number;
  attempts: number;
  error: string;
  createdMs: number;
  finishedMs: number;
}

const id = (x: string) => encodeURIComponent(x);

export const listAlerts = () => request<{ items: Alert[]; total: number }>('GET', '/api/alerts?limit=2000');
export const listRules = () => request<{ items: Rule[] }>('GET', '/api/alerts/rules');
export const saveRule = (spec: RuleSpec, ruleId?: string) =>
  ruleId ? request<Rule>('PUT', `/api/alerts/rules/${id(ruleId)}`, spec) : request<Rule>('POST', '/api/alerts/rules', spec);
export const deleteRule = (ruleId: string) => request<void>('DELETE', `/api/alerts/rules/${id(ruleId)}`);
export const listChannels = () => request<{ items: Channel[] }>('GET', '/api/alerts/channels');
export const saveChannel = (spec: ChannelSpec, channelId?: string) =>
  channelId
    ? request<Channel>('PUT', `/api/alerts/channels/${id(channelId)}`, spec)
    : request<Channel>('POST', '/api/alerts/channels', spec);
export const deleteChannel = (channelId: string) => request<void>('DELETE', `/api/alerts/channels/${id(channelId)}`);
export const testChannel = (channelId: string) => request<Delivery>('POST', `/api/alerts/channels/${id(channelId)}/test`);
export const listSilences = () => request<{ items: Silence[] }>('GET', '/api/alerts/silences');
export const createSilence = (spec: SilenceSpec) => request<Silence>('POST', '/api/alerts/silences', spec);
export const deleteSilence = (silenceId: string) => request<void>('DELETE', `/api/alerts/silences/${id(silenceId)}`);
export const listHistory = () => request<{ items: HistoryEntry[] }>('GET', '/api/alerts/history?limit=300');
export const listDeliveries = () => request<{ items: Delivery[] }>('GET', '/api/alerts/notifications?limit=300');

/** What each channel type needs, as a starting point for the form's JSON. */
export const CHANNEL_TEMPLATES: Record<(typeof CHANNEL_TYPES)[number], Record<string, unknown>> = {
  webhook: { url: 'https://example.com/hook', secret: '' },
  email: {
    smtp: { host: 'smtp.example.com', port: 587, username: '', password: '' },
    from: 'falconet@example.com',
    to: ['ops@example.com'],
  },
  slack: { url: 'https://hooks.slack.com/services/T000/B000/XXXX' },
  telegram: { bot_token: '123456:ABC', chat_id: '-1001234567890' },
  dingtalk: { url: 'https://oapi.dingtalk.com/robot/send?access_token=TOKEN', secret: 'SEC...' },
  feishu: { url: 'https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN', secret: '' },
  wecom: { url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY' },
};

/** One line that says what a rule watches. */
export function describeRule(r: RuleSpec): string {
  switch (r.kind) {
    case 'agent_offline':
      return 'agent offline';
    case 'no_data':
      return `no ${r.metric} for ${r.window ?? '5m'}`;
    case 'container_down':
      return 'container not running';
    case 'container_restarting':
      return `${r.restarts ?? 1}+ restarts in ${r.window ?? '10m'}`;
    case 'disk_full':
      return `${r.metric ?? 'node_filesystem_avail_bytes'} full within ${r.within ?? '24h'}`;
    default:
      return `${r.aggregation ?? 'avg'}(${r.metric}[${r.window ?? '1m'}]) ${r.op ?? '>'} ${r.threshold}`;
  }
}
