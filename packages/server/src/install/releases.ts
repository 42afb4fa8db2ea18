import { statSync } from 'node:fs';
import { RELEASE_TARGETS, type ReleaseTarget } from '@falconet/protocol';
import { isReleaseTarget, ReleaseStore } from '../releases/store.ts';

/** The targets an agent binary is built for (npm run package). */
export const AGENT_TARGETS = RELEASE_TARGETS;
export type AgentTarget = ReleaseTarget;
export const isAgentTarget = isReleaseTarget;

export interface HeldAgentBinary {
  version: string;
  target: AgentTarget;
  file: string;
  /** The file's size now, which is what is sent. */
  size: number;
  /** The SHA-256 in the release's signed manifest, computed by `release add`. */
  sha256: string;
}

/**
 * What the install routes hand out: the newest release (by semver) that `falconet-server release add`
 * stored for a target. The checksum announced is the one signed into the release's manifest when it
 * was added, so a held file changed afterwards is announced with the hash it had, and the install
 * script refuses it.
 */
export class AgentReleaseReader {
  readonly #store: ReleaseStore;

  constructor(dataDir: string) {
    this.#store = new ReleaseStore(dataDir);
  }

  newest(target: AgentTarget): HeldAgentBinary | undefined {
    for (const r of this.#store.list()) {
      if (r.manifest.target !== target) continue;
      const st = statSync(r.path, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      return { version: r.manifest.version, target, file: r.path, size: st.size, sha256: r.manifest.sha256 };
    }
    return undefined;
  }
}
