import type { pb } from '@falconet/protocol';

/** Writes a message on one agent's open stream; false when the stream is gone. */
export type StreamSend = (msg: pb.ServerMessage) => boolean;

/** What the agent channel (ingest/channel.ts) calls into for tasks. */
export interface TaskChannelHooks {
  /** The task-signing public key, sent in Registered. */
  readonly publicKey: Buffer;
  /** A stream for `agentId` registered; returns the function to call when it closes. */
  attach(agentId: string, send: StreamSend): () => void;
  /** Task output arrived on a stream; `reply` acknowledges it on that same stream. */
  output(agentId: string, out: pb.TaskOutput, reply: StreamSend): Promise<void>;
}

/**
 * The agent streams open on this server instance, by agent id, so a task can be written down the
 * right one. The newest stream wins when a reconnect briefly overlaps the old one.
 */
export class AgentStreams {
  readonly #streams = new Map<string, StreamSend>();

  attach(agentId: string, send: StreamSend): () => void {
    this.#streams.set(agentId, send);
    return () => {
      if (this.#streams.get(agentId) === send) this.#streams.delete(agentId);
    };
  }

  has(agentId: string): boolean {
    return this.#streams.has(agentId);
  }

  send(agentId: string, msg: pb.ServerMessage): boolean {
    const send = this.#streams.get(agentId);
    return send ? send(msg) : false;
  }

  get size(): number {
    return this.#streams.size;
  }
}
