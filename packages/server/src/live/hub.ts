import type { Sample } from '@falconet/protocol';
import type { Agent, LiveServerMessage, TaskLiveMessage } from '@falconet/protocol/api';
import { apiLine } from '../logs/lines.ts';
import type { LogFilter } from '../logs/query.ts';
import { TailBuffer } from '../logs/tail.ts';
import type { StoredLogLine } from '../logs/types.ts';
import { maskedForViewer } from '../tasks/messages.ts';

/** Messages the server pushes to browsers over /api/live (an `error` answers a client message it cannot read). */
export type LiveMessage = Exclude<LiveServerMessage, { type: 'error' }>;

export interface LiveSubscriber {
  send(msg: LiveMessage): void;
  /** Agents whose every sample this subscriber wants; agent status goes to all. */
  readonly agents: Set<string>;
  /** Tasks whose runs and output this subscriber wants ("*" for all). */
  readonly tasks?: Set<string>;
  /** Whether task environment values reach this subscriber (operators and admins); masked otherwise. */
  readonly seesTaskEnv?: boolean;
  /** The query of this subscriber's live log tail, when it asked for one (`logs_tail`). */
  readonly logTail?: LogTail;
}

export interface LogTail {
  filter?: LogFilter | undefined;
  /** While a resumed tail's catch-up is read from the store, its new lines wait here (then follow it). */
  hold?: StoredLogLine[] | undefined;
}

/** Where the hub also sends what happens on this server: the other nodes of a cluster (cluster/live.ts). */
export interface LiveRelay {
  samples(agentId: string, samples: readonly Sample[]): void;
  task(msg: TaskLiveMessage, taskId?: string): void;
  agentChanged(agent: Agent): void;
  agentRemoved(agentId: string): void;
}

/** Fans out what the server ingests to the browsers watching, and to a relay to other nodes when there is one. */
export class LiveHub {
  readonly #subs = new Set<LiveSubscriber>();
  /** Recent lines in the order stored, for tails that resume after their socket dropped. */
  readonly tail = new TailBuffer();
  relay: LiveRelay | undefined;

  add(sub: LiveSubscriber): () => void {
    this.#subs.add(sub);
    return () => this.#subs.delete(sub);
  }

  get size(): number {
    return this.#subs.size;
  }

  agentChanged(agent: Agent): void {
    this.deliverAgent(agent);
    this.relay?.agentChanged(agent);
  }

  agentRemoved(agentId: string): void {
    this.deliverAgentRemoved(agentId);
    this.relay?.agentRemoved(agentId);
  }

  /** An agent's change to this server's browsers only (one that came from another node). */
  deliverAgent(agent: Agent): void {
    const msg: LiveMessage = { type: 'agent', agent };
    for (const s of this.#subs) s.send(msg);
  }

  deliverAgentRemoved(agentId: string): void {
    const msg: LiveMessage = { type: 'agent_removed', agentId };
    for (const s of this.#subs) s.send(msg);
  }

  /** The agents some browser of this server watches. */
  watched(): Set<string> {
    const out = new Set<string>();
    for (const s of this.#subs) for (const a of s.agents) out.add(a);
    return out;
  }

  /** A task message: to every client, or with `taskId` only to those subscribed to that task. */
  task(msg: TaskLiveMessage, taskId?: string): void {
    this.deliverTask(msg, taskId);
    this.relay?.task(msg, taskId);
  }

  /** A task message to this server's browsers only (it came from another node). */
  deliverTask(msg: TaskLiveMessage, taskId?: string): void {
    let masked: TaskLiveMessage | undefined;
    for (const s of this.#subs) {
      if (taskId !== undefined && !s.tasks?.has(taskId) && !s.tasks?.has('*')) continue;
      if (s.seesTaskEnv) s.send(msg);
      else {
        masked ??= maskedForViewer(msg);
        s.send(masked);
      }
    }
  }

  samples(agentId: string, samples: readonly Sample[]): void {
    this.deliverSamples(agentId, samples);
    this.relay?.samples(agentId, samples);
  }

  /** Samples to this server's browsers only (they came from another node). */
  deliverSamples(agentId: string, samples: readonly Sample[]): void {
    let msg: LiveMessage | undefined;
    for (const s of this.#subs) {
      if (!s.agents.has(agentId)) continue;
      msg ??= {
        type: 'samples',
        agentId,
        timestampMs: samples[0]?.timestampMs ?? Date.now(),
        samples: samples.map((x) => ({ name: x.name, labels: x.labels, value: x.value, timestampMs: x.timestampMs })),
      };
      s.send(msg);
    }
  }

  /** Freshly stored log lines: to each subscriber tailing logs, those matching its query. */
  logs(lines: readonly StoredLogLine[]): void {
    this.tail.add(lines);
    for (const s of this.#subs) {
      const filter = s.logTail?.filter;
      if (!filter) continue;
      const matching = lines.filter((l) => filter.matches(l));
      if (matching.length === 0) continue;
      if (s.logTail?.hold) s.logTail.hold.push(...matching);
      else s.send(this.logsMessage(matching));
    }
  }

  /** A `logs` message, with the position a client sends back to resume after it. */
  logsMessage(lines: readonly StoredLogLine[], position?: string): LiveMessage {
    let newest = 0;
    for (const l of lines) newest = Math.max(newest, l.record.timeMs);
    return { type: 'logs', lines: lines.map(apiLine), position: position ?? this.tail.position(newest) };
  }
}
