import type { StatsFs } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { MetricWriter } from '../metrics.ts';
import { type MountEntry, type ProcRoots, parseMounts, procPath, readKernelFileOptional } from '../procfs/index.ts';
import type { OptionKit } from './option-kit.ts';
import { MountStatter } from './platform/statfs.ts';
import { defineCollector, type OptionsOf } from './registry.ts';

export { MountStatter };

// node_exporter 1.5's defaults, so the same hosts expose the same series.
export const DEFAULT_MOUNT_POINTS_EXCLUDE = '^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)';
const DEFAULT_FS_TYPES_EXCLUDE =
  '^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$';

/** The filesystem collector's options on every platform; macOS and Windows honour mount_timeout. */
const filesystemOptions = ({ z, pattern, duration }: OptionKit) =>
  z
    .object({
      mount_points_exclude: pattern().default(DEFAULT_MOUNT_POINTS_EXCLUDE),
      fs_types_exclude: pattern().default(DEFAULT_FS_TYPES_EXCLUDE),
      /**
       * How long statfs() may take before the mount is reported as a device error and left alone
       * until it answers. node_exporter waits 5s; 2s keeps the first scrape after a mount hangs well
       * inside the collector timeout, so the other mounts are still reported.
       */
      mount_timeout: duration()
        .default(2_000)
        .refine((ms) => ms >= 1 && ms <= 600_000, 'must be between 1ms and 10m'),
    })
    .strict();

export type FilesystemOptions = OptionsOf<typeof filesystemOptions>;

export interface MountFilter {
  mountPointsExclude: RegExp;
  fsTypesExclude: RegExp;
}

/** Mounts to report: the exclusions applied, and one entry per (device, mount point, type). */
export function selectMounts(mounts: MountEntry[], filter: MountFilter): MountEntry[] {
  const seen = new Set<string>();
  return mounts.filter((m) => {
    if (filter.mountPointsExclude.test(m.mountPoint) || filter.fsTypesExclude.test(m.fsType)) return false;
    const key = `${m.device}\0${m.mountPoint}\0${m.fsType}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function writeFilesystem(out: MetricWriter, m: MountEntry, st: StatsFs | undefined): void {
  const labels = { device: m.device, fstype: m.fsType, mountpoint: m.mountPoint };
  out.gauge('node_filesystem_device_error', 'Whether statfs() failed or hung for this mount.', st ? 0 : 1, labels);
  out.gauge('node_filesystem_readonly', 'Whether the file system is mounted read-only.', m.options.includes('ro') ? 1 : 0, labels);
  if (!st) return;
  out.gauge('node_filesystem_size_bytes', 'File system size in bytes.', st.blocks * st.bsize, labels);
  out.gauge('node_filesystem_free_bytes', 'Free bytes, including those reserved for root.', st.bfree * st.bsize, labels);
  out.gauge('node_filesystem_avail_bytes', 'Bytes available to unprivileged users.', st.bavail * st.bsize, labels);
  out.gauge('node_filesystem_files', 'Inodes in total.', st.files, labels);
  out.gauge('node_filesystem_files_free', 'Free inodes.', st.ffree, labels);
}

/** PID 1's view covers every mount of the host; under hidepid only our own is readable. */
function readMountTable(roots: ProcRoots): string {
  try {
    const text = readKernelFileOptional(procPath(roots, '1/mounts'));
    if (text !== undefined) return text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
  }
  const own = readKernelFileOptional(procPath(roots, 'self/mounts'));
  if (own === undefined) throw new Error(`neither ${procPath(roots, '1/mounts')} nor ${procPath(roots, 'self/mounts')} is readable`);
  return own;
}

export default defineCollector({
  name: 'filesystem',
  defaultEnabled: true,
  description: 'File system sizes and free space from statfs() on each mount point; hung mounts are skipped.',
  options: filesystemOptions,
  create: (_config, o) => {
    const filter = { mountPointsExclude: new RegExp(o.mount_points_exclude), fsTypesExclude: new RegExp(o.fs_types_exclude) };
    let log: Logger | undefined;
    const statter = new MountStatter({ timeoutMs: o.mount_timeout, log: () => log });
    return {
      async update(out, ctx) {
        log = ctx.log;
        const { roots } = ctx;
        const text = readMountTable(roots);
        const mounts = selectMounts(parseMounts(text), filter);
        const stats = await Promise.all(
          mounts.map((m) => statter.stat(m.mountPoint, join(roots.rootfs, m.mountPoint), ctx.signal, m.fsType)),
        );
        mounts.forEach((m, i) => {
          writeFilesystem(out, m, stats[i]);
        });
      },
    };
  },
});
