/** The host page's Traffic panel. Keys are `traffic.*`; every English key must have its Chinese twin. */
export const trafficEn = {
  'traffic.title': 'Traffic this cycle',
  'traffic.cycle': '{0} to {1}',
  'traffic.in': 'In {0}',
  'traffic.out': 'Out {0}',
  'traffic.used': '{0} of {1} ({2})',
  'traffic.usedNoQuota': '{0} used, no quota',
  'traffic.corrected': 'corrected to the provider’s figure',
  'traffic.daily': 'Daily traffic',
  'traffic.day': '{0}: in {1}, out {2}',
  'traffic.direction.sum': 'in + out',
  'traffic.direction.max': 'larger of in and out',
  'traffic.direction.in': 'inbound',
  'traffic.direction.out': 'outbound',
} as const;

export const trafficZh: Record<keyof typeof trafficEn, string> = {
  'traffic.title': '本周期流量',
  'traffic.cycle': '{0} 至 {1}',
  'traffic.in': '入站 {0}',
  'traffic.out': '出站 {0}',
  'traffic.used': '已用 {0} / {1}（{2}）',
  'traffic.usedNoQuota': '已用 {0}，未设配额',
  'traffic.corrected': '已按服务商数据校正',
  'traffic.daily': '每日流量',
  'traffic.day': '{0}：入站 {1}，出站 {2}',
  'traffic.direction.sum': '入站 + 出站',
  'traffic.direction.max': '入站与出站中较大者',
  'traffic.direction.in': '入站',
  'traffic.direction.out': '出站',
};
