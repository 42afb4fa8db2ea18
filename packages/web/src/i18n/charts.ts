/** The host charts' words: series names and how to zoom and pick lines. Every English key has its Chinese twin. */
export const chartsEn = {
  'series.swapTotal': 'Swap total',
  'series.swapFree': 'Swap free',
  'mode.user': 'user',
  'mode.nice': 'nice',
  'mode.system': 'system',
  'mode.iowait': 'I/O wait',
  'mode.irq': 'IRQ',
  'mode.softirq': 'soft IRQ',
  'mode.steal': 'steal',
  'chart.hint':
    'Drag across a chart to zoom, double-click to go back. Click a legend entry to hide or show its line, Ctrl/Cmd-click to show it alone.',
  'chart.legendHint': 'Click: hide or show. Ctrl/Cmd-click: show only this line (again: all).',
};

export const chartsZh: Record<keyof typeof chartsEn, string> = {
  'series.swapTotal': '交换区总量',
  'series.swapFree': '交换区剩余',
  'mode.user': '用户态',
  'mode.nice': '低优先级',
  'mode.system': '内核态',
  'mode.iowait': 'I/O 等待',
  'mode.irq': '硬中断',
  'mode.softirq': '软中断',
  'mode.steal': '虚拟机窃取',
  'chart.hint': '在图表上拖动可放大，双击恢复。点击图例可隐藏或显示该曲线，按住 Ctrl/Cmd 点击只显示该曲线。',
  'chart.legendHint': '点击：隐藏或显示。Ctrl/Cmd 点击：只显示这条曲线（再次点击：全部显示）。',
};
