import type { pb } from '@falconet/protocol';

/** Writes a message on one agent's open stream; false when the stream is gone. */
export type StreamSend = (msg: pb.ServerMessage) => boolean;

/** What the agent channel (ingest/channel.ts) calls into for tasks. */
export interface TaskChannelHooks {
  /** The task-signing public key, sent in Registered. */
  readonly publicKey: Buffer;
  /** A stream for `agentId` registered; returns the function to call when it closes. */
  attach(agentId: string, send: StreamSend): () => void;
  /** Task output arrived on a stream; `reply` acknowledges it on that same stream. Resolves with why it was refused, if it was. */
  output(agentId: string, out: pb.TaskOutput, reply: StreamSend): Promise<string | undefined>;
}

/**
 * The agent streams open on this server instance, by agent id, so a task can be written down the
 * right one. The newest stream wins while a reconnect briefly overlaps the old one; when the
 * newest closes first (an abandoned attempt that registered late), the one still open takes over.
 */
export class AgentStreams {
  readonly #streams = new Map<string, StreamSend[]>();

  attach(agentId: string, send: StreamSend): () => void {
    const open = this.#streams.get(agentId) ?? [];
    open.push(send);
    this.#streams.set(agentId, open);
    return () => {
      const still = this.#streams.get(agentId);
      if (!still) return;
      const i = still.indexOf(send);
      if (i >= 0) still.splice(i, 1);
      if (still.length === 0) this.#streams.delete(agentId);
    };
  }

  has(agentId: string): boolean {
    return this.#streams.has(agentId);
  }

  send(agentId: string, msg: pb.ServerMessage): boolean {
    const open = this.#streams.get(agentId);
    return open ? (open.at(-1) as StreamSend)(msg) : false;
  }

  get size(): number {
    return this.#streams.size;
  }
}
