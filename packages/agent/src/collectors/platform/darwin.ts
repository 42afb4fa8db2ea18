import type { PortableMount, PortableNetDev } from './portable.ts';

/** `mount` on macOS: `/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)`. */
export function parseDarwinMount(text: string): PortableMount[] {
  const out: PortableMount[] = [];
  for (const line of text.split('\n')) {
    const m = /^(.+?) on (.+) \(([^,)]+)(?:, ([^)]*))?\)\s*$/.exec(line);
    if (!m) continue;
    const options = (m[4] ?? '').split(',').map((o) => o.trim());
    out.push({ device: m[1] as string, mountPoint: m[2] as string, fsType: m[3] as string, readOnly: options.includes('read-only') });
  }
  return out;
}

/** node_exporter's macOS defaults: pseudo file systems and the system's private mounts. */
export const DARWIN_FS_TYPES_EXCLUDE = /^(autofs|devfs|nullfs|lifs)$/;
export const DARWIN_MOUNT_POINTS_EXCLUDE = /^\/(dev)($|\/)|^\/System\/Volumes\/(VM|Preboot|Update|xarts|iSCPreboot|Hardware)($|\/)/;

/**
 * `netstat -ibn` on macOS: one `<Link#N>` row per interface with its counters; the address column
 * is empty for interfaces without a hardware address, so counters are read from the right.
 */
export function parseNetstatIbn(text: string): PortableNetDev[] {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').trim().split(/\s+/);
  const tail = header.slice(header.indexOf('Ipkts'));
  const out: PortableNetDev[] = [];
  const seen = new Set<string>();
  for (const line of lines.slice(1)) {
    const p = line.trim().split(/\s+/);
    if (p.length < tail.length + 3 || !p[2]?.startsWith('<Link#')) continue;
    // A trailing * marks an interface that is down; the interface's name is without it.
    const device = (p[0] as string).replace(/\*$/, '');
    if (seen.has(device)) continue;
    seen.add(device);
    const values = p.slice(p.length - tail.length);
    const col = (name: string) => {
      const i = tail.indexOf(name);
      const v = i < 0 ? Number.NaN : Number(values[i]);
      return Number.isFinite(v) ? v : undefined;
    };
    out.push({
      device,
      receive: { packets: col('Ipkts'), errs: col('Ierrs'), bytes: col('Ibytes'), drop: col('Idrop') },
      transmit: { packets: col('Opkts'), errs: col('Oerrs'), bytes: col('Obytes'), colls: col('Coll'), drop: col('Drop') },
    });
  }
  return out;
}
