import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';
import { buildInfo } from '../build-info.ts';
import type { UpdateConfig } from './config.ts';

/** What an update replaces: this program's version, release target and binary. */
export interface SelfBinary {
  version: string;
  /** "linux-x64"...; empty when run from Node.js (there is no binary of ours to replace). */
  target: string;
  /** The running single-file build; empty when run from Node.js. */
  binary: string;
}

export function selfBinary(): SelfBinary {
  const b = buildInfo();
  if (!isSea()) return { version: b.version, target: '', binary: '' };
  return { version: b.version, target: b.target, binary: process.execPath };
}

/** Where the new binary is staged for its trial, beside the running one. */
export const nextPath = (binary: string) => join(dirname(binary), 'falconet-agent.next');
/** Where the replaced binary is kept after a successful update. */
export const previousPath = (binary: string) => join(dirname(binary), 'falconet-agent.previous');

/** The environment variable that puts a new binary on trial, naming the file it reports to. */
export const TRIAL_ENV = 'FALCONET_UPDATE_TRIAL';

/** Register.update_blocked: empty when this agent can update itself, else why not, in the order an operator would fix it. */
export function updateBlocked(config: UpdateConfig, self: SelfBinary, env: NodeJS.ProcessEnv = process.env): string {
  if (!self.binary) return 'run from Node.js, not a single-file build';
  if (env[TRIAL_ENV]) return 'on trial as a new version';
  if (config.enabled === false) return 'disabled (update.enabled: false)';
  if (config.public_keys.length === 0) return 'no release key pinned (update.public_keys)';
  if (typeof process.execve !== 'function') return `this Node.js (${process.version}) has no process.execve`;
  const dir = dirname(self.binary);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    return `${dir} is not writable by this agent (installed by a package manager? update it with that)`;
  }
  return '';
}
