import { fields } from './fs.ts';
/** /proc/meminfo: `Key:  value [kB]`. Values in kB are returned in bytes, others as they are. */
export interface MeminfoEntry {
  /** The kernel's key, e.g. `MemTotal`, `Active(anon)`. */
  key: string;
  value: number;
  /** True when the kernel gave the value in kB (now in bytes). */
  bytes: boolean;
}

export function parseMeminfo(text: string): MeminfoEntry[] {
  const out: MeminfoEntry[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    const rest = fields(line.slice(colon + 1));
    const value = Number(rest[0]);
    if (!Number.isFinite(value)) continue;
    const kb = rest[1] === 'kB';
    out.push({ key, value: kb ? value * 1024 : value, bytes: kb });
  }
  return out;
}

export function meminfoMap(entries: MeminfoEntry[]): Map<string, number> {
  return new Map(entries.map((e) => [e.key, e.value]));
}
