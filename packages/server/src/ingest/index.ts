import type { Sample } from '@falconet/protocol';
import { listenError } from '@falconet/protocol/cli';
import type { MetricFamily } from '@falconet/protocol/exposition';
import { Server as GrpcServer, status as GrpcStatus, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AgentTokens } from '../agents/tokens.ts';
import type { AuditEvent } from '../auth/audit.ts';
import type { MetaDb } from '../db/index.ts';
import type { LiveHub } from '../live/hub.ts';
import type { LogSink } from '../logs/ingest.ts';
import type { MonitorChannelHooks } from '../monitors/assignments.ts';
import type { AgentRegistry } from '../registry.ts';
import type { UpdateChannelHooks } from '../releases/service.ts';
import { remoteWriteApi } from '../remote-write/routes.ts';
import type { Store } from '../store/types.ts';
import type { TaskChannelHooks } from '../tasks/streams.ts';
import { agentAuthenticator, isLoopbackPeer } from './auth.ts';
import { agentChannelDefinition, agentChannelHandler, DEFAULT_LIMITS, grpcMessageLimit, type IngestLimits } from './channel.ts';
import { IngestCounters } from './counters.ts';
import { ReportFanout } from './fanout.ts';
import { PushWriter } from './push.ts';
import type { TransferAuth } from './push-auth.ts';
import { type PushCaps, PushLimits } from './push-limits.ts';
import { pushApi } from './routes.ts';
import { type GrpcSecurity, type GrpcTlsConfig, grpcServerSecurity } from './tls.ts';
import { TransferListener } from './transfer.ts';

export { IngestCounters } from './counters.ts';

export interface IngestSettings {
  max_message_bytes: number;
  max_samples_per_report: number;
  max_clock_skew: number;
  require_token: boolean;
  register_timeout: number;
  idle_timeout: number;
  push: PushCaps;
  max_sequence_jump: number;
}

/** The Open-Falcon TCP listener's settings (`transfer.*`). */
export interface TransferSettings {
  require_token: boolean;
  auth_timeout: number;
  idle_timeout: number;
  max_line_bytes: number;
  max_connections: number;
}

export interface IngestDeps {
  store: Store;
  registry: AgentRegistry;
  live: LiveHub;
  meta: MetaDb;
  log: Logger;
  dataDir: string;
  tls: GrpcTlsConfig;
  settings: IngestSettings;
  counters?: IngestCounters;
  /** Also require a token from loopback agents (the auth issue: once a user exists). */
  requireTokenAlso?: () => Promise<boolean>;
  /** Tasks down the stream, task output up it (server/src/tasks). */
  tasks?: TaskChannelHooks | undefined;
  /** Called with every batch of samples once durable (the alert evaluator's windows). */
  observe?: ((agentId: string, samples: readonly Sample[]) => void) | undefined;
  /** The audit log: agent enrolments and refusals of a known token. */
  audit?: ((e: AuditEvent) => Promise<void>) | undefined;
  /** Self-update over the agent channel (server/src/releases). */
  updates?: UpdateChannelHooks | undefined;
  /** Where log reports go; without it they are refused as an unknown kind. */
  logs?: LogSink | undefined;
  /** Monitor probe assignments down the agent channel (server/src/monitors). */
  monitors?: MonitorChannelHooks | undefined;
}

/**
 * Everything that takes data in: the gRPC agent channel (TLS, tokens, limits), the Open-Falcon TCP
 * listener, and POST /api/v1/push; with the counters they keep for /metrics.
 */
export class Ingest {
  readonly counters: IngestCounters;
  readonly tokens: AgentTokens;
  readonly limits: IngestLimits;
  readonly writer: PushWriter;
  /** The caps of every push path, one budget per sender across them. */
  readonly pushLimits: PushLimits;
  readonly #deps: IngestDeps;
  readonly #fanout: ReportFanout;
  #grpc: GrpcServer | undefined;
  #transfer: TransferListener | undefined;
  security: GrpcSecurity | undefined;

  constructor(deps: IngestDeps) {
    this.#deps = deps;
    this.counters = deps.counters ?? new IngestCounters();
    this.tokens = new AgentTokens(deps.meta);
    const s = deps.settings;
    this.limits = {
      ...DEFAULT_LIMITS,
      maxMessageBytes: s.max_message_bytes,
      maxSamplesPerReport: s.max_samples_per_report,
      maxClockSkewMs: s.max_clock_skew,
      maxSequenceJump: s.max_sequence_jump,
    };
    this.pushLimits = new PushLimits(s.push);
    this.#fanout = new ReportFanout({ registry: deps.registry, live: deps.live, observe: deps.observe });
    this.writer = new PushWriter({
      store: deps.store,
      registry: deps.registry,
      fanout: this.#fanout,
      counters: this.counters,
      log: deps.log,
      maxSamplesPerReport: s.max_samples_per_report,
    });
  }

  /** Binds the agent channel, with TLS unless `loopback` allows plaintext (grpc_tls.mode auto). */
  async startGrpc(host: string, port: number, loopback: boolean): Promise<number> {
    const { log, dataDir, tls, settings } = this.#deps;
    const security = grpcServerSecurity(tls, host, loopback, dataDir, log);
    this.security = security;
    const limit = grpcMessageLimit(this.limits);
    const server = new GrpcServer({
      'grpc.max_receive_message_length': limit,
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 10_000,
      // A connection that opens no stream (or never finishes its preface) is not kept.
      'grpc.max_connection_idle_ms': settings.idle_timeout,
    });
    const tokens = this.tokens;
    const also = this.#deps.requireTokenAlso;
    server.addService(agentChannelDefinition(this.limits), {
      connect: this.#registerDeadline(
        agentChannelHandler({
          store: this.#deps.store,
          registry: this.#deps.registry,
          fanout: this.#fanout,
          log,
          counters: this.counters,
          limits: this.limits,
          tasks: this.#deps.tasks,
          audit: this.#deps.audit,
          updates: this.#deps.updates,
          logs: this.#deps.logs,
          monitors: this.#deps.monitors,
          authenticate: agentAuthenticator({
            tokens,
            requireToken: async (peer) =>
              !isLoopbackPeer(peer) || settings.require_token || (await tokens.anyIssued()) || ((await also?.()) ?? false),
            knownHostname: (agentId) => this.#deps.registry.hostnameOf(agentId),
          }),
        }),
      ),
    } as UntypedServiceImplementation);
    const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    try {
      const bound = await new Promise<number>((resolve, reject) =>
        server.bindAsync(target, security.credentials, (err, p) => (err ? reject(err) : resolve(p))),
      );
      this.#grpc = server;
      return bound;
    } catch (err) {
      server.forceShutdown();
      const msg = (err as Error).message;
      const code = /EADDRINUSE|address already in use/i.test(msg) ? 'EADDRINUSE' : /EACCES/.test(msg) ? 'EACCES' : undefined;
      throw code ? listenError(Object.assign(new Error(msg), { code }), '--grpc-listen', target) : err;
    }
  }

  /**
   * A stream must say Register within ingest.register_timeout: a client that opens streams and
   * sends nothing would otherwise hold them for good.
   */
  #registerDeadline<In, Out>(handler: (call: ServerDuplexStream<In, Out>) => void) {
    const { settings, log } = this.#deps;
    return (call: ServerDuplexStream<In, Out>) => {
      const timer = setTimeout(() => {
        this.counters.reject('grpc', 'timeout');
        this.counters.cut('grpc', 'register_timeout');
        log.info({ peer: call.getPeer() }, 'agent stream sent nothing in time; closed');
        call.emit('error', {
          code: GrpcStatus.DEADLINE_EXCEEDED,
          details: `no Register within ${settings.register_timeout / 1000} s (ingest.register_timeout)`,
        });
      }, settings.register_timeout);
      const settle = () => clearTimeout(timer);
      call.once('data', settle);
      call.once('cancelled', settle);
      call.once('error', settle);
      call.once('end', settle);
      handler(call);
    };
  }

  /**
   * Binds the Open-Falcon TCP listener; resolves with its port. Beyond loopback every sender
   * presents a token, whatever `transfer.require_token` says.
   */
  async startTransfer(host: string, port: number, loopback: boolean, settings: TransferSettings, auth?: TransferAuth): Promise<number> {
    const listener = new TransferListener({
      host,
      port,
      writer: this.writer,
      counters: this.counters,
      limits: this.pushLimits,
      log: this.#deps.log.child({ channel: 'transfer' }),
      maxLineBytes: settings.max_line_bytes,
      maxClockSkewMs: this.limits.maxClockSkewMs,
      requireToken: !loopback || settings.require_token,
      auth,
      authTimeoutMs: settings.auth_timeout,
      idleMs: settings.idle_timeout,
      maxConnections: settings.max_connections,
    });
    const bound = await listener.listen();
    this.#transfer = listener;
    return bound;
  }

  /** POST /api/v1/push. */
  async registerRoutes(app: FastifyInstance): Promise<void> {
    await app.register(pushApi, {
      writer: this.writer,
      counters: this.counters,
      limits: this.pushLimits,
      maxMessageBytes: this.limits.maxMessageBytes,
      maxSamplesPerReport: this.limits.maxSamplesPerReport,
      maxClockSkewMs: this.limits.maxClockSkewMs,
    });
    await app.register(remoteWriteApi, {
      writer: this.writer,
      counters: this.counters,
      limits: this.pushLimits,
      maxMessageBytes: this.limits.maxMessageBytes,
      maxClockSkewMs: this.limits.maxClockSkewMs,
    });
  }

  families(): MetricFamily[] {
    return this.counters.families();
  }

  /** Stops taking data: the listener first, then the agent channel (streams get 2 s to finish). */
  async stop(): Promise<void> {
    const transfer = this.#transfer;
    this.#transfer = undefined;
    await transfer?.close();
    const grpc = this.#grpc;
    this.#grpc = undefined;
    if (grpc) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          grpc.forceShutdown();
          resolve();
        }, 2000);
        grpc.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
  }
}
