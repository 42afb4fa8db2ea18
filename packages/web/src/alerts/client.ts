/** The alerting REST API (/api/alerts), as the dashboard's alert pages use it; the shapes are the API contract's. */
import type {
  Alert,
  AlertChannel,
  AlertHistoryEntry,
  AlertRule,
  AlertSilence,
  ChannelKindList,
  ChannelSpecInput,
  ChannelTest,
  Delivery,
  RulePreview,
  RuleSpecInput,
  SilenceSpecInput,
} from '@falconet/protocol/api';
import { request } from '../http.ts';
import { formatValue, unitOfRule } from './units.ts';

const id = (x: string) => encodeURIComponent(x);

export const listAlerts = () => request<{ items: Alert[]; total: number }>('GET', '/api/alerts?limit=2000');
export const listRules = () => request<{ items: AlertRule[] }>('GET', '/api/alerts/rules');
export const saveRule = (spec: RuleSpecInput, ruleId?: string) =>
  ruleId ? request<AlertRule>('PUT', `/api/alerts/rules/${id(ruleId)}`, spec) : request<AlertRule>('POST', '/api/alerts/rules', spec);
export const deleteRule = (ruleId: string) => request<void>('DELETE', `/api/alerts/rules/${id(ruleId)}`);
export const listChannels = () => request<{ items: AlertChannel[] }>('GET', '/api/alerts/channels');
export const saveChannel = (spec: ChannelSpecInput, channelId?: string) =>
  channelId
    ? request<AlertChannel>('PUT', `/api/alerts/channels/${id(channelId)}`, spec)
    : request<AlertChannel>('POST', '/api/alerts/channels', spec);
export const deleteChannel = (channelId: string) => request<void>('DELETE', `/api/alerts/channels/${id(channelId)}`);
export const testChannel = (channelId: string) => request<ChannelTest>('POST', `/api/alerts/channels/${id(channelId)}/test`);
export const listSilences = () => request<{ items: AlertSilence[] }>('GET', '/api/alerts/silences');
export const createSilence = (spec: SilenceSpecInput) => request<AlertSilence>('POST', '/api/alerts/silences', spec);
export const deleteSilence = (silenceId: string) => request<void>('DELETE', `/api/alerts/silences/${id(silenceId)}`);
export const listHistory = () => request<{ items: AlertHistoryEntry[] }>('GET', '/api/alerts/history?limit=300');
export const previewRule = (spec: RuleSpecInput) => request<RulePreview>('POST', '/api/alerts/preview', spec);
export const listChannelKinds = () => request<ChannelKindList>('GET', '/api/alerts/channel-kinds');
export const listDeliveries = () => request<{ items: Delivery[] }>('GET', '/api/alerts/notifications?limit=300');

/** One line that says what a rule watches. */
export function describeRule(r: RuleSpecInput): string {
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
    case 'log_lines':
      return `lines matching ${JSON.stringify(r.query ?? '')} in ${r.window ?? '5m'}${r.scope === 'fleet' ? ' (fleet)' : ''} ${r.op ?? '>'} ${r.threshold}`;
    default:
      return `${r.aggregation ?? 'avg'}(${r.metric}[${r.window ?? '1m'}]) ${r.op ?? '>'} ${formatValue(r.threshold, unitOfRule(r))}`;
  }
}
