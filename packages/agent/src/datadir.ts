import { isAbsolute, relative, resolve, sep } from 'node:path';
import { type DataDirCheck, PRIVATE_FILE_MODE, secureDataDir } from '@falconet/protocol/datadir';

/** What the agent keeps in its data directory: id, sequence, spool, task state, update statuses, pidfile and daemon log (and their temporary and rotated files). */
const AGENT_FILES = /^(agent-id|seq|spool|tasks|update|falconet-agent\.pid|falconet-agent\.log)(\..*)?$/;

/** The data directory owner-only (0700, files 0600): made so when new, corrected when an older version left it open. */
export function secureAgentDataDir(dir: string): DataDirCheck {
  return secureDataDir(dir, (name) => AGENT_FILES.test(name));
}

/** A log file in the data directory (the daemon's default) is owner-only like the rest; elsewhere its group may read it. */
export function logFileMode(dataDir: string, file: string): number {
  const rel = relative(resolve(dataDir), resolve(file));
  const inside = rel !== '' && !isAbsolute(rel) && rel.split(sep)[0] !== '..';
  return inside ? PRIVATE_FILE_MODE : 0o640;
}
