import type { PortableNetDev } from './portable.ts';

/**
 * `netsh interface ipv4 show subinterfaces`: MTU, media sense, bytes in and out, then the
 * interface name (which may hold spaces) per row, under a dashed rule.
 */
export function parseNetshSubinterfaces(text: string): (PortableNetDev & { mtu: number })[] {
  const out: (PortableNetDev & { mtu: number })[] = [];
  let body = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (/^-+(\s+-+)+$/.test(line)) {
      body = true;
      continue;
    }
    if (!body || line === '') continue;
    const m = /^(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.+)$/.exec(line);
    if (!m) continue;
    out.push({ device: m[5] as string, mtu: Number(m[1]), receive: { bytes: Number(m[3]) }, transmit: { bytes: Number(m[4]) } });
  }
  return out;
}

/** Drive roots to try with statfs(): C: to Z:; A: and B: are floppy letters that can stall. */
export const WINDOWS_DRIVES = Array.from({ length: 24 }, (_, i) => `${String.fromCharCode(67 + i)}:\\`);
