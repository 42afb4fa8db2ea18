/** The fleet Traffic page (packages/web/src/traffic/). Keys are `fleetTraffic.*` and its nav entry; every English key has its Chinese twin. */
export const fleetTrafficEn = {
  'nav.traffic': 'Traffic',
  'fleetTraffic.title': 'Traffic by host, current billing cycle',
  'fleetTraffic.loading': 'Loading traffic…',
  'fleetTraffic.error': 'Could not load traffic: {0}',
  'fleetTraffic.none': 'No host has reported traffic yet.',
  'fleetTraffic.col.host': 'Host',
  'fleetTraffic.col.used': 'Used / quota',
  'fleetTraffic.col.percent': '% of quota',
  'fleetTraffic.col.in': 'In',
  'fleetTraffic.col.out': 'Out',
  'fleetTraffic.col.end': 'Cycle ends',
  'fleetTraffic.noQuota': 'no quota',
  'fleetTraffic.open': 'Open the traffic panel of {0}',
} as const;

export const fleetTrafficZh: Record<keyof typeof fleetTrafficEn, string> = {
  'nav.traffic': '流量',
  'fleetTraffic.title': '各主机流量（当前计费周期）',
  'fleetTraffic.loading': '正在加载流量…',
  'fleetTraffic.error': '无法加载流量：{0}',
  'fleetTraffic.none': '尚无主机上报流量。',
  'fleetTraffic.col.host': '主机',
  'fleetTraffic.col.used': '已用 / 配额',
  'fleetTraffic.col.percent': '配额占比',
  'fleetTraffic.col.in': '入站',
  'fleetTraffic.col.out': '出站',
  'fleetTraffic.col.end': '周期结束',
  'fleetTraffic.noQuota': '未设配额',
  'fleetTraffic.open': '打开 {0} 的流量面板',
};
