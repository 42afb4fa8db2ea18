/**
 * Sends each connected agent the probes of the monitors that choose it (ProbeAssignment), when it
 * registers (unless there are none) and whenever that set changes, to empty included. Only the
 * agent's own stream hears its assignment.
 */
import type { pb } from '@falconet/protocol';

export type SendDown = (m: pb.ServerMessage) => boolean;

/** What the agent channel calls for each stream once it is registered (ingest/channel.ts). */
export interface MonitorChannelHooks {
  /** Sends the agent its assignment now; returns what to call when the stream ends. */
  attach(agentId: string, send: SendDown): () => void;
}

interface Attached {
  send: SendDown;
  /** The probes JSON last sent on this stream, so an unchanged set is not sent again. */
  sent: string | undefined;
}

/** How long a change waits for more before the agents' sets are sent. */
const REFRESH_DEBOUNCE_MS = 100;

export class AssignmentSender implements MonitorChannelHooks {
  readonly #streams = new Map<string, Set<Attached>>();
  readonly #probesFor: (agentId: string) => unknown[];
  readonly #now: () => number;
  #version = 0;
  readonly #dirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** Assignments sent, for /metrics and tests. */
  sent = 0;

  constructor(probesFor: (agentId: string) => unknown[], now: () => number = Date.now) {
    this.#probesFor = probesFor;
    this.#now = now;
  }

  /** Versions rise across restarts too (they start from the clock), so an agent never takes a new set for an old one. */
  #nextVersion(): number {
    this.#version = Math.max(this.#version + 1, this.#now());
    return this.#version;
  }

  attach(agentId: string, send: SendDown): () => void {
    const a: Attached = { send, sent: undefined };
    let set = this.#streams.get(agentId);
    if (!set) {
      set = new Set();
      this.#streams.set(agentId, set);
    }
    set.add(a);
    const json = JSON.stringify(this.#probesFor(agentId));
    // An empty set is not sent: an agent that hears no assignment on a new stream drops the probes
    // it was assigned before (probes/assigned.ts), and most streams (every agent no monitor
    // chooses) need no message at all.
    if (json === '[]') a.sent = json;
    else this.#push(agentId, a, json);
    return () => {
      const s = this.#streams.get(agentId);
      s?.delete(a);
      if (s?.size === 0) this.#streams.delete(agentId);
    };
  }

  get connected(): IterableIterator<string> {
    return this.#streams.keys();
  }

  /**
   * Recomputes the agent's set and sends it on each of its streams where it changed, soon: a burst
   * of changes (a script making a thousand monitors for one region) sends each agent one set, not
   * a thousand growing ones.
   */
  refresh(agentId: string): void {
    if (!this.#streams.has(agentId)) return;
    this.#dirty.add(agentId);
    this.#timer ??= setTimeout(() => this.flush(), REFRESH_DEBOUNCE_MS);
  }

  /** Sends what the refreshes since the last flush changed, now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const agents = [...this.#dirty];
    this.#dirty.clear();
    for (const agentId of agents) {
      const set = this.#streams.get(agentId);
      if (!set) continue;
      const json = JSON.stringify(this.#probesFor(agentId));
      for (const a of set) if (a.sent !== json) this.#push(agentId, a, json);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dirty.clear();
  }

  #push(_agentId: string, a: Attached, json: string): void {
    const ok = a.send({ body: { $case: 'probeAssignment', value: { version: this.#nextVersion(), probesJson: json } } });
    if (ok) {
      a.sent = json;
      this.sent++;
    }
  }
}
