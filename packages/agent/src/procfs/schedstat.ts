import { fields } from './fs.ts';
/**
 * /proc/schedstat (version 15+): `cpuN` lines whose 7th, 8th and 9th values are the time spent
 * running and waiting (ns) and the number of timeslices run.
 */
export interface CpuSchedstat {
  cpu: string;
  runningNanoseconds: number;
  waitingNanoseconds: number;
  timeslices: number;
}

export function parseSchedstat(text: string): CpuSchedstat[] {
  const out: CpuSchedstat[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const p = fields(line);
    if (p.length < 10) throw new Error(`"${p[0]}" has ${p.length - 1} fields, expected at least 9`);
    out.push({
      cpu: (p[0] as string).slice(3),
      runningNanoseconds: Number(p[7]),
      waitingNanoseconds: Number(p[8]),
      timeslices: Number(p[9]),
    });
  }
  return out;
}
