import { closeSync, constants, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where the kernel's files are read from. Tests point it at fixture trees; in production it is
 * `/proc` and `/sys` (or a host mount such as `/host/proc` inside a container).
 */
export interface ProcRoots {
  proc: string;
  sys: string;
  /** Root filesystem prefix for statfs() of mount points (`/` or `/host/root`). */
  rootfs: string;
}

export const defaultRoots: ProcRoots = { proc: '/proc', sys: '/sys', rootfs: '/' };

export function procPath(roots: ProcRoots, ...parts: string[]): string {
  return join(roots.proc, ...parts);
}

export function sysPath(roots: ProcRoots, ...parts: string[]): string {
  return join(roots.sys, ...parts);
}

export function rootfsPath(roots: ProcRoots, ...parts: string[]): string {
  return join(roots.rootfs, ...parts);
}

/** Reads a small kernel file as text; undefined when it does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

// One buffer for every synchronous read: procfs and sysfs files are generated in memory by the
// kernel, so reading them without the thread pool is both safe and several times cheaper.
let scratch = Buffer.allocUnsafe(64 * 1024);
const FIRST_READ = 4096;

/**
 * Reads a procfs or sysfs file synchronously. Only for files the kernel generates from memory:
 * never for anything on a disk or network file system, which could block the event loop.
 */
export function readKernelFile(path: string, attribute = false): string {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger, 0, 0, length);
        scratch = bigger;
      }
      // The first read asks for one page: /proc/sys handlers allocate and zero a kernel buffer as
      // large as the request, and one page holds nearly every kernel file whole.
      const room = length === 0 ? FIRST_READ : scratch.length - length;
      const n = readSync(fd, scratch, length, room, null);
      length += n;
      if (n === 0) break;
      // A sysfs attribute comes whole in one read() (at most a page), so a short read is its end.
      // procfs seq_files may return less than asked before their end, so those read on to 0.
      if (attribute && n < room) break;
    }
    return scratch.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** readKernelFile, or undefined when the file does not exist. */
export function readKernelFileOptional(path: string): string | undefined {
  try {
    return readKernelFile(path);
  } catch (err) {
    const code = errno(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

// What sysfs answers for an attribute the device cannot report right now (carrier of a link that
// is down, speed of a virtual interface, a sensor that is not wired): not a failure of the scrape.
const UNAVAILABLE = new Set([
  'ENOENT',
  'ENOTDIR',
  'EINVAL',
  'EOPNOTSUPP',
  'ENOTSUP',
  'ENODEV',
  'ENXIO',
  'EACCES',
  'EPERM',
  'EIO',
  'EAGAIN',
  'ENODATA',
]);

/** One sysfs attribute, trimmed; undefined when the device does not report it. */
export function readSysAttr(path: string): string | undefined {
  // Attributes a device cannot report fail on every scrape (a dozen per scrape on a host with a
  // few interfaces down); their errors are dropped, so skip the costly stack capture.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return readKernelFile(path, true).trim();
  } catch (err) {
    if (UNAVAILABLE.has(errno(err) ?? '')) return undefined;
    Error.stackTraceLimit = limit;
    throw err;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A sysfs attribute as a number; undefined when missing or not numeric. */
export function readSysNumber(path: string): number | undefined {
  const text = readSysAttr(path);
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** The asynchronous variant, for sensors whose drivers may take long to answer (hwmon, ACPI thermal zones). */
export async function readSysAttrAsync(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (UNAVAILABLE.has(errno(err) ?? '')) return undefined;
    throw err;
  }
}

/**
 * Splits on runs of blanks, ignoring leading and trailing ones. Kernel tables are padded with
 * spaces; splitting on one space and dropping the empty pieces is several times faster than a
 * regular expression, and this runs for every line of every table on every scrape.
 */
export function fields(line: string): string[] {
  if (line.includes('\t')) {
    const t = line.trim();
    return t === '' ? [] : t.split(/\s+/);
  }
  const parts = line.split(' ');
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (p !== '') parts[n++] = p;
  }
  parts.length = n;
  return parts;
}

/** Thrown when a source the collector needs is absent on this host (no /proc/pressure, no schedstat). */
export class NoDataError extends Error {
  override name = 'NoDataError';
}

/** readKernelFileOptional that turns a missing file into a NoDataError naming it. */
export function readRequired(path: string): string {
  const text = readKernelFileOptional(path);
  if (text === undefined) throw new NoDataError(`${path} does not exist`);
  return text;
}

/**
 * The entries of a kernel directory, or none when it does not exist (no hwmon on a VM, no cpufreq
 * without a driver). Checked first: a failing readdir costs an exception on every scrape.
 */
export function listKernelDir(dir: string): string[] {
  if (!statSync(dir, { throwIfNoEntry: false })) return [];
  try {
    return readdirSync(dir);
  } catch (err) {
    const code = errno(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}
