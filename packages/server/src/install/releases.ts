import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The targets an agent binary is built for (npm run package). */
export const AGENT_TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type AgentTarget = (typeof AGENT_TARGETS)[number];

export function isAgentTarget(s: string): s is AgentTarget {
  return (AGENT_TARGETS as readonly string[]).includes(s);
}

export interface HeldAgentBinary {
  version: string;
  target: AgentTarget;
  file: string;
  size: number;
}

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/;

/** Semantic version order: numbers first, a pre-release before its release, pre-release parts compared as semver says. */
export function compareVersions(a: string, b: string): number {
  const x = SEMVER.exec(a);
  const y = SEMVER.exec(b);
  if (!x || !y) throw new Error(`not a version: ${x ? b : a}`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d) return Math.sign(d);
  }
  const [pa, pb] = [x[4], y[4]];
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  const sa = pa.split('.');
  const sb = pb.split('.');
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const [p, q] = [sa[i], sb[i]];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const [np, nq] = [/^\d+$/.test(p), /^\d+$/.test(q)];
    if (np && nq && Number(p) !== Number(q)) return Math.sign(Number(p) - Number(q));
    if (np !== nq) return np ? -1 : 1;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/**
 * Reads the server's release store (`<data dir>/releases/<version>/<target>/falconet-agent`, kept by
 * `falconet-server release add`) for what the install routes hand out. A held release is
 * immutable, so each file's SHA-256 is computed once, when first asked for, and remembered: a file
 * changed afterwards is still announced with the hash it had, and the install script refuses it.
 */
export class AgentReleaseReader {
  readonly #dir: string;
  readonly #hashes = new Map<string, Promise<string>>();

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'releases');
  }

  /** The newest version (by semver) that holds a binary for `target`, or undefined. */
  newest(target: AgentTarget): HeldAgentBinary | undefined {
    let versions: string[];
    try {
      versions = readdirSync(this.#dir).filter((v) => SEMVER.test(v));
    } catch {
      return undefined;
    }
    versions.sort(compareVersions).reverse();
    for (const version of versions) {
      const file = join(this.#dir, version, target, 'falconet-agent');
      const st = statSync(file, { throwIfNoEntry: false });
      if (st?.isFile()) return { version, target, file, size: st.size };
    }
    return undefined;
  }

  /** The file's SHA-256 (hex), as first computed. */
  sha256(file: string): Promise<string> {
    let h = this.#hashes.get(file);
    if (!h) {
      h = new Promise<string>((resolve, reject) => {
        const hash = createHash('sha256');
        createReadStream(file)
          .on('data', (chunk) => hash.update(chunk))
          .on('error', reject)
          .on('end', () => resolve(hash.digest('hex')));
      });
      // A failed read is not remembered: the next request tries again.
      h.catch(() => this.#hashes.delete(file));
      this.#hashes.set(file, h);
    }
    return h;
  }
}
