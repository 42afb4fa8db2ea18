import type { FilesystemOptions } from './filesystem.linux.ts';
import { DARWIN_FS_TYPES_EXCLUDE, DARWIN_MOUNT_POINTS_EXCLUDE, parseDarwinMount } from './platform/darwin.ts';
import { type Host, realHost } from './platform/host.ts';
import { writeFilesystem } from './platform/portable.ts';
import { MountStatter } from './platform/statfs.ts';
import { type Collector, defineCollector } from './registry.ts';

export const darwinFilesystem = (host: Host, timeoutMs: number): Collector => {
  const statter = new MountStatter({ timeoutMs, statfs: (p) => host.statfs(p) });
  return {
    async update(out, { signal }) {
      const mounts = parseDarwinMount(await host.run('/sbin/mount', [], signal)).filter(
        (m) => !DARWIN_FS_TYPES_EXCLUDE.test(m.fsType) && !DARWIN_MOUNT_POINTS_EXCLUDE.test(m.mountPoint),
      );
      const stats = await Promise.all(mounts.map((m) => statter.stat(m.mountPoint, m.mountPoint, signal)));
      mounts.forEach((m, i) => {
        writeFilesystem(out, m, stats[i]);
      });
    },
  };
};

export default defineCollector({
  name: 'filesystem',
  defaultEnabled: true,
  description: 'File system sizes and free space from statfs() on each mount `mount` lists; hung mounts are skipped.',
  // Declared in filesystem.linux.ts, so the keys are the same on every platform.
  create: ({ collector_options }) => darwinFilesystem(realHost, (collector_options.filesystem as FilesystemOptions).mount_timeout),
});
