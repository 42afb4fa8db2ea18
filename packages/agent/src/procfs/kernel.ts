import { fields } from './fs.ts';
/** Small single-purpose kernel files. */

/** /proc/sys/fs/file-nr: allocated handles, unused (always 0 since 2.6), maximum. */
export function parseFileNr(text: string): { allocated: number; maximum: number } {
  const [allocated, , maximum] = fields(text).map(Number);
  if (allocated === undefined || maximum === undefined || !Number.isFinite(allocated) || !Number.isFinite(maximum)) {
    throw new Error(`unexpected file-nr content: ${JSON.stringify(text.slice(0, 60))}`);
  }
  return { allocated, maximum };
}

/** A file holding one integer, such as /proc/sys/kernel/random/entropy_avail. */
export function parseSingleNumber(text: string, what: string): number {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`${what}: expected a number, got ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}
