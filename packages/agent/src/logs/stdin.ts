import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { PipeLines, PipeQueue } from './pipe.ts';
import type { SourceRuntime } from './source.ts';

/**
 * A `stdin` source: the agent's own standard input (`some-command | falconet-agent run ...`), line
 * by line. At its end the source is done and the agent goes on with everything else.
 */
export class StdinSource {
  readonly source: SourceRuntime;
  readonly queue: PipeQueue;
  ended = false;
  readonly #input: Readable;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(source: SourceRuntime, input: Readable, log: Logger, onData: () => void, now: () => number = Date.now) {
    this.source = source;
    this.queue = new PipeQueue(source, onData);
    this.#input = input;
    this.#log = log;
    this.#now = now;
  }

  start(): void {
    void this.queue.attach(this.#input, new PipeLines(this.source, 'stdin', {}), this.#now).then(() => {
      this.ended = true;
      this.#log.info({ source: this.source.cfg.name }, 'standard input ended; the stdin log source is done, the agent goes on');
    });
  }

  /** Stops reading; what was read and held back (a last line without newline) joins the queue. */
  stop(): void {
    this.queue.detachAll(this.#now());
  }
}
