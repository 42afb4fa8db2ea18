import { fields } from './fs.ts';
/** /proc/loadavg: `0.20 0.18 0.12 1/80 11206`. */
export interface LoadAvg {
  load1: number;
  load5: number;
  load15: number;
}

export function parseLoadavg(text: string): LoadAvg {
  const [a, b, c] = fields(text).map(Number);
  if (a === undefined || b === undefined || c === undefined || [a, b, c].some((v) => !Number.isFinite(v))) {
    throw new Error(`unexpected /proc/loadavg content: ${JSON.stringify(text.slice(0, 60))}`);
  }
  return { load1: a, load5: b, load15: c };
}
