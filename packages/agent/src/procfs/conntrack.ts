import { fields } from './fs.ts';
/**
 * /proc/net/stat/nf_conntrack: a header of field names, then one row per CPU with hexadecimal
 * values. Returns each field summed over the CPUs.
 */
export function parseConntrackStat(text: string): Map<string, number> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = fields(lines[0] ?? '');
  const sums = new Map<string, number>(header.map((h) => [h, 0]));
  for (let i = 1; i < lines.length; i++) {
    const values = fields(lines[i] as string);
    if (values.length !== header.length) throw new Error(`line ${i + 1}: ${values.length} values for ${header.length} fields`);
    header.forEach((h, j) => {
      const v = Number.parseInt(values[j] as string, 16);
      if (Number.isNaN(v)) throw new Error(`line ${i + 1}: ${h} is "${values[j]}", not hexadecimal`);
      sums.set(h, (sums.get(h) as number) + v);
    });
  }
  return sums;
}
