import { fields } from './fs.ts';
/** /proc/pressure/{cpu,io,memory}: `some avg10=0.00 avg60=0.00 avg300=0.00 total=123` (total in µs). */
export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  totalMicroseconds: number;
}

export interface Pressure {
  some?: PressureLine;
  full?: PressureLine;
}

export function parsePressure(text: string): Pressure {
  const out: Pressure = {};
  for (const line of text.split('\n')) {
    const parts = fields(line);
    const kind = parts[0];
    if (kind !== 'some' && kind !== 'full') continue;
    const kv = new Map(parts.slice(1).map((p) => p.split('=') as [string, string]));
    const num = (k: string) => {
      const v = Number(kv.get(k));
      if (kv.get(k) === undefined || !Number.isFinite(v)) throw new Error(`"${kind}" line lacks a numeric ${k}`);
      return v;
    };
    out[kind] = { avg10: num('avg10'), avg60: num('avg60'), avg300: num('avg300'), totalMicroseconds: num('total') };
  }
  return out;
}
