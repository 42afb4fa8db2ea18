/**
 * Probes the server assigns (its monitors, docs/probes.md#monitors), beside the probes of the
 * agent's own config. Each assignment replaces the previous set whole; one that does not validate
 * is refused whole, with one log line, and the set before it keeps running. Kept in memory only:
 * the server sends it again on every connection that has one; a connection on which none comes
 * within a grace period (the server assigns this agent nothing now) ends the set.
 */

/** How long after Registered an assignment may still come (the server sends it right after). */
export const ASSIGNMENT_GRACE_MS = 10_000;

import type { pb } from '@falconet/protocol';
import type { ProbeConfig } from '@falconet/protocol/probes';
import type { Logger } from 'pino';

// The probes schema brings zod into the process, some 4 MB of heap and 12 MB resident (the
// configuration itself is parsed in a child, runtime/config-child.ts): it loads with the first
// assignment, on agents the server assigns probes to. One promise, so takes stay in order.
let probesSchema: Promise<typeof import('@falconet/protocol/probes')['probesSchema']> | undefined;
const loadProbesSchema = () => {
  probesSchema ??= import('@falconet/protocol/probes').then((m) => m.probesSchema);
  return probesSchema;
};

export class AssignedProbes {
  readonly #log: Logger;
  #version = 0;
  #list: ProbeConfig[] = [];
  /** Ids of assigned probes left out because the config has a probe of the same id, as last logged. */
  #clashes = '';
  #grace: NodeJS.Timeout | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  get list(): readonly ProbeConfig[] {
    return this.#list;
  }

  get version(): number {
    return this.#version;
  }

  /**
   * A new stream registered. The server sends a non-empty set right after; if none comes within
   * `graceMs`, the server assigns nothing now, and the set is dropped (`onDropped` replans).
   */
  registered(onDropped: () => void, graceMs = ASSIGNMENT_GRACE_MS): void {
    clearTimeout(this.#grace);
    if (this.#list.length === 0) return;
    this.#grace = setTimeout(() => {
      this.#log.info({ dropped: this.#list.length }, 'the server sent no probe assignment on this connection: the assigned probes stop');
      this.#list = [];
      onDropped();
    }, graceMs);
    this.#grace.unref();
  }

  stop(): void {
    clearTimeout(this.#grace);
  }

  /** Takes an assignment; true when the set in force changed. */
  async take(a: pb.ProbeAssignment): Promise<boolean> {
    const schema = await loadProbesSchema();
    // Any assignment on the stream, even one refused below, says the server keeps this agent's set.
    clearTimeout(this.#grace);
    if (a.version <= this.#version) {
      this.#log.debug({ version: a.version, running: this.#version }, 'probe assignment older than the one in force; ignored');
      return false;
    }
    const refuse = (why: string) => {
      this.#log.error(
        { version: a.version, kept: this.#list.length },
        `probe assignment ${a.version} from the server refused: ${why}; the ${this.#list.length} assigned probe(s) before it keep running`,
      );
      return false;
    };
    let json: unknown;
    try {
      json = JSON.parse(a.probesJson);
    } catch (err) {
      return refuse(`not JSON (${(err as Error).message})`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `probes.${issue.path.join('.')}` : 'probes';
      return refuse(`${where}: ${issue?.message ?? 'invalid'}`);
    }
    const before = JSON.stringify(this.#list);
    this.#version = a.version;
    this.#list = parsed.data;
    this.#log.info({ version: a.version, probes: this.#list.length }, 'probe assignment from the server taken');
    return JSON.stringify(this.#list) !== before;
  }

  /**
   * The config's probes and the assigned ones; where both have a probe of one id the config's is
   * run and the clash is logged (once per change of the clashing ids).
   */
  merge(own: readonly ProbeConfig[]): ProbeConfig[] {
    const ids = new Set(own.map((p) => p.id));
    const clashing = this.#list.filter((p) => ids.has(p.id)).map((p) => p.id);
    const key = clashing.join(',');
    if (key !== this.#clashes && clashing.length) {
      this.#log.warn({ ids: clashing }, 'assigned probes share an id with probes of the config; the config ones run');
    }
    this.#clashes = key;
    return [...own, ...this.#list.filter((p) => !ids.has(p.id))];
  }
}
