import { fields } from './fs.ts';
/**
 * /proc/net/softnet_stat: one row of hexadecimal columns per online CPU: processed, dropped,
 * time_squeeze, ... Kernels since 5.10 add the CPU number as the 13th column; before that the row
 * index stands for it (which is wrong only when CPUs are offline).
 */
export interface SoftnetStat {
  cpu: string;
  processed: number;
  dropped: number;
  timeSqueezed: number;
}

export function parseSoftnet(text: string): SoftnetStat[] {
  const out: SoftnetStat[] = [];
  for (const line of text.split('\n')) {
    const p = fields(line);
    if (p.length < 3 || p[0] === '') continue;
    const hex = (i: number) => Number.parseInt(p[i] as string, 16);
    const cpu = p.length >= 13 ? String(hex(12)) : String(out.length);
    out.push({ cpu, processed: hex(0), dropped: hex(1), timeSqueezed: hex(2) });
  }
  return out;
}
