/** The host charts' words: series names and how to zoom and pick lines. Every English key has its Chinese twin. */
export const chartsEn = {
  'series.swapTotal': 'Swap total',
  'series.swapFree': 'Swap free',
  'chart.hint':
    'Drag across a chart to zoom, double-click to go back. Click a legend entry to hide or show its line, Ctrl/Cmd-click to show it alone.',
  'chart.legendHint': 'Click: hide or show. Ctrl/Cmd-click: show only this line (again: all).',
};

export const chartsZh: Record<keyof typeof chartsEn, string> = {
  'series.swapTotal': '交换区总量',
  'series.swapFree': '交换区剩余',
  'chart.hint': '在图表上拖动可放大，双击恢复。点击图例可隐藏或显示该曲线，按住 Ctrl/Cmd 点击只显示该曲线。',
  'chart.legendHint': '点击：隐藏或显示。Ctrl/Cmd 点击：只显示这条曲线（再次点击：全部显示）。',
};
