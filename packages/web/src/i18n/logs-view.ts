/** The Logs page's host and source filters and the live tail's gap rows. Every English key has its Chinese twin. */
export const logsViewEn = {
  'logsView.host': 'Host',
  'logsView.anyHost': 'All hosts',
  'logsView.source': 'Source',
  'logsView.anySource': 'All sources',
  'logsView.gapSkipped': '{0} older lines stored while reconnecting are not shown here; search this range to see them.',
  'logsView.gapMore': 'More lines were stored while reconnecting than are shown here; search this range to see them.',
  'logsView.gapRestarted':
    'The server restarted while reconnecting: lines stamped before {0} that arrived meanwhile may be missing here; search to see them.',
  'logsView.gapExpired': 'Disconnected for long: lines stored after {0} may be missing here; search this range to see them.',
};

export const logsViewZh: Record<keyof typeof logsViewEn, string> = {
  'logsView.host': '主机',
  'logsView.anyHost': '所有主机',
  'logsView.source': '来源',
  'logsView.anySource': '所有来源',
  'logsView.gapSkipped': '重新连接期间存储的 {0} 条较早日志未在此显示；请搜索此时间范围查看。',
  'logsView.gapMore': '重新连接期间存储的日志多于此处显示的；请搜索此时间范围查看。',
  'logsView.gapRestarted': '重新连接期间服务器已重启：时间早于 {0}、在此期间到达的日志可能未显示；请搜索查看。',
  'logsView.gapExpired': '断开时间较长：{0} 之后存储的日志可能未显示；请搜索此时间范围查看。',
};
