/**
 * The C allocator under a long-running server. glibc's malloc serves a request of 128 KiB or more
 * with a mapping of its own, returned to the system when freed, until such a block is freed: it
 * then raises that threshold to the freed size (up to 32 MiB), and later blocks of that size come
 * from its heaps instead, which give memory back only from their top. The store's heads, part
 * indexes and merges allocate and free blocks of 1 to 32 MiB all day, so the server's heaps grew by
 * holes and kept them: at 5,000 agents, 1.4 GB of malloc'd memory of which the JavaScript side
 * held about 0.6 GB (docs/adr/0004-server-memory.md). A fixed threshold turns the raising off.
 *
 * glibc reads its tunables only when a process starts, so `falconet-server run` starts itself
 * again in place (same process id, same arguments) with GLIBC_TUNABLES set, before it opens
 * anything. A GLIBC_TUNABLES that already sets the threshold is left as it is.
 */
import { isSea } from 'node:sea';

/** Blocks of this size or more get a mapping of their own: glibc's default, kept fixed. */
export const MMAP_THRESHOLD = 128 * 1024;

const TUNABLE = 'glibc.malloc.mmap_threshold';

/** The GLIBC_TUNABLES to start with, or undefined when the current one already sets the threshold. */
export function tunedGlibcTunables(current: string | undefined): string | undefined {
  if (current?.split(':').some((t) => t.trim().startsWith(`${TUNABLE}=`))) return undefined;
  const ours = `${TUNABLE}=${MMAP_THRESHOLD}`;
  return current ? `${current}:${ours}` : ours;
}

/** Whether this process runs on glibc (not musl, not another system). */
function onGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return typeof header?.glibcVersionRuntime === 'string';
}

/**
 * Replaces this process with itself started under the tuned allocator, when it runs on glibc and
 * the threshold is not set yet. Returns (doing nothing) otherwise.
 */
export function restartWithTunedAllocator(): void {
  const tunables = tunedGlibcTunables(process.env.GLIBC_TUNABLES);
  if (tunables === undefined || typeof process.execve !== 'function' || !onGlibc()) return;
  // A single-file build's argv repeats its own path where a script would be; its Node flags are built in.
  const args = isSea() ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  process.execve(process.execPath, args, { ...process.env, GLIBC_TUNABLES: tunables });
}
