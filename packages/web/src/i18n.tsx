import { createContext, Fragment, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { type ChartClock, chartClock } from './host/time-axis.ts';
import { addHostEn, addHostZh } from './i18n/add-host.ts';
import { alertsEn, alertsZh } from './i18n/alerts.ts';
import { authEn, authZh } from './i18n/auth.ts';
import { channelTypesEn, channelTypesZh } from './i18n/channel-types.ts';
import { chartsEn, chartsZh } from './i18n/charts.ts';
import { clusterEn, clusterZh } from './i18n/cluster.ts';
import { containersEn, containersZh } from './i18n/containers.ts';
import { fleetTrafficEn, fleetTrafficZh } from './i18n/fleet-traffic.ts';
import { forgetEn, forgetZh } from './i18n/forget.ts';
import { formsEn, formsZh } from './i18n/forms.ts';
import { hostsEn, hostsZh } from './i18n/hosts.ts';
import { logAlertsEn, logAlertsZh } from './i18n/log-alerts.ts';
import { logsEn, logsZh } from './i18n/logs.ts';
import { logsViewEn, logsViewZh } from './i18n/logs-view.ts';
import { monitorsEn, monitorsZh } from './i18n/monitors.ts';
import { queryEn, queryZh } from './i18n/query.ts';
import { statusPagesEn, statusPagesZh, statusPublicEn, statusPublicZh } from './i18n/status-pages.ts';
import { tasksEn, tasksZh } from './i18n/tasks.ts';
import { trafficEn, trafficZh } from './i18n/traffic.ts';
import { updatesEn, updatesZh } from './i18n/updates.ts';

/**
 * The dashboard's own small dictionary: English and Simplified Chinese. The overview and host
 * pages' words are here; each other area keeps its own pair in i18n/, merged below, and the
 * types make every key exist in both languages.
 */
const coreEn = {
  'nav.overview': 'Overview',
  'nav.tasks': 'Tasks',
  'nav.alerts': 'Alerts',
  'nav.settings': 'Settings',
  'nav.menu': 'Main navigation',
  'live.on': 'live',
  'live.off': 'reconnecting…',
  'theme.label': 'Theme',
  'theme.light': 'Light',
  'theme.dark': 'Dark',
  'lang.label': 'Language',
  'agents.title': 'Agents',
  'agents.loadError': 'Could not load agents: {0}',
  'agents.none': 'No agents yet. Start one with',
  'agents.noMatch': 'No agent matches these filters.',
  'agents.loading': 'Loading…',
  'agents.noSuch': 'No such agent.',
  'agents.shown': '{0} of {1} agents',
  'fleet.agents': 'Agents',
  'fleet.online': 'Online',
  'fleet.offline': 'Offline',
  'fleet.cpu': 'Avg CPU',
  'fleet.memory': 'Avg memory',
  'fleet.disk': 'Avg disk',
  'fleet.network': 'Network in / out',
  'filter.search': 'Search host, id or IP',
  'filter.status': 'Status',
  'filter.label': 'Label',
  'filter.sort': 'Sort by',
  'filter.group': 'Group by',
  'filter.any': 'Any',
  'filter.none': 'None',
  'filter.order': 'Descending',
  'col.status': 'Status',
  'col.host': 'Host',
  'col.os': 'OS',
  'col.uptime': 'Uptime',
  'col.cpu': 'CPU',
  'col.memory': 'Memory',
  'col.disk': 'Disk',
  'col.network': 'Net in / out',
  'col.trend': 'CPU 15 min',
  'col.lastSeen': 'Last seen',
  'status.online': 'online',
  'status.offline': 'offline',
  'group.unlabelled': '(no value)',
  'time.s': '{0}s ago',
  'time.m': '{0}m ago',
  'time.h': '{0}h ago',
  'time.d': '{0}d ago',
  'host.offline': 'This agent is offline: last heard from {0}. Charts show what was received; the gap since is not filled in.',
  'host.up': 'up {0}',
  'host.addresses': 'Addresses',
  'host.primary': 'primary',
  'host.tab.system': 'System',
  'host.tab.containers': 'Containers',
  'host.range': 'Range',
  'host.live': 'Live',
  'host.custom': 'Custom',
  'host.from': 'From',
  'host.to': 'To',
  'host.apply': 'Apply',
  'host.back': 'All agents',
  'host.noData': 'No data in this range.',
  'host.mounts': 'Disk usage per mount',
  'host.mount': 'Mount',
  'host.fstype': 'Type',
  'host.size': 'Size',
  'host.used': 'Used',
  'host.trust.title': 'Labels and report sequence',
  'host.labels.trusted': 'Trusted labels',
  'host.labels.trustedHint': 'From its token or set on the server: only these choose this agent for tasks',
  'host.labels.declared': 'Declared by the agent',
  'host.labels.declaredHint': 'What the agent says about itself: shown, never used to choose it for tasks',
  'host.labels.none': 'none',
  'host.labels.edit': 'Server labels',
  'host.labels.save': 'Save labels',
  'host.labels.saved': 'Labels saved.',
  'host.labels.error': 'Could not save the labels: {0}',
  'host.seq.refused':
    "This agent's reports are refused: sequence {0} is too far beyond the last acknowledged {1}. They wait in its spool. If the jump is real (its data directory was restored or moved), reset its sequence.",
  'host.seq.reset': 'Reset sequence',
  'host.seq.confirm': 'Forget the last sequence stored for this agent? Its next report is taken whatever its number.',
  'host.seq.confirmYes': 'Reset',
  'host.seq.cancel': 'Cancel',
  'host.seq.done': 'Sequence reset (it was {0}).',
  'host.seq.error': 'Could not reset the sequence: {0}',
  'chart.cpu': 'CPU total',
  'chart.cpuCores': 'CPU per core',
  'chart.cpuModes': 'CPU per mode',
  'chart.load': 'Load average',
  'chart.memory': 'Memory and swap used',
  'chart.memoryBytes': 'Memory',
  'chart.diskFree': 'Disk free per mount',
  'chart.diskIo': 'Disk IO',
  'chart.network': 'Network per interface',
  'chart.procs': 'Processes',
  'chart.temps': 'Temperatures',
  'series.time': 'Time',
  'series.cpuUsed': 'CPU used',
  'series.memoryUsed': 'Memory used',
  'series.swapUsed': 'Swap used',
  'series.memTotal': 'Memory total',
  'series.memAvailable': 'Memory available',
  'series.running': 'Running',
  'series.blocked': 'Blocked',
  'series.read': 'read',
  'series.write': 'write',
  'series.in': 'in',
  'series.out': 'out',
};

const en = {
  ...coreEn,
  ...containersEn,
  ...alertsEn,
  ...tasksEn,
  ...authEn,
  ...forgetEn,
  ...formsEn,
  ...chartsEn,
  ...hostsEn,
  ...updatesEn,
  ...clusterEn,
  ...logsEn,
  ...logsViewEn,
  ...addHostEn,
  ...channelTypesEn,
  ...queryEn,
  ...logAlertsEn,
  ...monitorsEn,
  ...trafficEn,
  ...fleetTrafficEn,
  ...statusPublicEn,
  ...statusPagesEn,
};

export type MessageKey = keyof typeof en;

const coreZh: Record<keyof typeof coreEn, string> = {
  'nav.overview': '总览',
  'nav.tasks': '任务',
  'nav.alerts': '告警',
  'nav.settings': '设置',
  'nav.menu': '主导航',
  'live.on': '实时',
  'live.off': '重新连接中…',
  'theme.label': '主题',
  'theme.light': '浅色',
  'theme.dark': '深色',
  'lang.label': '语言',
  'agents.title': '主机',
  'agents.loadError': '无法加载主机：{0}',
  'agents.none': '还没有主机。可以这样启动一个：',
  'agents.noMatch': '没有符合筛选条件的主机。',
  'agents.loading': '加载中…',
  'agents.noSuch': '没有这个主机。',
  'agents.shown': '显示 {0} / {1} 台主机',
  'fleet.agents': '主机',
  'fleet.online': '在线',
  'fleet.offline': '离线',
  'fleet.cpu': '平均 CPU',
  'fleet.memory': '平均内存',
  'fleet.disk': '平均磁盘',
  'fleet.network': '网络 入 / 出',
  'filter.search': '搜索主机名、ID 或 IP',
  'filter.status': '状态',
  'filter.label': '标签',
  'filter.sort': '排序',
  'filter.group': '分组',
  'filter.any': '全部',
  'filter.none': '不分组',
  'filter.order': '降序',
  'col.status': '状态',
  'col.host': '主机',
  'col.os': '系统',
  'col.uptime': '运行时间',
  'col.cpu': 'CPU',
  'col.memory': '内存',
  'col.disk': '磁盘',
  'col.network': '网络 入 / 出',
  'col.trend': 'CPU 15 分钟',
  'col.lastSeen': '最后上报',
  'status.online': '在线',
  'status.offline': '离线',
  'group.unlabelled': '（无值）',
  'time.s': '{0} 秒前',
  'time.m': '{0} 分钟前',
  'time.h': '{0} 小时前',
  'time.d': '{0} 天前',
  'host.offline': '此主机已离线：最后一次上报在 {0}。图表只显示已收到的数据，之后的空缺不做填补。',
  'host.up': '已运行 {0}',
  'host.addresses': '地址',
  'host.primary': '主地址',
  'host.tab.system': '系统',
  'host.tab.containers': '容器',
  'host.range': '时间范围',
  'host.live': '实时',
  'host.custom': '自定义',
  'host.from': '开始',
  'host.to': '结束',
  'host.apply': '应用',
  'host.back': '全部主机',
  'host.noData': '此范围内没有数据。',
  'host.mounts': '各挂载点磁盘使用',
  'host.mount': '挂载点',
  'host.fstype': '类型',
  'host.size': '容量',
  'host.used': '已用',
  'host.trust.title': '标签与上报序号',
  'host.labels.trusted': '可信标签',
  'host.labels.trustedHint': '来自其令牌或在服务器上设置：只有这些标签决定任务发往此主机',
  'host.labels.declared': '主机自报的标签',
  'host.labels.declaredHint': '主机对自身的描述：仅作显示，从不用于选择任务目标',
  'host.labels.none': '无',
  'host.labels.edit': '服务器端标签',
  'host.labels.save': '保存标签',
  'host.labels.saved': '标签已保存。',
  'host.labels.error': '无法保存标签：{0}',
  'host.seq.refused':
    '此主机的上报被拒绝：序号 {0} 远超已确认的 {1}。这些上报仍保存在它的本地缓存中。如果这次跳变确实发生（例如数据目录被恢复或迁移），请重置它的序号。',
  'host.seq.reset': '重置序号',
  'host.seq.confirm': '确定忘记为此主机保存的最后序号吗？之后它的下一份上报无论序号多少都会被接收。',
  'host.seq.confirmYes': '重置',
  'host.seq.cancel': '取消',
  'host.seq.done': '序号已重置（原为 {0}）。',
  'host.seq.error': '无法重置序号：{0}',
  'chart.cpu': 'CPU 总使用率',
  'chart.cpuCores': '各核心 CPU',
  'chart.cpuModes': '各模式 CPU',
  'chart.load': '平均负载',
  'chart.memory': '内存与交换区使用率',
  'chart.memoryBytes': '内存',
  'chart.diskFree': '各挂载点剩余空间',
  'chart.diskIo': '磁盘读写',
  'chart.network': '各网卡流量',
  'chart.procs': '进程',
  'chart.temps': '温度',
  'series.time': '时间',
  'series.cpuUsed': 'CPU 使用',
  'series.memoryUsed': '内存使用',
  'series.swapUsed': '交换区使用',
  'series.memTotal': '内存总量',
  'series.memAvailable': '内存可用',
  'series.running': '运行中',
  'series.blocked': '阻塞',
  'series.read': '读',
  'series.write': '写',
  'series.in': '入',
  'series.out': '出',
};

const zh: Record<MessageKey, string> = {
  ...coreZh,
  ...containersZh,
  ...alertsZh,
  ...tasksZh,
  ...authZh,
  ...forgetZh,
  ...trafficZh,
  ...fleetTrafficZh,
  ...statusPublicZh,
  ...statusPagesZh,
  ...formsZh,
  ...chartsZh,
  ...hostsZh,
  ...updatesZh,
  ...clusterZh,
  ...logsZh,
  ...logsViewZh,
  ...addHostZh,
  ...channelTypesZh,
  ...queryZh,
  ...logAlertsZh,
  ...monitorsZh,
};

export type Lang = 'en' | 'zh';
/** Every text in both languages; exported for the test that holds the two to each other. */
export const DICTS: Record<Lang, Record<MessageKey, string>> = { en, zh };
export const LANG_KEY = 'falconet.lang';

export type Translate = (key: MessageKey, ...args: (string | number)[]) => string;

function initialLang(): Lang {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

const I18nContext = createContext<{ lang: Lang; setLang(l: Lang): void; t: Translate }>({
  lang: 'en',
  setLang: () => undefined,
  t: (k) => en[k],
});

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(initialLang);
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }, [lang]);
  const setLang = useCallback((l: Lang) => {
    localStorage.setItem(LANG_KEY, l);
    setLangState(l);
  }, []);
  const value = useMemo(() => {
    const dict = DICTS[lang];
    // Without arguments a text keeps its {0}, {1}... for withNodes to fill with elements.
    const t: Translate = (key, ...args) =>
      args.length ? dict[key].replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? '')) : dict[key];
    return { lang, setLang, t };
  }, [lang, setLang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export const useI18n = () => useContext(I18nContext);

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(en, key);
}

/** A value the server sends (a state, a role...) in the current language when the dictionary has it, else as is. */
export function word(t: Translate, prefix: string, value: string): string {
  const key = `${prefix}.${value}`;
  return isMessageKey(key) ? t(key) : value;
}

const clocks = new Map<Lang, ChartClock>();

/** Date and time of a timestamp in the current language, as the charts' legends write it; '—' for none. */
export function dateTime(lang: Lang, ms: number | null | undefined): string {
  if (!ms) return '—';
  let clock = clocks.get(lang);
  if (!clock) {
    clock = chartClock(lang);
    clocks.set(lang, clock);
  }
  return clock.full(ms);
}

/** A translated text with elements (links, code) in place of its {0}, {1}... */
export function withNodes(text: string, nodes: ReactNode[]): ReactNode {
  return text.split(/\{(\d)\}/).map((part, i) =>
    // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one fixed text, never reordered
    i % 2 ? <Fragment key={i}>{nodes[Number(part)]}</Fragment> : part,
  );
}

/** How long ago, in the current language: "12s ago", "12 秒前". */
export function agoText(t: Translate, ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return t('time.s', s);
  if (s < 3600) return t('time.m', Math.round(s / 60));
  if (s < 86_400) return t('time.h', Math.round(s / 3600));
  return t('time.d', Math.round(s / 86_400));
}

export type Theme = 'light' | 'dark';
export const THEME_KEY = 'falconet.theme';

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Light or dark, persisted; the stylesheet keys everything off `<html data-theme>`. */
export function useTheme(): [Theme, (t: Theme) => void] {
  const [theme, setThemeState] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return [
    theme,
    (t) => {
      localStorage.setItem(THEME_KEY, t);
      setThemeState(t);
    },
  ];
}
