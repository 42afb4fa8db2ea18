/** /proc/<pid>/stat: `pid (comm) state ppid ...`; comm may hold spaces and parentheses. */
export interface PidStat {
  state: string;
  numThreads: number;
}

export function parsePidStat(text: string): PidStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`unexpected stat content: ${JSON.stringify(text.slice(0, 60))}`);
  const p = text.slice(close + 2).split(' ');
  // After the comm: state is field 3 of the file, num_threads field 20.
  return { state: p[0] as string, numThreads: Number(p[17]) };
}
