/**
 * Sends each connected agent the probes of the monitors that choose it (ProbeAssignment), when it
 * registers and whenever that set changes. Only the agent's own stream hears its assignment.
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

export class AssignmentSender implements MonitorChannelHooks {
  readonly #streams = new Map<string, Set<Attached>>();
  readonly #probesFor: (agentId: string) => unknown[];
  readonly #now: () => number;
  #version = 0;
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
    // Sent even when empty: the agent may hold probes from before the server restarted.
    this.#push(agentId, a, JSON.stringify(this.#probesFor(agentId)));
    return () => {
      const s = this.#streams.get(agentId);
      s?.delete(a);
      if (s?.size === 0) this.#streams.delete(agentId);
    };
  }

  get connected(): IterableIterator<string> {
    return this.#streams.keys();
  }

  /** Recomputes the agent's set and sends it on each of its streams where it changed. */
  refresh(agentId: string): void {
    const set = this.#streams.get(agentId);
    if (!set) return;
    const json = JSON.stringify(this.#probesFor(agentId));
    for (const a of set) if (a.sent !== json) this.#push(agentId, a, json);
  }

  #push(_agentId: string, a: Attached, json: string): void {
    const ok = a.send({ body: { $case: 'probeAssignment', value: { version: this.#nextVersion(), probesJson: json } } });
    if (ok) {
      a.sent = json;
      this.sent++;
    }
  }
}
