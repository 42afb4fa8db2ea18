import { logDataDirCheck, secureDataDir } from '@falconet/protocol/datadir';
import type { Logger } from 'pino';
import { SECRET_KEY_FILE } from './db/index.ts';
import { SIGNING_KEY_FILE } from './tasks/signer.ts';

/** What the server keeps in its data directory: the metadata database, keys, TLS pair, samples. */
const SERVER_FILES = new Set([
  'meta.db',
  'meta.db-wal',
  'meta.db-shm',
  'meta.db-journal',
  SECRET_KEY_FILE,
  SIGNING_KEY_FILE,
  'tls',
  'samples',
]);

/**
 * The data directory owner-only (0700, files 0600) before anything in it is opened: made so when
 * it is new, corrected with a warning naming each path when an older version left it open.
 */
export function secureServerDataDir(dir: string, log: Logger): void {
  logDataDirCheck(
    dir,
    secureDataDir(dir, (name) => SERVER_FILES.has(name) || name.startsWith(`${SIGNING_KEY_FILE}.`)),
    log,
  );
}
