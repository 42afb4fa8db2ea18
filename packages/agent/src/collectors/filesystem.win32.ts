import type { FilesystemOptions } from './filesystem.linux.ts';
import { type Host, realHost } from './platform/host.ts';
import { writeFilesystem } from './platform/portable.ts';
import { MountStatter } from './platform/statfs.ts';
import { WINDOWS_DRIVES } from './platform/win32.ts';
import { type Collector, defineCollector } from './registry.ts';

export const win32Filesystem = (host: Host, timeoutMs: number, drives = WINDOWS_DRIVES): Collector => {
  const statter = new MountStatter({ timeoutMs, statfs: (p) => host.statfs(p) });
  return {
    async update(out, { signal }) {
      // Drive letters that do not exist fail at once; a mapped network drive that hangs is
      // skipped like a hung mount elsewhere.
      const stats = await Promise.all(drives.map((d) => statter.stat(d, d, signal)));
      drives.forEach((d, i) => {
        const st = stats[i];
        if (st || statter.stuck.has(d)) writeFilesystem(out, { device: d.slice(0, 2), mountPoint: d, fsType: '', readOnly: false }, st);
      });
    },
  };
};

export default defineCollector({
  name: 'filesystem',
  defaultEnabled: true,
  description: 'Size and free space of each drive (C: to Z:) from statfs().',
  // Declared in filesystem.linux.ts, so the keys are the same on every platform.
  create: ({ collector_options }) => win32Filesystem(realHost, (collector_options.filesystem as FilesystemOptions).mount_timeout),
});
