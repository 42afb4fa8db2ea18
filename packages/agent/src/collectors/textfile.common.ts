import { readdirSync, readFileSync, type StatsFs, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseExposition } from '@falconet/protocol/exposition';
import type { Logger } from 'pino';
import type { MetricFamily, MetricWriter } from '../metrics.ts';
import { defaultStatfs } from './platform/statfs.ts';
import { defineCollector } from './registry.ts';

type FileResult = { families: MetricFamily[]; mtime: number } | { error: string };

/**
 * statfs(2) magic numbers of file systems on local storage or in memory, where a read waits on no
 * server: ext2/3/4, xfs, btrfs, tmpfs, ramfs, overlay, f2fs, zfs, bcachefs, jfs, reiserfs, FAT,
 * exFAT, squashfs, nilfs2, HFS+, NTFS.
 */
const LOCAL_FS_TYPES = new Set([
  0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x858458f6, 0x794c7630, 0xf2f52010, 0x2fc12fc1, 0xca451a4e, 0x3153464a, 0x52654973, 0x4d44,
  0x2011bab0, 0x73717368, 0x3434, 0x482b, 0x5346544e,
]);
/** How long the answer about the directory's file system holds before it is asked again. */
const FS_RECHECK_MS = 5 * 60_000;

/**
 * Reads `*.prom` files that cron jobs and scripts write into one directory, as node_exporter's
 * textfile collector does. A file that does not parse is left out whole and
 * node_textfile_scrape_error turns 1; the rest of the scrape is unaffected.
 */
export class TextfileReader {
  readonly #dir: string;
  readonly #statfs: (path: string) => Promise<StatsFs>;
  /** Last error per file, so a file that stays broken is logged once, not on every scrape. */
  readonly #reported = new Map<string, string>();
  /**
   * Whether the directory is on a local file system, where it is read in place like a kernel file
   * (a thread-pool round trip per call costs more than reading an empty directory); elsewhere (NFS,
   * SMB, FUSE, unknown) it is read through the thread pool, so a server that stops answering holds
   * a thread, not the agent. Undefined until the first answer, and while a new one is awaited.
   */
  #local: boolean | undefined;
  #localAskedMs = 0;

  constructor(dir: string, statfsCall: (path: string) => Promise<StatsFs> = defaultStatfs()) {
    this.#dir = dir;
    this.#statfs = statfsCall;
  }

  /**
   * Whether this scrape may read the directory in place. The first scrape waits for the answer; a
   * later one that finds it old asks again in the background and uses the thread pool until the
   * answer is in (a statfs that does not return is itself a sign of a remote file system).
   */
  #inPlace(): boolean | Promise<boolean> {
    const now = Date.now();
    if (this.#local !== undefined && now - this.#localAskedMs < FS_RECHECK_MS) return this.#local;
    if (this.#local === undefined && this.#localAskedMs !== 0) return false;
    const first = this.#localAskedMs === 0;
    this.#localAskedMs = now;
    this.#local = undefined;
    const asked = this.#statfs(this.#dir).then(
      (st) => {
        this.#local = LOCAL_FS_TYPES.has(st.type);
        return this.#local;
      },
      () => {
        this.#local = false;
        return false;
      },
    );
    return first ? asked : false;
  }

  #report(log: Logger, file: string, message: string): void {
    if (this.#reported.get(file) === message) return;
    this.#reported.set(file, message);
    log.warn({ file, err: message }, 'textfile skipped');
  }

  /** Synchronous when the directory is read in place, as most collectors are; a promise otherwise. */
  update(out: MetricWriter, log: Logger): Promise<void> | void {
    if (this.#dir === '') return this.#merge(out, log, [], [], false);
    const inPlace = this.#inPlace();
    if (inPlace === true) {
      let files: string[];
      try {
        files = textfiles(readdirSync(this.#dir));
      } catch (err) {
        return this.#merge(out, log, [], [], this.#unreadable(log, err));
      }
      return this.#merge(
        out,
        log,
        files,
        files.map((f) => this.#readOneInPlace(join(this.#dir, f))),
        false,
      );
    }
    return this.#updateThroughPool(out, log, inPlace);
  }

  async #updateThroughPool(out: MetricWriter, log: Logger, inPlace: false | Promise<boolean>): Promise<void> {
    if (inPlace !== false && (await inPlace)) return this.update(out, log);
    let files: string[];
    try {
      files = textfiles(await readdir(this.#dir));
    } catch (err) {
      return this.#merge(out, log, [], [], this.#unreadable(log, err));
    }
    // Files are read in parallel, merged in name order so the output does not depend on timing.
    this.#merge(out, log, files, await Promise.all(files.map((f) => this.#readOne(join(this.#dir, f)))), false);
  }

  #unreadable(log: Logger, err: unknown): true {
    this.#report(log, this.#dir, `cannot read the textfile directory: ${(err as Error).message}`);
    return true;
  }

  #merge(out: MetricWriter, log: Logger, files: string[], results: FileResult[], dirFailed: boolean): void {
    let failed = dirFailed;
    const seen = new Set<string>();
    files.forEach((file, i) => {
      const r = results[i] as FileResult;
      seen.add(file);
      if ('error' in r) {
        failed = true;
        this.#report(log, file, r.error);
        return;
      }
      for (const f of r.families) {
        const existing = out.has(f.name);
        if (existing && existing.type !== f.type) {
          failed = true;
          this.#report(log, file, `${f.name} is a ${f.type} here but a ${existing.type} in an earlier file; left out`);
          continue;
        }
        out.addFamily(f);
      }
      out.gauge('node_textfile_mtime_seconds', 'Modification time of each textfile read, in seconds since the epoch.', r.mtime, { file });
      if (this.#reported.delete(file)) log.info({ file }, 'textfile parses again');
    });
    for (const file of this.#reported.keys()) if (file !== this.#dir && !seen.has(file)) this.#reported.delete(file);
    if (!failed) this.#reported.delete(this.#dir);
    out.gauge('node_textfile_scrape_error', 'Whether reading or parsing any textfile failed (1) or not (0).', failed ? 1 : 0);
  }

  async #readOne(path: string): Promise<FileResult> {
    try {
      const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      return parsedFile(text, st.mtimeMs);
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  #readOneInPlace(path: string): FileResult {
    try {
      return parsedFile(readFileSync(path, 'utf8'), statSync(path).mtimeMs);
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
}

/** The `*.prom` files of a listing, in name order. */
function textfiles(names: string[]): string[] {
  return names.filter((f) => f.endsWith('.prom')).sort();
}

function parsedFile(text: string, mtimeMs: number): FileResult {
  const parsed = parseExposition(text);
  if (parsed.hasTimestamps) return { error: 'samples carry timestamps, which the textfile collector does not accept' };
  return { families: parsed.families, mtime: mtimeMs / 1000 };
}

export default defineCollector({
  name: 'textfile',
  defaultEnabled: true,
  description: 'Metrics from *.prom files in collector_options.textfile.directory, written by scripts and cron jobs.',
  options: ({ z }) =>
    z
      .object({
        /** Directory of `*.prom` files; empty reads none. */
        directory: z.string().default(''),
      })
      .strict(),
  create: (_config, options) => {
    const reader = new TextfileReader(options.directory);
    return { update: (out, { log }) => reader.update(out, log) };
  },
});
