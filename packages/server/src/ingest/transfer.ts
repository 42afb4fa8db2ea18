import { createServer, type Server, type Socket } from 'node:net';
import type { Sample } from '@falconet/protocol';
import type { Logger } from 'pino';
import type { IngestCounters, RejectReason } from './counters.ts';
import { PushError, type PushWriter, pushedSample } from './push.ts';

export interface TransferListenerOptions {
  host: string;
  port: number;
  writer: PushWriter;
  counters: IngestCounters;
  log: Logger;
  maxLineBytes: number;
  maxClockSkewMs: number;
  /** Samples gathered from one connection before they are stored (and the connection waits). */
  batchSamples?: number;
  /** A partial batch is stored after this long. */
  flushMs?: number;
  maxConnections?: number;
  /** A connection silent this long is closed. */
  idleMs?: number;
  now?: () => number;
}

/**
 * Open-Falcon's push over TCP: one JSON record per line (a JSON array of records on a line is taken
 * too). Good lines are stored in batches; a bad line is answered with `{"error": "..."}` on the same
 * connection, counted, and skipped, and the connection goes on. While a batch is being stored the
 * connection is not read, so a fast sender is slowed rather than buffered without bound.
 */
export class TransferListener {
  readonly #opts: TransferListenerOptions;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #storing = new Set<Promise<void>>();

  constructor(opts: TransferListenerOptions) {
    this.#opts = opts;
  }

  async listen(): Promise<number> {
    const server = createServer((socket) => this.#serve(socket));
    server.maxConnections = this.#opts.maxConnections ?? 1024;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    return (server.address() as { port: number }).port;
  }

  #serve(socket: Socket): void {
    const { writer, counters, log, maxLineBytes, maxClockSkewMs } = this.#opts;
    const now = this.#opts.now ?? Date.now;
    const batchSamples = this.#opts.batchSamples ?? 5_000;
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#sockets.add(socket);
    counters.transferConnections++;
    socket.setTimeout(this.#opts.idleMs ?? 600_000, () => socket.destroy());
    let partial = '';
    let skipping = false;
    let lineNo = 0;
    let batch = new Map<string, Sample[]>();
    let batched = 0;
    let flushTimer: NodeJS.Timeout | undefined;
    let storing: Promise<void> = Promise.resolve();

    const answer = (reason: RejectReason, message: string) => {
      counters.reject('tcp', reason);
      log.debug({ peer, reason, message }, 'transfer line refused');
      // Never queue unbounded replies to a sender that does not read them.
      if (!socket.destroyed && socket.writableLength < 64 * 1024) socket.write(`${JSON.stringify({ error: message })}\n`);
    };

    const flush = (): Promise<void> => {
      clearTimeout(flushTimer);
      flushTimer = undefined;
      if (batched === 0) return storing;
      const taken = batch;
      batch = new Map();
      batched = 0;
      const run = storing
        .then(() => writer.write('tcp', taken))
        .catch((err: unknown) => {
          log.error({ err, peer }, 'could not store transfer lines');
          if (!socket.destroyed) socket.write(`${JSON.stringify({ error: 'the server could not store these lines' })}\n`);
        });
      storing = run;
      this.#storing.add(run);
      void run.then(() => this.#storing.delete(run));
      return run;
    };

    const take = (record: unknown, where: string) => {
      try {
        const { host, sample } = pushedSample(record, where, undefined, now(), maxClockSkewMs);
        const list = batch.get(host);
        if (list) list.push(sample);
        else batch.set(host, [sample]);
        batched++;
      } catch (err) {
        if (err instanceof PushError) answer(err.reason, err.message);
        else throw err;
      }
    };

    const line = (text: string) => {
      lineNo++;
      const t = text.trim();
      if (t === '') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch (err) {
        answer('malformed', `line ${lineNo}: not JSON (${(err as Error).message})`);
        return;
      }
      if (!Array.isArray(parsed)) take(parsed, `line ${lineNo}`);
      else for (let i = 0; i < parsed.length; i++) take(parsed[i], `line ${lineNo} record ${i}`);
    };

    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      let start = 0;
      for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
        const piece = chunk.slice(start, nl);
        start = nl + 1;
        if (skipping) {
          skipping = false;
          partial = '';
          continue;
        }
        const text = partial + piece;
        partial = '';
        if (text.length > maxLineBytes / 4 && Buffer.byteLength(text) > maxLineBytes) {
          lineNo++;
          answer('too_large', `line ${lineNo}: longer than ${maxLineBytes} bytes; skipped`);
          continue;
        }
        line(text);
      }
      if (!skipping) {
        partial += chunk.slice(start);
        if (Buffer.byteLength(partial) > maxLineBytes) {
          lineNo++;
          answer('too_large', `line ${lineNo}: longer than ${maxLineBytes} bytes; skipped`);
          skipping = true;
          partial = '';
        }
      }
      if (batched >= batchSamples) {
        socket.pause();
        void flush().then(() => {
          if (!socket.destroyed) socket.resume();
        });
      } else if (batched > 0 && !flushTimer) {
        flushTimer = setTimeout(() => void flush(), this.#opts.flushMs ?? 200);
      }
    });
    socket.on('end', () => {
      if (partial && !skipping) line(partial);
      partial = '';
      void flush().then(() => socket.end());
    });
    socket.on('error', (err) => log.debug({ peer, err: err.message }, 'transfer connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      counters.transferConnections--;
      void flush();
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Lines already received are stored before the store closes.
    await Promise.all([...this.#storing]);
  }
}
