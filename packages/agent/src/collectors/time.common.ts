import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PosixZone, parsePosixZone, readClocksources, tzifFooter, zoneAbbreviation } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** Where the local zone's TZif file is, following the TZ variable as the C library does. */
function zoneFile(tz: string | undefined): string | undefined {
  if (tz === undefined) return '/etc/localtime';
  const name = tz.replace(/^:/, '');
  if (name === '' || name === 'UTC') return undefined;
  return name.startsWith('/') ? name : join('/usr/share/zoneinfo', name);
}

/** The local zone's POSIX rule, from the TZif file or TZ itself; undefined when neither gives one. */
function localZone(tz: string | undefined): PosixZone | undefined {
  const file = zoneFile(tz);
  let rule: string | undefined;
  if (file) {
    try {
      // A small file on the root file system the agent itself runs from: read in place.
      rule = tzifFooter(readFileSync(file));
    } catch {
      // No zone file: TZ may itself be a POSIX rule (`CET-1CEST`); otherwise UTC, as the C library assumes.
    }
  }
  if (rule === undefined && tz) rule = tz.replace(/^:/, '');
  return rule ? parsePosixZone(rule) : undefined;
}

// The zone is read once per TZ value, as the offset beside it is: Node (ICU) settles the local
// zone at start and follows only a change of TZ, not a new /etc/localtime.
let cached: { tz: string | undefined; zone: PosixZone | undefined } | undefined;

/** The abbreviation of the local zone right now (`UTC`, `CET`, `CEST`), from the TZif file's POSIX rule. */
export function localZoneName(nowOffsetSeconds: number, tz = process.env.TZ): string {
  if (cached === undefined || cached.tz !== tz) cached = { tz, zone: localZone(tz) };
  const zone = cached.zone;
  if (zone) return zoneAbbreviation(zone, nowOffsetSeconds);
  if (nowOffsetSeconds === 0) return 'UTC';
  const h = Math.abs(nowOffsetSeconds) / 3600;
  return `UTC${nowOffsetSeconds > 0 ? '+' : '-'}${h}`;
}

export default defineCollector({
  name: 'time',
  defaultEnabled: true,
  description: 'The system clock, the local time zone offset, and the kernel clock sources.',
  create: () => ({
    update(out, { roots }) {
      const now = Date.now();
      out.gauge('node_time_seconds', 'The system clock, in seconds since the epoch.', now / 1000);
      const offset = -new Date(now).getTimezoneOffset() * 60;
      out.gauge('node_time_zone_offset_seconds', 'Offset of the local time zone from UTC.', offset, {
        time_zone: localZoneName(offset),
      });
      if (process.platform !== 'linux') return;
      const sources = readClocksources(roots);
      for (const s of sources) {
        for (const c of s.available) {
          out.gauge('node_time_clocksource_available_info', 'Clock sources the kernel can use; always 1.', 1, {
            clocksource: c,
            device: s.device,
          });
        }
      }
      for (const s of sources) {
        out.gauge('node_time_clocksource_current_info', 'Clock source the kernel uses; always 1.', 1, {
          clocksource: s.current,
          device: s.device,
        });
      }
    },
  }),
});
