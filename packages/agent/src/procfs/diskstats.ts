import { fields } from './fs.ts';
/**
 * /proc/diskstats, one line per block device: major minor name, then 11 (before 4.18),
 * 15 (4.18+, discards) or 17 (5.5+, flushes) counters.
 * See Documentation/admin-guide/iostats.rst in the kernel tree.
 */
export interface DiskStats {
  major: number;
  minor: number;
  device: string;
  readsCompleted: number;
  readsMerged: number;
  sectorsRead: number;
  readTimeMs: number;
  writesCompleted: number;
  writesMerged: number;
  sectorsWritten: number;
  writeTimeMs: number;
  ioInProgress: number;
  ioTimeMs: number;
  weightedIoTimeMs: number;
  discardsCompleted?: number;
  discardsMerged?: number;
  sectorsDiscarded?: number;
  discardTimeMs?: number;
  flushesCompleted?: number;
  flushTimeMs?: number;
}

export function parseDiskstats(text: string): DiskStats[] {
  const out: DiskStats[] = [];
  for (const line of text.split('\n')) {
    const p = fields(line);
    if (p.length < 14) continue;
    const n = (i: number) => Number(p[i]);
    const d: DiskStats = {
      major: n(0),
      minor: n(1),
      device: p[2] as string,
      readsCompleted: n(3),
      readsMerged: n(4),
      sectorsRead: n(5),
      readTimeMs: n(6),
      writesCompleted: n(7),
      writesMerged: n(8),
      sectorsWritten: n(9),
      writeTimeMs: n(10),
      ioInProgress: n(11),
      ioTimeMs: n(12),
      weightedIoTimeMs: n(13),
    };
    if (p.length >= 18) {
      d.discardsCompleted = n(14);
      d.discardsMerged = n(15);
      d.sectorsDiscarded = n(16);
      d.discardTimeMs = n(17);
    }
    if (p.length >= 20) {
      d.flushesCompleted = n(18);
      d.flushTimeMs = n(19);
    }
    out.push(d);
  }
  return out;
}

/** Sectors in /proc/diskstats are always 512 bytes, whatever the device's own sector size. */
export const DISKSTATS_SECTOR_BYTES = 512;
