import { fields } from './fs.ts';
/** /proc/<pid>/mounts (fstab format): `device mountpoint fstype options 0 0`, with octal escapes. */
export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

/** The kernel escapes space, tab, newline and backslash in mount fields as `\040`, `\011`, `\012`, `\134`. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = fields(line);
    if (parts.length < 4) continue;
    out.push({
      device: unescapeMountField(parts[0] as string),
      mountPoint: unescapeMountField(parts[1] as string),
      fsType: parts[2] as string,
      options: (parts[3] as string).split(','),
    });
  }
  return out;
}
