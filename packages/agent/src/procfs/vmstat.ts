/** /proc/vmstat: one `name value` pair per line, in the kernel's order. */
export function parseVmstat(text: string): [name: string, value: number][] {
  const out: [string, number][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) out.push([line.slice(0, space), value]);
  }
  return out;
}
