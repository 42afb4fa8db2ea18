import type { StatsFs } from 'node:fs';
import { createRequire } from 'node:module';

/** The native helpers built at install by native/build.mjs (Linux only). */
export interface NativeHelpers {
  /** struct timex as adjtimex(2) fills it with modes = 0, plus the clock state it returned. */
  adjtimex(): Record<string, number>;
  /** statfs(2) on a detached thread: a hung mount never holds a libuv thread, nor the process at exit. */
  statfs(path: string): Promise<StatsFs>;
  /** Each named file of a directory (openat, one call), undefined for one that cannot be read. */
  readFiles(dir: string, names: readonly string[]): (string | undefined)[];
}

let loaded: NativeHelpers | Error | undefined;

/** The helpers, or an Error saying why they are missing and how to build them. Loaded once. */
export function nativeHelpers(): NativeHelpers | Error {
  if (loaded === undefined) {
    try {
      // The same relative path from src/ and from dist/.
      loaded = createRequire(import.meta.url)('../native/build/Release/falconet_native.node') as NativeHelpers;
      if (typeof loaded.readFiles !== 'function') loaded = new Error('the native helpers are only built on Linux');
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
