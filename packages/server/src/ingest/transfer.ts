import { createServer, type Server, type Socket } from 'node:net';
import type { Sample } from '@falconet/protocol';
import type { Logger } from 'pino';
import { ApiError } from '../api/errors.ts';
import type { IngestCounters, RejectReason } from './counters.ts';
import { PushError, type PushWriter, pushedSample } from './push.ts';
import type { TransferAuth } from './push-auth.ts';
import type { PushLimits, PushSender } from './push-limits.ts';

export interface TransferListenerOptions {
  host: string;
  port: number;
  writer: PushWriter;
  counters: IngestCounters;
  limits: PushLimits;
  log: Logger;
  maxLineBytes: number;
  maxClockSkewMs: number;
  /** Every sender must open with a token line (always so beyond loopback). */
  requireToken: boolean;
  /** Checks token lines; without it a token line is refused. */
  auth?: TransferAuth | undefined;
  /** A sender that must present a token has this long to send it. */
  authTimeoutMs?: number;
  /** Samples gathered from one connection before they are stored (and the connection waits). */
  batchSamples?: number;
  /** A partial batch is stored after this long. */
  flushMs?: number;
  maxConnections?: number;
  /** A connection silent this long is closed. */
  idleMs?: number;
  now?: () => number;
}

/** Refusals of an authenticated sender that the audit log records (bad lines are only counted). */
const AUDITED_CAPS = new Set<RejectReason>(['too_many_series', 'too_many_hosts', 'too_many_labels', 'label_too_long', 'rate_limited']);

/** A refusal of this kind from this address is audited at most this often; the rest are counted. */
const AUDIT_EVERY_MS = 60_000;

/** `{"token":"fnt_..."}`: the first line of a sender that authenticates. */
function tokenLine(text: string): string | undefined {
  if (!text.startsWith('{') || !text.includes('"token"')) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      Object.keys(v).length === 1 &&
      typeof (v as { token: unknown }).token === 'string'
    ) {
      return (v as { token: string }).token;
    }
  } catch {
    // not JSON: the record parser says so
  }
  return undefined;
}

/**
 * Open-Falcon's push over TCP: one JSON record per line (a JSON array of records on a line is taken
 * too). Good lines are stored in batches; a bad line is answered with `{"error": "..."}` on the same
 * connection, counted, and skipped, and the connection goes on. While a batch is being stored the
 * connection is not read, so a fast sender is slowed rather than buffered without bound.
 *
 * A sender may open with `{"token":"fnt_..."}` (an API token with the operator role); where a token
 * is required, a connection without one is answered, counted, audited and closed. Every record
 * passes the push caps of its sender (the token, else the sender's address).
 */
export class TransferListener {
  readonly #opts: TransferListenerOptions;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #storing = new Set<Promise<void>>();
  readonly #lastAudit = new Map<string, number>();

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

  /** Audits a refusal, once a minute per address and kind at most: anyone on the network can cause them. */
  #audit(actor: string, address: string, action: string, reason: RejectReason, message: string): void {
    const key = `${address}\0${actor}\0${reason}`;
    const now = (this.#opts.now ?? Date.now)();
    if (now - (this.#lastAudit.get(key) ?? -Infinity) < AUDIT_EVERY_MS) return;
    if (this.#lastAudit.size > 10_000) this.#lastAudit.clear();
    this.#lastAudit.set(key, now);
    this.#opts.auth?.audit({
      actor,
      action,
      target: `tcp ${this.#opts.host}:${this.#opts.port}`,
      address,
      outcome: action === 'push.connect' ? 'denied' : 'failed',
      detail: { reason, message },
    });
  }

  #serve(socket: Socket): void {
    const { writer, counters, limits, log, maxLineBytes, maxClockSkewMs } = this.#opts;
    const now = this.#opts.now ?? Date.now;
    const batchSamples = this.#opts.batchSamples ?? 5_000;
    const address = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const peer = `${address}:${socket.remotePort}`;
    this.#sockets.add(socket);
    counters.transferConnections++;
    socket.setTimeout(this.#opts.idleMs ?? 120_000, () => {
      counters.cut('tcp', 'idle_timeout');
      log.info({ peer }, 'transfer connection idle too long; closed');
      socket.destroy();
    });
    let sender: PushSender | undefined = this.#opts.requireToken ? undefined : { key: `addr:${address}`, name: `sender ${address}` };
    let authTimer: NodeJS.Timeout | undefined;
    if (!sender) {
      authTimer = setTimeout(() => {
        counters.reject('tcp', 'timeout');
        counters.cut('tcp', 'auth_timeout');
        log.info({ peer }, 'transfer connection sent no token in time; closed');
        socket.destroy();
      }, this.#opts.authTimeoutMs ?? 10_000);
    }
    let firstLine = true;
    let closing = false;
    let ended = false;
    let partial = '';
    let skipping = false;
    let lineNo = 0;
    /** Text that came after a token line while the token is checked. */
    let held = '';
    let checking = false;
    let batch = new Map<string, Sample[]>();
    let batched = 0;
    let flushTimer: NodeJS.Timeout | undefined;
    let storing: Promise<void> = Promise.resolve();
    const refusedOnce = new Set<RejectReason>();

    const reply = (message: string) => {
      // Never queue unbounded replies to a sender that does not read them.
      if (!socket.destroyed && socket.writableLength < 64 * 1024) socket.write(`${JSON.stringify({ error: message })}\n`);
    };

    const answer = (reason: RejectReason, message: string) => {
      counters.reject('tcp', reason);
      log.debug({ peer, reason, message }, 'transfer line refused');
      reply(message);
      // Cap refusals are audited once per connection and kind, against the sender.
      if (sender && AUDITED_CAPS.has(reason) && !refusedOnce.has(reason)) {
        refusedOnce.add(reason);
        this.#audit(sender.name, address, 'push.refused', reason, message);
      }
    };

    /** Refuses the whole connection: answered, counted, logged, audited, closed. */
    const refuse = (reason: RejectReason, actor: string, message: string) => {
      closing = true;
      clearTimeout(authTimer);
      counters.reject('tcp', reason);
      log.info({ peer, reason, message }, 'transfer connection refused');
      this.#audit(actor, address, 'push.connect', reason, message);
      reply(message);
      socket.end();
      // A sender that neither reads nor closes is not waited for.
      setTimeout(() => socket.destroy(), 1000).unref();
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
          // A full store is said once by the store itself; the sender hears why.
          const full = err instanceof ApiError && err.code === 'store_full';
          if (!full) log.error({ err, peer }, 'could not store transfer lines');
          const error = full ? err.message : 'the server could not store these lines';
          if (!socket.destroyed) socket.write(`${JSON.stringify({ error })}\n`);
        });
      storing = run;
      this.#storing.add(run);
      void run.then(() => this.#storing.delete(run));
      return run;
    };

    const take = (record: unknown, where: string) => {
      try {
        const pushed = pushedSample(record, where, undefined, now(), maxClockSkewMs);
        limits.checkShape(pushed.sample, where);
        limits.admit(sender as PushSender, [pushed], where);
        const list = batch.get(pushed.host);
        if (list) list.push(pushed.sample);
        else batch.set(pushed.host, [pushed.sample]);
        batched++;
      } catch (err) {
        if (err instanceof PushError) answer(err.reason, err.message);
        else throw err;
      }
    };

    const authenticate = (token: string) => {
      const auth = this.#opts.auth;
      if (!auth) {
        refuse('token_invalid', 'anonymous', 'this listener takes no tokens');
        return;
      }
      checking = true;
      socket.pause();
      auth.verify(token, socket).then(
        (check) => {
          checking = false;
          if (socket.destroyed) return;
          if (!check.ok) {
            refuse(check.reason, check.actor, `line ${lineNo}: ${check.message}`);
            return;
          }
          clearTimeout(authTimer);
          sender = check.sender;
          log.debug({ peer, sender: sender.name }, 'transfer sender authenticated');
          const rest = held;
          held = '';
          feed(rest);
          if (ended) {
            // The sender finished while its token was checked: its last line may lack a newline.
            if (partial && !skipping && !closing && !checking) line(partial);
            partial = '';
            void flush();
          } else if (!closing) socket.resume();
        },
        (err: unknown) => {
          log.error({ err, peer }, 'could not check a transfer token');
          socket.destroy();
        },
      );
    };

    /** One line; false when the lines after it must wait (a token being checked) or be dropped. */
    const line = (text: string): boolean => {
      lineNo++;
      const t = text.trim();
      if (t === '') return true;
      if (firstLine) {
        firstLine = false;
        const token = tokenLine(t);
        if (token !== undefined) {
          authenticate(token);
          return !checking && !closing;
        }
        if (!sender) {
          refuse(
            'token_missing',
            'anonymous',
            `line ${lineNo}: this listener needs a token: send {"token":"fnt_..."} (an API token with the operator role, from falconet-server create-token --api) as the first line`,
          );
          return false;
        }
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(t);
      } catch (err) {
        answer('malformed', `line ${lineNo}: not JSON (${(err as Error).message})`);
        return true;
      }
      if (!Array.isArray(parsed)) take(parsed, `line ${lineNo}`);
      else for (let i = 0; i < parsed.length; i++) take(parsed[i], `line ${lineNo} record ${i}`);
      return true;
    };

    const feed = (chunk: string) => {
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
          firstLine = false;
          if (!sender) {
            refuse('too_large', 'anonymous', `line ${lineNo}: longer than ${maxLineBytes} bytes before a token`);
            return;
          }
          answer('too_large', `line ${lineNo}: longer than ${maxLineBytes} bytes; skipped`);
          continue;
        }
        if (!line(text)) {
          if (checking) held = chunk.slice(start);
          return;
        }
      }
      if (!skipping) {
        partial += chunk.slice(start);
        if (Buffer.byteLength(partial) > maxLineBytes) {
          lineNo++;
          firstLine = false;
          if (!sender) {
            refuse('too_large', 'anonymous', `line ${lineNo}: longer than ${maxLineBytes} bytes before a token`);
            return;
          }
          answer('too_large', `line ${lineNo}: longer than ${maxLineBytes} bytes; skipped`);
          skipping = true;
          partial = '';
        }
      }
      if (batched >= batchSamples) {
        socket.pause();
        void flush().then(() => {
          if (!socket.destroyed && !checking) socket.resume();
        });
      } else if (batched > 0 && !flushTimer) {
        flushTimer = setTimeout(() => void flush(), this.#opts.flushMs ?? 200);
      }
    };

    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (closing) return;
      if (checking) held += chunk;
      else feed(chunk);
    });
    socket.on('end', () => {
      ended = true;
      if (partial && !skipping && !closing && !checking) line(partial);
      partial = '';
      void flush().then(() => socket.end());
    });
    socket.on('error', (err) => log.debug({ peer, err: err.message }, 'transfer connection error'));
    socket.on('close', () => {
      clearTimeout(authTimer);
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
