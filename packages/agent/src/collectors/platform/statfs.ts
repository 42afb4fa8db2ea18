import { type StatsFs, statfsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import { nativeHelpers } from '../../native.ts';

/** statfs(2); injectable so the bookkeeping of hung mounts is tested apart from a real hung mount. */
export type StatfsCall = (path: string) => Promise<StatsFs>;

/**
 * statfs() on a thread of its own when the native helpers are built, so a hung mount holds neither
 * a libuv thread (four would stall every file operation) nor the process at exit; else Node's.
 */
export function defaultStatfs(): StatfsCall {
  const native = nativeHelpers();
  return native instanceof Error ? (path) => statfs(path) : (path) => native.statfs(path);
}

/**
 * File systems whose statfs() answers from counters the kernel keeps in memory, waiting on no
 * device and no server: for these the call is made in place, saving a thread per mount and scrape.
 * Network, FUSE and unknown types (and overlay, whose upper directory may be anywhere) go to a thread.
 */
export const IN_MEMORY_STATFS = new Set([
  'bcachefs',
  'btrfs',
  'exfat',
  'ext2',
  'ext3',
  'ext4',
  'f2fs',
  'hfsplus',
  'jfs',
  'msdos',
  'nilfs2',
  'ntfs',
  'ntfs3',
  'ramfs',
  'reiserfs',
  'rootfs',
  'tmpfs',
  'vfat',
  'xfs',
  'zfs',
]);

/**
 * Calls statfs() on each mount at once, each bounded by `timeoutMs`. A mount whose call does not
 * answer in time (a hung NFS or FUSE server) is marked stuck and not asked again until that call
 * finally returns: its thread stays blocked in the kernel, and a new call would only block another.
 */
export class MountStatter {
  readonly #stuck = new Set<string>();
  readonly #statfs: StatfsCall;
  readonly #timeoutMs: number;
  readonly #log: () => Logger | undefined;

  constructor(opts: { timeoutMs: number; statfs?: StatfsCall; log?: () => Logger | undefined }) {
    this.#timeoutMs = opts.timeoutMs;
    this.#statfs = opts.statfs ?? defaultStatfs();
    this.#log = opts.log ?? (() => undefined);
  }

  get stuck(): ReadonlySet<string> {
    return this.#stuck;
  }

  /** StatsFs, or undefined for a mount that failed, timed out or is still stuck. */
  async stat(mountPoint: string, path: string, signal?: AbortSignal, fsType?: string): Promise<StatsFs | undefined> {
    if (this.#stuck.has(mountPoint)) return undefined;
    if (fsType !== undefined && IN_MEMORY_STATFS.has(fsType)) {
      try {
        return statfsSync(path);
      } catch {
        return undefined;
      }
    }
    const call = this.#statfs(path);
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const giveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#timeoutMs);
      onAbort = () => resolve('timeout');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([call, giveUp]);
      if (result !== 'timeout') return result;
      this.#stuck.add(mountPoint);
      this.#log()?.warn({ mountpoint: mountPoint, timeoutMs: this.#timeoutMs }, 'statfs did not answer in time; mount point marked stuck');
      const release = () => {
        this.#stuck.delete(mountPoint);
        this.#log()?.info({ mountpoint: mountPoint }, 'stuck mount point answered again');
      };
      call.then(release, release);
      return undefined;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }
}
