import { connect, type Socket } from 'node:net';
import { type Sample, toOpenFalcon } from '@falconet/protocol';
import type { Logger } from 'pino';
import { Backoff } from '../transport/backoff.ts';

/** Where each report's samples go besides the server stream. */
export interface SampleOutput {
  write(samples: readonly Sample[]): void;
  stop(): Promise<void>;
}

export interface TransferOptions {
  host: string;
  port: number;
  /** Open-Falcon's endpoint: the host the samples belong to. */
  endpoint: string;
  /** The report interval in seconds, sent as each record's step. */
  stepSeconds: number;
  log: Logger;
  flushIntervalMs?: number;
  /** Lines kept while the sink is away; the oldest go first past this. */
  maxBufferedLines?: number;
}

export interface TransferStats {
  connected: boolean;
  bufferedLines: number;
  sentLines: number;
  droppedLines: number;
  reconnects: number;
}

/**
 * The `--transfer HOST:PORT` output: every sample as one Open-Falcon JSON line, buffered and written
 * every 5 s to a TCP sink (Open-Falcon's transfer, falconet-server's port 6000, or `nc -l`),
 * redialling with backoff from 0.1 s to 30 s. The sink acknowledges nothing, so a batch that fails
 * to leave is put back and written again: a line may arrive twice, never silently vanish while
 * the buffer has room.
 */
export class TransferOutput implements SampleOutput {
  readonly #opts: TransferOptions;
  readonly #backoff = new Backoff(100, 30_000);
  readonly #max: number;
  #lines: string[] = [];
  #socket: Socket | undefined;
  #connected = false;
  #writing: Promise<void> | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #failing = false;
  readonly #stats = { sentLines: 0, droppedLines: 0, reconnects: 0 };

  constructor(opts: TransferOptions) {
    this.#opts = opts;
    this.#max = opts.maxBufferedLines ?? 100_000;
  }

  get #target(): string {
    return `${this.#opts.host}:${this.#opts.port}`;
  }

  get stats(): TransferStats {
    return { connected: this.#connected, bufferedLines: this.#lines.length, ...this.#stats };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
    this.#flushTimer = setInterval(() => void this.flush(), this.#opts.flushIntervalMs ?? 5_000);
    this.#flushTimer.unref?.();
  }

  write(samples: readonly Sample[]): void {
    const { endpoint, stepSeconds } = this.#opts;
    for (const s of samples) {
      if (!Number.isFinite(s.value)) continue; // Open-Falcon values are JSON numbers: no NaN or Inf
      this.#lines.push(JSON.stringify(toOpenFalcon(s, endpoint, stepSeconds)));
    }
    const over = this.#lines.length - this.#max;
    if (over > 0) {
      this.#lines.splice(0, over);
      this.#stats.droppedLines += over;
      this.#opts.log.warn({ sink: this.#target, dropped: over }, 'transfer buffer full: dropped the oldest lines');
    }
  }

  /** Writes everything buffered, if the sink is connected; resolves when the kernel has it. */
  flush(): Promise<void> {
    if (this.#writing) return this.#writing;
    const socket = this.#socket;
    if (!socket || !this.#connected || this.#lines.length === 0) return Promise.resolve();
    const batch = this.#lines;
    this.#lines = [];
    this.#writing = new Promise<void>((resolve) => {
      socket.write(`${batch.join('\n')}\n`, (err) => {
        if (err) {
          // Back in front of anything newer, so the sink still sees lines in order.
          this.#lines = batch.concat(this.#lines);
          const over = this.#lines.length - this.#max;
          if (over > 0) {
            this.#lines.splice(0, over);
            this.#stats.droppedLines += over;
          }
        } else {
          this.#stats.sentLines += batch.length;
        }
        this.#writing = undefined;
        resolve();
      });
    });
    return this.#writing;
  }

  #connect(): void {
    if (this.#stopped) return;
    const { host, port, log } = this.#opts;
    const socket = connect({ host, port });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // The sink may answer (falconet-server reports bad lines); nothing here needs it.
    socket.resume();
    socket.once('connect', () => {
      this.#connected = true;
      this.#failing = false;
      this.#backoff.reset();
      log.info({ sink: this.#target }, 'transfer sink connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!this.#failing) log.warn({ sink: this.#target, err: err.code ?? err.message }, 'transfer sink unreachable');
      this.#failing = true;
    });
    socket.once('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#connected = false;
      if (this.#stopped) return;
      const delay = this.#backoff.next();
      this.#stats.reconnects++;
      log.debug({ sink: this.#target, retryInMs: delay }, 'transfer sink closed, redialling');
      this.#retryTimer = setTimeout(() => this.#connect(), delay);
      this.#retryTimer.unref?.();
    });
  }

  /** A last flush (bounded by `timeoutMs`), then the socket is closed. */
  async stop(timeoutMs = 2_000): Promise<void> {
    if (this.#stopped) return;
    await Promise.race([this.flush(), new Promise((r) => setTimeout(r, timeoutMs).unref?.())]);
    this.#stopped = true;
    clearInterval(this.#flushTimer);
    clearTimeout(this.#retryTimer);
    const socket = this.#socket;
    this.#socket = undefined;
    this.#connected = false;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => socket.destroy(), 1_000);
      socket.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      socket.end();
    });
  }
}
