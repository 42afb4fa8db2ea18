/** Forgetting a host from its page. Keys are `forget.*`; every English key must have its Chinese twin. */
export const forgetEn = {
  'forget.open': 'Forget this host…',
  'forget.adminOnly': 'Only an admin can forget a host',
  'forget.connected': 'Connected: stop the agent on {0} before forgetting it',
  'forget.title': 'Forget {0}?',
  'forget.explain':
    'The host leaves the fleet list with its labels and alerts, and its agent token is revoked, so the agent cannot register again with it.',
  'forget.data': 'Its stored metrics',
  'forget.keep': 'Keep them (they return if this agent registers again)',
  'forget.drop': 'Delete them for good',
  'forget.confirm': 'Forget {0}',
  'forget.cancel': 'Cancel',
  'forget.working': 'Forgetting…',
  'forget.error': 'Could not forget the host: {0}',
} as const;

export const forgetZh: Record<keyof typeof forgetEn, string> = {
  'forget.open': '移除此主机…',
  'forget.adminOnly': '只有管理员可以移除主机',
  'forget.connected': '仍在连接：请先停止 {0} 上的代理，再移除',
  'forget.title': '移除 {0}？',
  'forget.explain': '主机将连同其标签和告警从主机列表中移除，其代理令牌也会被吊销，代理无法再用它注册。',
  'forget.data': '已存储的指标',
  'forget.keep': '保留（此代理再次注册时恢复）',
  'forget.drop': '永久删除',
  'forget.confirm': '移除 {0}',
  'forget.cancel': '取消',
  'forget.working': '正在移除…',
  'forget.error': '无法移除主机：{0}',
};
