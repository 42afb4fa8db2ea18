/**
 * Owner-only data directories, shared by the two binaries: the directory 0700, everything the
 * program keeps in it (databases, logs, spools, keys) 0600. Files are created with these modes
 * from the start; `secureDataDir` corrects what an older version or a hand-made copy left open,
 * and says which paths it changed so the caller can log them.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

export interface ModeChange {
  path: string;
  /** Octal, as `ls -l` people read them: `0644`. */
  was: string;
  now: string;
}

export interface DataDirCheck {
  /** The directory did not exist and was made 0700. */
  created: boolean;
  corrected: ModeChange[];
  /** Paths left open because they could not be changed (another owner, a shared sticky directory). */
  failed: { path: string; mode: string; reason: string }[];
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/**
 * Makes `dir` (0700) when it is missing, else closes it and what it holds to its owner. Only the
 * entries `owns(name)` accepts are touched, and everything below them: a data directory pointed
 * at a home or a shared directory by mistake keeps the modes of what is not ours. Symbolic links
 * are not followed below the top.
 */
export function secureDataDir(dir: string, owns: (name: string) => boolean): DataDirCheck {
  const check: DataDirCheck = { created: false, corrected: [], failed: [] };
  if (process.platform === 'win32') return check;
  let top: Stats;
  try {
    top = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    check.created = true;
    return check;
  }
  if (!top.isDirectory()) throw new Error(`${dir}: the data directory is not a directory`);
  if (top.mode & 0o1000) {
    if (top.mode & 0o077)
      check.failed.push({ path: dir, mode: octal(top.mode), reason: 'a shared directory (sticky bit): choose a directory of its own' });
  } else restrict(dir, top, PRIVATE_DIR_MODE, check);
  for (const name of readdirSync(dir)) if (owns(name)) walk(join(dir, name), check);
  return check;
}

function walk(path: string, check: DataDirCheck): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return; // removed meanwhile (a temporary file)
  }
  if (st.isDirectory()) {
    restrict(path, st, PRIVATE_DIR_MODE, check);
    for (const name of readdirSync(path)) walk(join(path, name), check);
  } else if (st.isFile()) restrict(path, st, PRIVATE_FILE_MODE, check);
}

function restrict(path: string, st: Stats, want: number, check: DataDirCheck): void {
  if ((st.mode & 0o077) === 0) return;
  const now = (st.mode & 0o700) | want;
  try {
    chmodSync(path, now);
    check.corrected.push({ path, was: octal(st.mode), now: octal(now) });
  } catch (err) {
    check.failed.push({ path, mode: octal(st.mode), reason: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
}

/** Logs what `secureDataDir` changed (one warning naming every path) and what it could not. */
export function logDataDirCheck(dir: string, check: DataDirCheck, log: { warn(obj: object, msg: string): void }): void {
  if (check.corrected.length) {
    log.warn(
      { dataDir: dir, corrected: check.corrected.map((c) => `${c.path} ${c.was} -> ${c.now}`) },
      'data directory: files others could read, now owner-only',
    );
  }
  for (const f of check.failed)
    log.warn({ path: f.path, mode: f.mode, reason: f.reason }, 'data directory: could not make this owner-only');
}
