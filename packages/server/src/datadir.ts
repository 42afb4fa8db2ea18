import { type DataDirCheck, logDataDirCheck, secureDataDir } from '@falconet/protocol/datadir';
import type { Logger } from 'pino';
import type { AuditLog } from './auth/audit.ts';
import { SECRET_KEY_FILE } from './db/index.ts';
import type { Unlocked } from './db/secrets.ts';
import { RELEASE_KEY_FILE } from './releases/store.ts';
import { SIGNING_KEY_FILE } from './tasks/signer.ts';

/**
 * What the server keeps in its data directory: the metadata database, keys, TLS pair, samples, log
 * store, remote_write queues and traffic plans. (Stored releases are served to installs as they are
 * and stay outside this list; the 0700 data directory keeps them from other users.)
 */
const SERVER_FILES = new Set([
  'meta.db',
  'meta.db-wal',
  'meta.db-shm',
  'meta.db-journal',
  SECRET_KEY_FILE,
  SIGNING_KEY_FILE,
  RELEASE_KEY_FILE,
  'tls',
  'samples',
  'logs',
  'remote-write',
  'traffic.json',
]);

/**
 * The data directory owner-only (0700, files 0600) before anything in it is opened: made so when
 * it is new, corrected with a warning naming each path when an older version left it open.
 */
export function secureServerDataDir(dir: string, log: Logger): DataDirCheck {
  const check = secureDataDir(dir, (name) => SERVER_FILES.has(name) || name.startsWith(`${SIGNING_KEY_FILE}.`));
  logDataDirCheck(dir, check, log);
  return check;
}

/** What start-up did to data at rest, in the audit log too: an admin sees it on the Settings page, not only in the server log. */
export async function auditAtRest(audit: AuditLog, dir: string, check: DataDirCheck, unlocked: Unlocked): Promise<void> {
  if (check.corrected.length || check.failed.length) {
    await audit.record({
      actor: 'server',
      action: 'datadir.corrected',
      target: dir,
      outcome: check.failed.length ? 'failed' : 'ok',
      detail: { corrected: check.corrected.map((c) => `${c.path} ${c.was} -> ${c.now}`), failed: check.failed.map((f) => f.path) },
    });
  }
  const sealed = Object.keys(unlocked.sealed).length > 0;
  if (unlocked.created || sealed) {
    await audit.record({
      actor: 'server',
      action: unlocked.created ? 'secrets.key_created' : 'secrets.sealed',
      target: unlocked.box.keyId,
      detail: { sealed: unlocked.sealed },
    });
  }
}
