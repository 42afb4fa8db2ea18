import { gzipSync } from 'node:zlib';
import {
  AgentChannelClient,
  CompactEncoder,
  decodePayload,
  derivePayloadKey,
  encodePayload,
  PayloadEncoding,
  PayloadKind,
  type pb,
  reportAad,
  type Sample,
  seal,
} from '@falconet/protocol';
import { type ClientDuplexStream, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { BrokenCircuitError, type CircuitBreakerPolicy, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { Logger } from 'pino';
import { buildInfo } from '../build-info.ts';
import type { ServerAddress } from '../config.ts';
import type { AgentIdentity } from '../identity.ts';
import { type BacklogReader, MemoryBacklog, type ReportBacklog, type SpooledReport } from './backlog.ts';
import { Backoff } from './backoff.ts';
import { cleanReason, connectionHint, seconds } from './diagnose.ts';
import { EncodedLogBatch, LogBatchWriter } from './log-batch.ts';
import { rankServers, targetOf } from './rendezvous.ts';
import type { SequenceSource } from './sequence.ts';
import { channelSecurity, TlsConfigError, type TlsSettings, tlsEnabled } from './tls.ts';

export interface ReportStreamOptions {
  address: ServerAddress;
  /**
   * Several servers of one cluster (address among them): the agent ranks them by rendezvous
   * hashing of its id, dials the first, and moves down the ranking when one fails (docs/scale.md).
   */
  addresses?: ServerAddress[];
  /** Connected to a server other than its first, the agent tries its first again after this long (default 5 min). */
  returnHomeMs?: number;
  identity: AgentIdentity;
  labels: Record<string, string>;
  token: string;
  intervalMs: number;
  log: Logger;
  sequence: SequenceSource;
  /** Where reports wait for their ack: the agent's Spool; a bounded memory backlog when absent. */
  backlog?: ReportBacklog;
  /** Size of the memory backlog used when no backlog is given. */
  maxQueuedReports?: number;
  /** gzip report payloads (default true). */
  gzip?: boolean;
  /**
   * Send samples in the compact encoding when the server takes it (default true): each series'
   * name and labels once per stream, then its id and the change of its value (docs/transport.md).
   */
  compact?: boolean;
  /** Seal payloads with AES-256-GCM under a key derived from the token. */
  encrypt?: boolean;
  tls?: Partial<TlsSettings>;
  /** Reports sent and not yet acknowledged, at most; the rest waits in the backlog. */
  maxInFlight?: number;
  maxInFlightBytes?: number;
  /** Consecutive failed connection attempts that open the circuit. */
  circuitFailures?: number;
  /** How long an open circuit stays open before one attempt may probe the server. */
  circuitOpenMs?: number;
  /** A connection attempt not registered within this is abandoned. */
  registerTimeoutMs?: number;
  /** A connected stream that acknowledges nothing for this long is torn down and redialled. */
  ackTimeoutMs?: number;
  onHint?(intervalMs: number): void;
  /** Called before each connection attempt: the agent reads again what may have changed in its identity (its addresses). */
  refreshIdentity?(): Promise<unknown>;
  onTask?(task: pb.Task): void;
  /** A stream was registered (tasks: pin the server key, resend unacknowledged output). */
  onRegistered?(registered: pb.Registered): void;
  onTaskOutputAck?(ack: pb.TaskOutputAck): void;
  /** What Register says of self-update (release_target, update_blocked), asked at each connection. */
  updateInfo?(): { releaseTarget: string; updateBlocked: string };
  onUpdateOffer?(offer: pb.UpdateOffer): void;
  onUpdateChunk?(chunk: pb.UpdateChunk): void;
  /** The probes of the server's monitors for this agent (probes/assigned.ts). */
  onProbeAssignment?(assignment: pb.ProbeAssignment): void;
  /** After the registration is handled (the updater resends its statuses). */
  onStreamReady?(): void;
  /** Reports up to `seq` are acknowledged. */
  onAck?(seq: number): void;
}

export type StreamState = 'idle' | 'connecting' | 'connected' | 'waiting';

/** What the stream has done, for the agent's /metrics. */
export interface StreamStats {
  reconnects: number;
  /** Reports written to the stream (a report resent after a reconnect counts again). */
  sent: number;
  sentBytes: number;
  acked: number;
  /** Reports the server refused (Ack with an error); they are not resent. */
  rejected: number;
  /** Reports enqueued that could not be spooled (disk full, I/O error). */
  spoolErrors: number;
  inFlight: number;
  connected: boolean;
  circuit: 'closed' | 'open' | 'half-open' | 'isolated';
}

interface InFlight {
  seq: number;
  bytes: number;
}

/** Server refusals that mean "fix the configuration" rather than "try again soon". */
const REFUSALS = new Set([
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.INVALID_ARGUMENT,
  GrpcStatus.FAILED_PRECONDITION,
]);

/** A stream that stayed up this long starts the backoff over even without an acknowledgement (an idle agent). */
const STABLE_STREAM_MS = 30_000;
/** A refused report like the last one logged (numbers aside) is logged again at most this often, with the count between. */
const REFUSAL_LOG_EVERY_MS = 60_000;

/** Reports whose samples are kept for the compact encoding (see #fresh). */
const FRESH_REPORTS = 4;

const DEFAULT_TLS: TlsSettings = { mode: 'auto', caFile: '', fingerprint: '', serverName: '' };

const CIRCUIT_NAMES: Record<CircuitState, StreamStats['circuit']> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * The agent's half of the channel: one bidirectional gRPC stream. Each report is appended to the
 * backlog (durable) before it is sent; after Register the server answers with the last sequence it
 * holds and the stream replays the backlog from there, in order, with a bounded number of reports
 * in flight, so a slow server slows the agent and never fills its memory. A report leaves the
 * backlog only when acknowledged. Lost streams are redialled with backoff (0.1 s to 30 s, jitter)
 * behind a circuit breaker.
 */
export class ReportStream {
  readonly #opts: ReportStreamOptions;
  readonly #backlog: ReportBacklog;
  readonly #backoff = new Backoff(100, 30_000);
  readonly #breaker: CircuitBreakerPolicy;
  readonly #key: Buffer | undefined;
  readonly #maxInFlight: number;
  readonly #maxInFlightBytes: number;
  #client: AgentChannelClient | undefined;
  #call: ClientDuplexStream<pb.AgentMessage, pb.ServerMessage> | undefined;
  #reader: BacklogReader | undefined;
  #inFlight: InFlight[] = [];
  #inFlightBytes = 0;
  #state: StreamState = 'idle';
  #retryTimer: NodeJS.Timeout | undefined;
  /** Which server of the ranking is dialled (0: the agent's first). */
  #rank = 0;
  #ranking: { key: string; order: ServerAddress[] } | undefined;
  /** On a fallback server: when to try the first one again. */
  #homeTimer: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #pumping = false;
  #pumpAgain = false;
  #blocked = false;
  #drainWaiters: (() => void)[] = [];
  #skewWarned = false;
  #circuitOpenedAt = 0;
  /** Failed attempts since the stream last registered: the retry lines count them. */
  #failures = 0;
  /** When the current stream registered (0: none). The backoff starts over only once a stream proved itself. */
  #registeredAt = 0;
  /** The server's last "cannot store reports now" reason, without its figures: logged once per change. */
  #storeFull: string | undefined;
  /** The last refused report logged: its error with numbers blanked, when, and how many like it since. */
  #lastRefusal = { gist: '', atMs: Number.NEGATIVE_INFINITY, unlogged: 0 };
  /** Reports numbered but not yet durable in the backlog. */
  #enqueuing = 0;
  /** The seq of the last report written on the current stream. */
  #lastSentSeq = 0;
  #enqueueChain: Promise<unknown> = Promise.resolve();
  /** The compact encoding's table of the current stream, when the server agreed to it at Register. */
  #compact: CompactEncoder | undefined;
  /**
   * The samples of the last few reports spooled, by seq, so the compact encoding of a report sent
   * as soon as it is spooled starts from them instead of decoding the spooled payload again.
   */
  readonly #fresh = new Map<number, readonly Sample[]>();
  readonly #stats = { reconnects: 0, sent: 0, sentBytes: 0, acked: 0, rejected: 0, spoolErrors: 0 };
  readonly #logWriter = new LogBatchWriter();

  constructor(opts: ReportStreamOptions) {
    this.#opts = opts;
    this.#backlog = opts.backlog ?? new MemoryBacklog(opts.maxQueuedReports ?? 360);
    this.#maxInFlight = opts.maxInFlight ?? 32;
    this.#maxInFlightBytes = opts.maxInFlightBytes ?? 8 * 1024 * 1024;
    // Numbers already spooled are never handed out again, whatever the sequence file says.
    opts.sequence.advancePast(this.#backlog.lastSeq);
    if (opts.encrypt) {
      if (!opts.token) throw new Error('transport.encrypt needs server.token: the payload key is derived from it');
      this.#key = derivePayloadKey(opts.token);
    }
    this.#breaker = circuitBreaker(handleAll, {
      halfOpenAfter: opts.circuitOpenMs ?? 10_000,
      breaker: new ConsecutiveBreaker(opts.circuitFailures ?? 5),
    });
    this.#breaker.onBreak(() => {
      this.#circuitOpenedAt = Date.now();
      opts.log.warn(
        { server: this.#target, openForMs: opts.circuitOpenMs ?? 10_000, failures: this.#failures + 1 },
        'server keeps failing: circuit open, connection attempts paused',
      );
    });
    this.#breaker.onHalfOpen(() => opts.log.info({ server: this.#target }, 'circuit half-open: trying the server again'));
    this.#breaker.onReset(() => opts.log.info({ server: this.#target }, 'circuit closed'));
  }

  /** The server dialled now: the agent's ranking of the cluster's servers at `#rank`. */
  get #address(): ServerAddress {
    const ranked = this.#ranked();
    return ranked[this.#rank % ranked.length] as ServerAddress;
  }

  /** The servers in this agent's rendezvous order: each scored by a hash of (agent id, address), highest first. */
  #ranked(): ServerAddress[] {
    const all = this.#opts.addresses?.length ? this.#opts.addresses : [this.#opts.address];
    if (all.length === 1) return all;
    const key = `${this.#opts.identity.agentId}\n${all.map(targetOf).join(',')}`;
    if (this.#ranking?.key !== key) this.#ranking = { key, order: rankServers(this.#opts.identity.agentId, all) };
    return this.#ranking.order;
  }

  get #target(): string {
    return targetOf(this.#address);
  }

  get state(): StreamState {
    return this.#state;
  }

  /** Reports not yet acknowledged by the server, those still being spooled included. */
  get queued(): number {
    return this.#backlog.stats.pendingReports + this.#enqueuing;
  }

  get backlog(): ReportBacklog {
    return this.#backlog;
  }

  get stats(): StreamStats {
    return {
      ...this.#stats,
      inFlight: this.#inFlight.length,
      connected: this.#state === 'connected',
      circuit: CIRCUIT_NAMES[this.#breaker.state],
    };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  /**
   * Numbers, encodes and spools one report, then sends it when the stream has room. Resolves once
   * the report is durable in the backlog.
   */
  async enqueue(samples: readonly Sample[]): Promise<void> {
    const { encoding, payload } = encodePayload(samples, { gzip: this.#opts.gzip ?? true });
    await this.#spool({ encoding, payload, sampleCount: samples.length, kind: PayloadKind.PAYLOAD_KIND_SAMPLES }, undefined, samples);
  }

  /**
   * The same for a batch of log records: a LOGS report on the same sequence, spool and acks.
   * Resolves once it is durable in the spool, the point a log source may count its lines as handed over.
   */
  async enqueueLogs(batch: pb.LogBatch, beforeAppend?: (seq: number) => Promise<void>): Promise<void> {
    const encoded = batch instanceof EncodedLogBatch ? batch : this.#logWriter.encode(batch);
    // The fastest gzip level: a busy file's lines are most of what the agent compresses, and
    // level 1 takes about half the CPU of the default for some 30 % more bytes.
    const { encoding, payload } =
      (this.#opts.gzip ?? true)
        ? { encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP, payload: gzipSync(encoded.bytes, { level: 1 }) }
        : // A copy: the shipper writes its next batches over the batch's bytes once this resolves.
          { encoding: PayloadEncoding.PAYLOAD_ENCODING_RAW, payload: Buffer.from(encoded.bytes) };
    await this.#spool({ encoding, payload, sampleCount: encoded.lines, kind: PayloadKind.PAYLOAD_KIND_LOGS }, beforeAppend);
  }

  /**
   * Numbers and appends one report. Enqueues run one after another so that `beforeAppend` (the
   * log shipper saving "batch `seq` is being handed over" with its read positions) sees the number
   * the report will carry and no other report is numbered or appended in between.
   */
  #spool(
    body: Omit<SpooledReport, 'seq' | 'createdMs'>,
    beforeAppend?: (seq: number) => Promise<void>,
    samples?: readonly Sample[],
  ): Promise<void> {
    this.#enqueuing++;
    const run = async () => {
      const seq = this.#opts.sequence.next();
      const report: SpooledReport = { seq, createdMs: Date.now(), ...body };
      try {
        await beforeAppend?.(seq);
        await this.#backlog.append([report]);
      } catch (err) {
        this.#stats.spoolErrors++;
        this.#opts.log.error({ err, seq }, 'could not spool a report; it is lost');
        throw err;
      } finally {
        this.#enqueuing--;
      }
      if (samples && (this.#opts.compact ?? true)) {
        this.#fresh.set(seq, samples);
        if (this.#fresh.size > FRESH_REPORTS) this.#fresh.delete(this.#fresh.keys().next().value as number);
      }
      this.#pump();
    };
    const done = this.#enqueueChain.then(run, run);
    this.#enqueueChain = done.catch(() => undefined);
    return done;
  }

  /** Resolves true once everything spooled is acknowledged, or false after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.#drained()) return true;
    return await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => {
        this.#drainWaiters = this.#drainWaiters.filter((w) => w !== waiter);
        done(this.#drained());
      }, timeoutMs);
      const waiter = () => done(true);
      this.#drainWaiters.push(waiter);
    });
  }

  #drained(): boolean {
    return this.#enqueuing === 0 && this.#backlog.ackedSeq >= this.#backlog.lastSeq;
  }

  /** The seq of the last report written on the current stream (0 when none yet). */
  get lastSentSeq(): number {
    return this.#lastSentSeq;
  }

  /** Writes a self-update message (UpdateFetch, UpdateStatus) on the registered stream; false when there is none. */
  sendUpdate(body: NonNullable<pb.AgentMessage['body']>): boolean {
    if (!this.#call || this.#state !== 'connected') return false;
    this.#call.write({ body });
    return true;
  }

  /** Writes task output on the registered stream; false when there is none (it is resent later). */
  sendTaskOutput(output: pb.TaskOutput): boolean {
    if (!this.#call || this.#state !== 'connected') return false;
    this.#call.write({ body: { $case: 'taskOutput', value: output } });
    return true;
  }

  async stop(flushTimeoutMs = 0): Promise<void> {
    if (flushTimeoutMs > 0 && this.#state === 'connected') await this.flush(flushTimeoutMs);
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#homeTimer);
    this.#teardown();
    this.#state = 'idle';
  }

  /**
   * Registers again on a fresh stream when connected (the identity changed: the server learns it
   * only from Register); otherwise the next attempt sends the new one anyway. Unacknowledged
   * reports are resent, and the server takes each once.
   */
  reregister(reason: string): void {
    if (this.#stopped || this.#state !== 'connected') return;
    this.#opts.log.info({ server: this.#target, reason }, 'registering again');
    this.#teardown();
    this.#connect();
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#state = 'connecting';
    this.#breaker
      .execute(() => this.#attempt())
      .then(
        () => undefined,
        (err: unknown) => this.#retry(err),
      );
  }

  /** One connection: resolves once the server has registered the agent, rejects if it never does. */
  async #attempt(): Promise<void> {
    const { identity, labels, token, intervalMs, log } = this.#opts;
    const address = this.#address;
    await this.#opts.refreshIdentity?.().catch((err: Error) => log.debug({ err: err.message }, 'could not read the host addresses again'));
    const security = await channelSecurity(address.host, address.port, { ...DEFAULT_TLS, ...this.#opts.tls });
    if (this.#stopped) return;
    const client = new AgentChannelClient(this.#target, security.credentials, {
      ...security.options,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      'grpc.enable_retries': 0,
    });
    const call = client.connect();
    this.#client = client;
    this.#call = call;
    this.#inFlight = [];
    this.#inFlightBytes = 0;
    this.#lastSentSeq = 0;
    this.#blocked = false;
    this.#compact = undefined;
    const update = this.#opts.updateInfo?.() ?? { releaseTarget: '', updateBlocked: 'self-update is not set up in this process' };
    await new Promise<void>((resolve, reject) => {
      let registered = false;
      const timer = setTimeout(() => end('the server did not answer Register in time'), this.#opts.registerTimeoutMs ?? 15_000);
      timer.unref?.();
      const end = (why: string, err?: ServiceError) => {
        clearTimeout(timer);
        if (this.#call !== call) return;
        this.#teardown();
        const reason = err?.details || err?.message || why;
        if (!registered) {
          reject(Object.assign(new Error(reason), { code: err?.code }));
          return;
        }
        this.#retry(Object.assign(new Error(reason), { code: err?.code, wasConnected: true }));
      };
      call.on('data', (msg: pb.ServerMessage) => {
        if (msg.body?.$case === 'registered' && !registered) {
          registered = true;
          clearTimeout(timer);
          this.#onRegistered(msg.body.value, security.describe);
          resolve();
          return;
        }
        this.#onMessage(msg);
      });
      call.on('error', (err: ServiceError) => end('error', err));
      call.on('end', () => end('the server closed the stream'));
      call.on('close', () => end('the stream closed'));
      call.on('drain', () => {
        this.#blocked = false;
        this.#pump();
      });
      call.write({
        body: {
          $case: 'register',
          value: {
            agentId: identity.agentId,
            hostname: identity.hostname,
            ips: identity.ips,
            os: identity.os,
            kernel: identity.kernel,
            arch: identity.arch,
            version: buildInfo().version,
            labels,
            token,
            bootTimeMs: identity.bootTimeMs,
            intervalMs,
            primaryIp: identity.primaryIp,
            platform: identity.platform,
            releaseTarget: update.releaseTarget,
            updateBlocked: update.updateBlocked,
            compactSamples: this.#opts.compact ?? true,
          },
        },
      });
      log.debug({ server: this.#target, security: security.describe }, 'dialling server');
    });
  }

  #retry(err: unknown): void {
    if (this.#stopped) return;
    this.#state = 'waiting';
    const circuitOpenMs = this.#opts.circuitOpenMs ?? 10_000;
    // An open circuit (just opened by this failure, or found open) is probed as soon as it
    // half-opens; otherwise the backoff sets the pace. The line logged states that one delay.
    const untilHalfOpen = () => Math.max(100, this.#circuitOpenedAt + circuitOpenMs - Date.now() + Math.round(Math.random() * 500));
    // A stream that registered but was lost before any report was acknowledged (a server that cannot
    // store them) must not start the backoff over: that would redial every 0.1 s.
    if (this.#registeredAt > 0 && Date.now() - this.#registeredAt >= STABLE_STREAM_MS) this.#backoff.reset();
    this.#registeredAt = 0;
    let delay = err instanceof BrokenCircuitError || this.#breaker.state === CircuitState.Open ? untilHalfOpen() : this.#backoff.next();
    const servers = this.#ranked().length;
    const fromServer = this.#target;
    if (servers > 1 && !(err instanceof BrokenCircuitError)) {
      // The next server of the ranking at once; the backoff only once every one has failed in turn.
      this.#rank = (this.#rank + 1) % servers;
      if (this.#rank !== 0) delay = 100;
    }
    if (!(err instanceof BrokenCircuitError)) {
      this.#stats.reconnects++;
      this.#failures++;
    }
    const e = err as { message?: string; code?: number; wasConnected?: boolean };
    const reason = cleanReason(e?.message ?? String(err));
    const next = `retrying in ${seconds(delay)} (attempt ${this.#failures + 1})`;
    const fields = {
      server: fromServer,
      reason,
      retryInMs: delay,
      attempt: this.#failures + 1,
      ...(fromServer !== this.#target ? { next: this.#target } : {}),
    };
    const hint = connectionHint(reason, this.#target, tlsEnabled(this.#address.host, { ...DEFAULT_TLS, ...this.#opts.tls }));
    const log = this.#opts.log;
    if (err instanceof BrokenCircuitError) log.debug(fields, `circuit open, not dialling; ${next}`);
    else if (e?.code === GrpcStatus.RESOURCE_EXHAUSTED && /\bfull\b/.test(reason)) {
      // Not acknowledged, so nothing is lost; said once per reason, not on every attempt.
      const gist = reason.replace(/\d+/g, 'N');
      if (gist !== this.#storeFull) {
        this.#storeFull = gist;
        log.warn(fields, `server cannot store reports now; they stay in the spool until it can; ${next}`);
      } else log.debug(fields, `server still cannot store reports; ${next}`);
    } else if (err instanceof TlsConfigError || (err as { tls?: boolean })?.tls || /certificate|\bssl\b|\btls\b/i.test(reason)) {
      log.error(fields, `TLS check of the server failed${hint ? `: ${hint}` : ''}; ${next}`);
    } else if (e?.code === GrpcStatus.FAILED_PRECONDITION && /sequence/.test(reason)) {
      // Not acknowledged, so nothing is lost: the reports wait in the spool for an operator's reset.
      log.error(
        fields,
        `server refused this agent's report sequence; its reports stay in the spool until the sequence is reset on the server; ${next}`,
      );
    } else if (e?.code !== undefined && REFUSALS.has(e.code))
      log.error(fields, `server refused this agent; check its token and settings; ${next}`);
    else if (e?.wasConnected) log.warn(fields, `server stream lost, reconnecting; ${next}`);
    else log.warn(fields, `cannot reach server${hint ? `: ${hint}` : ''}; ${next}`);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #teardown(): void {
    const call = this.#call;
    const client = this.#client;
    this.#call = undefined;
    this.#client = undefined;
    this.#reader?.close();
    this.#reader = undefined;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#state === 'connected') this.#state = 'waiting';
    if (call) {
      call.removeAllListeners();
      call.on('error', () => undefined);
      call.cancel();
    }
    client?.close();
  }

  #onRegistered(reg: pb.Registered, security: string): void {
    const last = reg.lastSeq;
    const { log } = this.#opts;
    this.#opts.sequence.advancePast(Math.max(last, this.#backlog.lastSeq));
    this.#backlog.ack(last);
    this.#reader = this.#backlog.reader(Math.max(last, this.#backlog.ackedSeq));
    // A new stream, a new table: the first report on it carries every series it names.
    this.#compact = reg.compactSamples && (this.#opts.compact ?? true) ? new CompactEncoder() : undefined;
    this.#state = 'connected';
    this.#registeredAt = Date.now();
    this.#failures = 0;
    clearTimeout(this.#homeTimer);
    if (this.#rank !== 0) {
      log.info(
        { server: this.#target, preferred: targetOf(this.#ranked()[0] as ServerAddress) },
        'connected to a fallback server of the cluster',
      );
      this.#homeTimer = setTimeout(() => {
        if (this.#stopped || this.#state !== 'connected' || this.#rank === 0) return;
        log.info(
          { server: this.#target, preferred: targetOf(this.#ranked()[0] as ServerAddress) },
          'trying the first server of the ranking again',
        );
        // As a re-registration: unacknowledged reports are sent again to whichever server takes them.
        this.#teardown();
        this.#rank = 0;
        this.#connect();
      }, this.#opts.returnHomeMs ?? 300_000);
      this.#homeTimer.unref?.();
    }
    const skewMs = reg.serverTimeMs ? Date.now() - reg.serverTimeMs : 0;
    if (Math.abs(skewMs) > 60_000 && !this.#skewWarned) {
      this.#skewWarned = true;
      log.warn({ skewMs }, "this host's clock differs from the server's by more than a minute; the server refuses samples too far ahead");
    }
    log.info({ server: this.#target, lastSeq: last, pending: this.#backlog.stats.pendingReports, security }, 'connected to server');
    if (reg.intervalMs) this.#opts.onHint?.(reg.intervalMs);
    this.#opts.onRegistered?.(reg);
    this.#opts.onStreamReady?.();
    this.#pump();
  }

  #onMessage(msg: pb.ServerMessage): void {
    const body = msg.body;
    if (!body) return;
    switch (body.$case) {
      case 'ack':
        this.#onAck(body.value.seq, body.value.error);
        break;
      case 'hint':
        if (body.value.intervalMs) this.#opts.onHint?.(body.value.intervalMs);
        break;
      case 'task':
        this.#opts.onTask?.(body.value);
        break;
      case 'taskOutputAck':
        this.#opts.onTaskOutputAck?.(body.value);
        break;
      case 'updateOffer':
        this.#opts.onUpdateOffer?.(body.value);
        break;
      case 'updateChunk':
        this.#opts.onUpdateChunk?.(body.value);
        break;
      case 'probeAssignment':
        this.#opts.onProbeAssignment?.(body.value);
        break;
      case 'registered':
        break;
    }
  }

  #onAck(seq: number, error: string): void {
    if (!error) {
      this.#backoff.reset();
      if (this.#storeFull !== undefined) {
        this.#storeFull = undefined;
        this.#opts.log.info({ server: this.#target }, 'server stores reports again');
      }
    }
    if (error) {
      this.#stats.rejected++;
      this.#logRefusal(seq, error);
    }
    let n = 0;
    while (n < this.#inFlight.length && (this.#inFlight[n] as InFlight).seq <= seq) {
      this.#inFlightBytes -= (this.#inFlight[n] as InFlight).bytes;
      n++;
    }
    this.#inFlight.splice(0, n);
    this.#stats.acked += n;
    for (const k of this.#fresh.keys()) {
      if (k > seq) break;
      this.#fresh.delete(k);
    }
    this.#backlog.ack(seq);
    this.#opts.onAck?.(seq);
    this.#armAckTimer();
    if (this.#drained()) for (const w of this.#drainWaiters.splice(0)) w();
    this.#pump();
  }

  /**
   * Every refused report is counted (falconet_agent_transport_rejected_reports_total); a line per
   * report would repeat the same cause every interval, so one like the last (numbers aside) is
   * logged at most once a minute, saying how many went unlogged since.
   */
  #logRefusal(seq: number, error: string): void {
    const gist = error.replace(/\d+/g, '#');
    const now = Date.now();
    const last = this.#lastRefusal;
    if (gist === last.gist && now - last.atMs < REFUSAL_LOG_EVERY_MS) {
      last.unlogged++;
      return;
    }
    const fields = last.unlogged > 0 && gist === last.gist ? { seq, error, refusedSinceLastLine: last.unlogged } : { seq, error };
    this.#opts.log.error(fields, 'server refused a report; it will not be resent');
    this.#lastRefusal = { gist, atMs: now, unlogged: 0 };
  }

  /** While reports are in flight, the server must acknowledge something every ackTimeoutMs. */
  #armAckTimer(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#inFlight.length === 0 || !this.#call) return;
    const call = this.#call;
    const ms = this.#opts.ackTimeoutMs ?? 60_000;
    this.#ackTimer = setTimeout(() => {
      if (this.#call !== call) return;
      this.#teardown();
      this.#retry(Object.assign(new Error(`no acknowledgement for ${ms} ms`), { wasConnected: true }));
    }, ms);
    this.#ackTimer.unref?.();
  }

  /** Sends backlog reports not yet sent on this stream while the window and the stream have room. */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    this.#pumpLoop()
      .catch((err: unknown) => {
        this.#opts.log.error({ err }, 'reading the spool failed; redialling');
        this.#teardown();
        this.#retry(err);
      })
      .finally(() => {
        this.#pumping = false;
        if (this.#pumpAgain) {
          this.#pumpAgain = false;
          this.#pump();
        }
      });
  }

  async #pumpLoop(): Promise<void> {
    for (;;) {
      this.#pumpAgain = false;
      const call = this.#call;
      const reader = this.#reader;
      if (!call || !reader || this.#state !== 'connected' || this.#blocked) return;
      if (this.#inFlight.length >= this.#maxInFlight || this.#inFlightBytes >= this.#maxInFlightBytes) return;
      const r = await reader.next();
      if (!r) return;
      if (this.#call !== call) return;
      const report = this.#wire(r);
      this.#inFlight.push({ seq: r.seq, bytes: report.payload.length });
      this.#inFlightBytes += report.payload.length;
      this.#lastSentSeq = r.seq;
      this.#stats.sent++;
      this.#stats.sentBytes += report.payload.length;
      if (this.#inFlight.length === 1) this.#armAckTimer();
      if (!call.write({ body: { $case: 'report', value: report } })) this.#blocked = true;
    }
  }

  /**
   * The report as it goes on the wire: sealed here, so a key rotation also covers what was spooled
   * before it, and put in the compact encoding here, against the table of the stream it goes on.
   */
  #wire(r: SpooledReport): pb.Report {
    const base = { seq: r.seq, sampleCount: r.sampleCount, createdMs: r.createdMs, kind: r.kind ?? PayloadKind.PAYLOAD_KIND_SAMPLES };
    const compact = base.kind === PayloadKind.PAYLOAD_KIND_SAMPLES ? this.#compactWire(r) : undefined;
    if (compact) return { ...base, kind: PayloadKind.PAYLOAD_KIND_COMPACT_SAMPLES, ...compact };
    if (!this.#key) return { ...base, encoding: r.encoding, payload: r.payload };
    const gz = r.encoding === PayloadEncoding.PAYLOAD_ENCODING_GZIP ? r.payload : gzipSync(r.payload);
    return {
      ...base,
      encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM,
      payload: seal(gz, this.#key, reportAad(this.#opts.identity.agentId, r.seq)),
    };
  }

  /** A spooled sample report in the compact encoding, or undefined to send it as spooled. */
  #compactWire(r: SpooledReport): { encoding: PayloadEncoding; payload: Buffer } | undefined {
    if (!this.#compact) return undefined;
    let samples = this.#fresh.get(r.seq);
    try {
      samples ??= decodePayload(r.encoding, r.payload);
    } catch {
      // A spooled payload that does not open goes as it is: the server refuses it with the reason.
      return undefined;
    }
    return this.#compact.payload(samples, this.#key ? { key: this.#key, aad: reportAad(this.#opts.identity.agentId, r.seq) } : {});
  }
}
