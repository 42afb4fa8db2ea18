/** The overview's "Add host" dialog: a one-use enrollment token and the install command. Keys are `addHost.*`. */
export const addHostEn = {
  'addHost.open': 'Add host',
  'addHost.title': 'Add a host',
  'addHost.explain':
    'Makes a one-use enrollment token, valid for 24 hours, and the command that installs the agent with it. Run the command as root on the new host.',
  'addHost.labels': 'Labels (optional)',
  'addHost.labelsHelp': 'key=value, separated by commas, e.g. rack=7,dc=ams. Trusted: they choose the host for label-targeted tasks.',
  'addHost.labelsBad': 'Labels: "{0}" is not key=value (a key is letters, digits and _, not starting with a digit)',
  'addHost.create': 'Make the command',
  'addHost.working': 'Making…',
  'addHost.command': 'Run this on the new host',
  'addHost.copy': 'Copy',
  'addHost.copied': 'Copied',
  'addHost.expires': 'The token works once, until {0}.',
  'addHost.noBinary':
    'This server holds no agent binary for {0}: hosts of that kind cannot install from it until an admin runs falconet-server release add FILE.',
  'addHost.error': 'Could not make an enrollment token: {0}',
  'addHost.close': 'Close',
} as const;

export const addHostZh: Record<keyof typeof addHostEn, string> = {
  'addHost.open': '添加主机',
  'addHost.title': '添加主机',
  'addHost.explain': '生成一个一次性注册令牌（24 小时内有效）以及用它安装代理的命令。请在新主机上以 root 身份运行该命令。',
  'addHost.labels': '标签（可选）',
  'addHost.labelsHelp': 'key=value，用逗号分隔，例如 rack=7,dc=ams。标签受信任：按标签下发的任务会据此选中该主机。',
  'addHost.labelsBad': '标签：“{0}”不是 key=value（键由字母、数字和 _ 组成，且不以数字开头）',
  'addHost.create': '生成命令',
  'addHost.working': '正在生成…',
  'addHost.command': '在新主机上运行',
  'addHost.copy': '复制',
  'addHost.copied': '已复制',
  'addHost.expires': '该令牌仅可使用一次，有效期至 {0}。',
  'addHost.noBinary': '此服务器没有 {0} 的代理程序：在管理员运行 falconet-server release add FILE 之前，这类主机无法从这里安装。',
  'addHost.error': '无法生成注册令牌：{0}',
  'addHost.close': '关闭',
};
