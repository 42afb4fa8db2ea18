/** The rule editor's texts for alert rules on logs (kind log_lines). Every English key has its Chinese twin. */
export const logAlertsEn = {
  'alerts.kind.log_lines': 'log_lines',
  'alerts.field.query': 'Log query',
  'alerts.field.queryHint':
    'Lines matching this query are counted over the window, as on the Logs page: error "connection refused" level>=warn',
  'alerts.field.scope': 'Count',
  'alerts.scope.host': 'per host',
  'alerts.scope.fleet': 'fleet-wide',
};

export const logAlertsZh: Record<keyof typeof logAlertsEn, string> = {
  'alerts.kind.log_lines': '日志行数',
  'alerts.field.query': '日志查询',
  'alerts.field.queryHint': '统计窗口内匹配此查询的日志行数，语法与日志页面相同：error "connection refused" level>=warn',
  'alerts.field.scope': '统计范围',
  'alerts.scope.host': '按主机',
  'alerts.scope.fleet': '全部主机合计',
};
