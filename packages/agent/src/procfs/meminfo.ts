/** /proc/meminfo: `Key:  value [kB]`. Values in kB are returned in bytes, others as they are. */
export interface MeminfoEntry {
  /** The kernel's key, e.g. `MemTotal`, `Active(anon)`. */
  key: string;
  value: number;
  /** True when the kernel gave the value in kB (now in bytes). */
  bytes: boolean;
}

// Key, first value and the unit after it; one match per line (the lines of the file need no split).
const LINE = /^([^:\n]+):[ \t]*(\S+)(?:[ \t]+(\S+))?/gm;

export function parseMeminfo(text: string): MeminfoEntry[] {
  const out: MeminfoEntry[] = [];
  LINE.lastIndex = 0;
  for (let m = LINE.exec(text); m !== null; m = LINE.exec(text)) {
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    const kb = m[3] === 'kB';
    out.push({ key: (m[1] as string).trim(), value: kb ? value * 1024 : value, bytes: kb });
  }
  return out;
}

export function meminfoMap(entries: MeminfoEntry[]): Map<string, number> {
  return new Map(entries.map((e) => [e.key, e.value]));
}
