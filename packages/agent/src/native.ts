import type { StatsFs } from 'node:fs';
import { createRequire } from 'node:module';

/** The native helpers built at install by native/build.mjs (Linux only). */
export interface NativeHelpers {
  /** struct timex as adjtimex(2) fills it with modes = 0, plus the clock state it returned. */
  adjtimex(): Record<string, number>;
  /** statfs(2) on a detached thread: a hung mount never holds a libuv thread, nor the process at exit. */
  statfs(path: string): Promise<StatsFs>;
  /** Opens each named file of a directory (openat, one call): descriptors, -errno where one cannot be opened. */
  openFiles(dir: string, names: readonly string[]): Int32Array;
  /** Each sysfs attribute read whole from offset 0 (one pread), undefined for a negative descriptor or a failed read. */
  readFds(fds: Int32Array): (string | undefined)[];
  /** One file read whole from offset 0, or -errno; with oneRead, done after a read shorter than asked (see readKernelFile). */
  readFd(fd: number, oneRead?: boolean): string | number;
  /** Closes the non-negative descriptors and marks every slot closed. */
  closeFds(fds: Int32Array): void;
  /** madvise(MADV_DONTNEED) over a page-aligned range of this process: 0 or -errno. */
  dropPages(address: number, length: number): number;
  /** malloc_trim(0): true when the C heap gave memory back. */
  trimMalloc(): boolean;
  /** One ICMP echo on a pool thread, timed in its `setup` and `rtt` phases (seconds); error is 0 or an errno, stage where it failed. */
  icmpEcho(address: string, family: 4 | 6, timeoutMs: number): Promise<IcmpEchoResult>;
}

export interface IcmpEchoResult {
  error: number;
  stage: '' | 'socket' | 'send' | 'receive';
  setup: number;
  rtt: number;
  hopLimit: number;
}

let loaded: NativeHelpers | Error | undefined;
let addonFile: string | undefined;

/** The file the helpers are loaded from when it is not the build tree's (a single-file build): a worker thread loads the same. */
export function nativeAddonFile(): string | undefined {
  return addonFile;
}

/** Loads the helpers from this file instead of the build tree: a single-file build carries them inside and writes them out. */
export function useNativeAddonFile(file: string): void {
  addonFile = file;
  loaded = undefined;
}

/**
 * The helpers, or an Error saying why they are missing and how to build them. Loaded once.
 * FALCONET_NATIVE=off leaves them unloaded, as on a host where they could not be built.
 */
export function nativeHelpers(): NativeHelpers | Error {
  if (loaded === undefined && process.env.FALCONET_NATIVE === 'off')
    loaded = new Error('the native helpers are turned off (FALCONET_NATIVE=off)');
  if (loaded === undefined) {
    try {
      if (addonFile) {
        const mod = { exports: {} as NativeHelpers };
        process.dlopen(mod, addonFile);
        loaded = mod.exports;
      } else {
        // The same relative path from src/ and from dist/.
        loaded = createRequire(import.meta.url)('../native/build/Release/falconet_native.node') as NativeHelpers;
      }
      if (typeof loaded.readFds !== 'function') loaded = new Error('the native helpers are only built on Linux');
    } catch (err) {
      loaded = new Error(
        `the native helpers are not built (${(err as Error).message.split('\n')[0]}); run "npm rebuild -w @falconet/agent" on a host with a C compiler`,
      );
    }
  }
  return loaded;
}

/** The helpers when built, else undefined: for callers with a pure JavaScript path of their own. */
export function optionalNativeHelpers(): NativeHelpers | undefined {
  const n = nativeHelpers();
  return n instanceof Error ? undefined : n;
}
