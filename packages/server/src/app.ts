import { createReadStream, existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { FALCONET_VERSION } from '@falconet/protocol';
import type { ClusterStatus } from '@falconet/protocol/api';
import { listenError, StartupError } from '@falconet/protocol/cli';
import { ConfigError, parseHostPort } from '@falconet/protocol/config';
import { EXPOSITION_CONTENT_TYPE, renderExposition } from '@falconet/protocol/exposition';
import { isLoopbackHost } from '@falconet/protocol/net';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { agentsApi } from './agents/routes.ts';
import { alertsApi } from './alerts/routes.ts';
import { AlertService } from './alerts/service.ts';
import { installErrorHandling } from './api/errors.ts';
import { installJsonBodyParser } from './api/json-body.ts';
import { type AccessGuard, installAccessGuard, type RouteEntry } from './auth/guard.ts';
import { installSecurityHeaders } from './auth/headers.ts';
import { authApi } from './auth/routes.ts';
import { AuthService } from './auth/service.ts';
import { ClusterLive, type NodeInfo } from './cluster/live.ts';
import { ownerOf } from './cluster/owner.ts';
import { clusterApi } from './cluster/routes.ts';
import { natsUrls, type ServerConfig } from './config.ts';
import { auditAtRest, secureServerDataDir } from './datadir.ts';
import { AgentRepository } from './db/agents.ts';
import { DatabaseHealth, isDatabaseUnavailable } from './db/health.ts';
import { type MetaDb, metaDbOptions, migrateMetaDb, openMetaDb } from './db/index.ts';
import { fleetApi } from './fleet/routes.ts';
import { Ingest, IngestCounters } from './ingest/index.ts';
import { apiTokenTransferAuth } from './ingest/push-auth.ts';
import { AgentReleaseReader } from './install/releases.ts';
import { installApi } from './install/routes.ts';
import { LiveHub } from './live/hub.ts';
import { liveApi } from './live/routes.ts';
import { openLogStore } from './logs/index.ts';
import { logsApi } from './logs/routes.ts';
import { SyslogReceiver } from './logs/syslog.ts';
import type { LogStore, LogStoreStats } from './logs/types.ts';
import { metricsApi } from './metrics/routes.ts';
import { monitorAlerts } from './monitors/alerting.ts';
import { monitorsApi } from './monitors/routes.ts';
import { MonitorService } from './monitors/service.ts';
import { promApi } from './promql/api.ts';
import { MetadataStore } from './promql/metadata.ts';
import { AgentRegistry } from './registry.ts';
import { releasesApi } from './releases/routes.ts';
import { UpdateService } from './releases/service.ts';
import { ReleaseStore } from './releases/store.ts';
import { RemoteWriteOut } from './remote-write/out/index.ts';
import { StatusPageRepository } from './status-pages/repository.ts';
import { statusPagesApi } from './status-pages/routes.ts';
import { monitorDirectory, StatusPageService } from './status-pages/service.ts';
import { openStore } from './store/index.ts';
import type { Store, StoreStats } from './store/types.ts';
import { tasksApi } from './tasks/routes.ts';
import { TaskService } from './tasks/service.ts';
import { quotaSamples, TrafficAccounting } from './traffic/accounting.ts';
import { trafficApi } from './traffic/routes.ts';
import { bundledWeb, serveBundledWeb } from './web-assets.ts';

export interface ServerAddresses {
  http: { host: string; port: number };
  grpc: { host: string; port: number };
  /** The Open-Falcon TCP listener, when enabled. */
  transfer?: { host: string; port: number };
  /** The syslog receiver (UDP and TCP on one port), when enabled. */
  syslog?: { host: string; port: number };
}

/** One falconet-server: the gRPC agent channel, the store, the registry, and the HTTP API and dashboard. */
export class FalconetServer {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly live = new LiveHub();
  readonly counters = new IngestCounters();
  /** HELP/TYPE/UNIT of metric families as senders give them (/api/v1/metadata). */
  readonly metadata = new MetadataStore();
  #store: Store | undefined;
  #logs: LogStore | undefined;
  #syslog: SyslogReceiver | undefined;
  #meta: MetaDb | undefined;
  #registry: AgentRegistry | undefined;
  #tasks: TaskService | undefined;
  #releases: ReleaseStore | undefined;
  #updates: UpdateService | undefined;
  #alerts: AlertService | undefined;
  #monitors: MonitorService | undefined;
  #remoteWriteOut: RemoteWriteOut | undefined;
  #cluster: ClusterLive | undefined;
  #externalUrl = '';
  #auth: AuthService | undefined;
  #guard: AccessGuard | undefined;
  #purge: NodeJS.Timeout | undefined;
  /** Feeds each host's quota use to the alert evaluator (docs/traffic.md#alerts). */
  #trafficFeed: NodeJS.Timeout | undefined;
  #firstUserWatch: NodeJS.Timeout | undefined;
  #http: FastifyInstance | undefined;
  #ingest: Ingest | undefined;
  addresses: ServerAddresses | undefined;
  /** Risks an admin accepted in the configuration, shown on the dashboard (`grpc_plaintext`). */
  readonly warnings: string[] = [];

  constructor(config: ServerConfig, log: Logger) {
    this.config = config;
    this.log = log;
  }

  get store(): Store {
    if (!this.#store) throw new Error('server not started');
    return this.#store;
  }

  get logs(): LogStore {
    if (!this.#logs) throw new Error('server not started');
    return this.#logs;
  }

  get meta(): MetaDb {
    if (!this.#meta) throw new Error('server not started');
    return this.#meta;
  }

  /** Alerting; undefined when `alerts.enabled` is false. */
  get alerts(): AlertService | undefined {
    return this.#alerts;
  }

  get tasks(): TaskService {
    if (!this.#tasks) throw new Error('server not started');
    return this.#tasks;
  }

  /** Monitors: probes kept by the server and run by the agents they choose (monitors/). */
  get monitors(): MonitorService {
    if (!this.#monitors) throw new Error('server not started');
    return this.#monitors;
  }

  /** Self-update rollouts (releases/). */
  get updates(): UpdateService {
    if (!this.#updates) throw new Error('server not started');
    return this.#updates;
  }

  get registry(): AgentRegistry {
    if (!this.#registry) throw new Error('server not started');
    return this.#registry;
  }

  get auth(): AuthService {
    if (!this.#auth) throw new Error('server not started');
    return this.#auth;
  }

  /** Every HTTP route with its access rule, as the access guard saw them registered. */
  get routes(): readonly RouteEntry[] {
    return this.#guard?.routes ?? [];
  }

  async start(): Promise<ServerAddresses> {
    const http = parseHostPort(this.config.listen, '--listen');
    const grpc = parseHostPort(this.config.grpc_listen, '--grpc-listen');
    const tls = this.#readTls();
    const transfer = this.config.transfer_listen ? parseHostPort(this.config.transfer_listen, '--transfer-listen') : undefined;
    const syslogAt = this.config.syslog.listen ? parseHostPort(this.config.syslog.listen, 'syslog.listen') : undefined;
    this.#checkPlaintext(grpc.host);
    const dataDir = secureServerDataDir(this.config.data_dir, this.log);
    this.#meta = openMetaDb({
      ...metaDbOptions(this.config, this.log.child({ component: 'secrets' })),
      healthLog: this.log.child({ component: 'db' }),
    });
    try {
      const applied = await migrateMetaDb(this.#meta);
      if (applied.length) this.log.info({ migrations: applied }, 'metadata schema migrated');
      const unlocked = await this.#meta.unlock();
      this.#auth = await AuthService.open(this.#meta, this.config.auth, this.log.child({ component: 'auth' }));
      await auditAtRest(this.#auth.audit, this.config.data_dir, dataDir, unlocked);
      // Until a user exists there is no sign-in, so nothing may be reachable beyond this machine.
      if (!(await this.#auth.secured())) {
        for (const [flag, addr] of [
          ['--listen', http],
          ['--grpc-listen', grpc],
          ...(transfer ? ([['--transfer-listen', transfer]] as const) : []),
          ...(syslogAt ? ([['syslog.listen', syslogAt]] as const) : []),
        ] as const) {
          if (!isLoopbackHost(addr.host)) {
            throw new StartupError(
              `${flag} ${addr.host}:${addr.port}: only loopback addresses are allowed until a user exists (falconet-server create-user --name NAME --role admin)`,
            );
          }
        }
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#store = await openStore(this.config, this.log.child({ component: 'store' }));
    try {
      this.#logs = await openLogStore(this.config, this.log.child({ component: 'logs' }));
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#registry = new AgentRegistry(new AgentRepository(this.#meta), this.live, {
      offlineAfterIntervals: this.config.offline_after_intervals,
    });
    await this.#registry.load();
    this.#tasks = new TaskService({
      config: this.config.tasks,
      dataDir: this.config.data_dir,
      meta: this.#meta,
      registry: this.#registry,
      live: this.live,
      log: this.log,
    });
    await this.#tasks.start();
    this.#releases = new ReleaseStore(this.config.data_dir);
    this.#updates = new UpdateService({
      meta: this.#meta,
      releases: this.#releases,
      registry: this.#registry,
      audit: (e) => this.auth.audit.record(e),
      log: this.log.child({ component: 'updates' }),
    });
    await this.#updates.load();
    if (this.config.alerts.enabled) {
      const registry = this.#registry;
      this.#alerts = new AlertService({
        config: this.config.alerts,
        meta: this.#meta,
        store: this.#store,
        logs: this.#logs,
        agents: { list: () => registry.list() },
        ...(this.config.cluster.nats ? { owns: (key: string) => this.#ownsHere(key) } : {}),
        log: this.log.child({ component: 'alerts' }),
        externalUrl: () => this.config.alerts.external_url || this.#externalUrl,
      });
      try {
        await this.#alerts.start();
      } catch (err) {
        await this.stop();
        throw err instanceof ConfigError ? new StartupError(err.problems.join('\n')) : err;
      }
    }

    this.#monitors = new MonitorService({
      meta: this.#meta,
      store: this.#store,
      agents: this.#registry,
      alerts: monitorAlerts(this.#alerts),
      live: this.live,
      log: this.log.child({ component: 'monitors' }),
    });
    try {
      await this.#monitors.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    const registry = this.#registry;
    this.#remoteWriteOut = new RemoteWriteOut(
      this.config.remote_write,
      this.config.data_dir,
      (id) => registry.get(id)?.hostname,
      this.log.child({ component: 'remote-write-out' }),
    );
    this.#remoteWriteOut.start();
    this.#loopDelay.enable();
    this.#ingest = new Ingest({
      store: this.#store,
      registry: this.#registry,
      live: this.live,
      meta: this.#meta,
      log: this.log.child({ component: 'ingest' }),
      dataDir: this.config.data_dir,
      tls: this.config.grpc_tls,
      settings: this.config.ingest,
      counters: this.counters,
      tasks: this.#tasks,
      updates: this.#updates,
      observe: (agentId, samples) => {
        this.#alerts?.observe(agentId, samples);
        this.#monitors?.observe(agentId, samples);
        this.#remoteWriteOut?.stored(agentId, samples);
      },
      logs: { store: this.#logs, stored: (lines) => this.live.logs(lines) },
      monitors: this.#monitors.assignments,
      metadata: this.metadata,
      audit: (e) => this.auth.audit.record(e),
      // Once a user exists, every agent presents a token, whatever address it comes from.
      requireTokenAlso: () => this.auth.secured(),
    });
    let grpcPort: number;
    try {
      grpcPort = await this.#ingest.startGrpc(grpc.host, grpc.port, isLoopbackHost(grpc.host));
    } catch (err) {
      await this.stop();
      throw err;
    }
    let transferPort: number | undefined;
    if (transfer) {
      try {
        transferPort = await this.ingest.startTransfer(
          transfer.host,
          transfer.port,
          isLoopbackHost(transfer.host),
          this.config.transfer,
          apiTokenTransferAuth(this.auth),
        );
      } catch (err) {
        await this.stop();
        throw listenError(err, '--transfer-listen', this.config.transfer_listen);
      }
    }
    const syslog = this.config.syslog;
    if (syslogAt) {
      const addr = syslogAt;
      this.#syslog = new SyslogReceiver({
        store: this.#logs,
        stored: (lines) => this.live.logs(lines),
        trustHostname: syslog.trust_hostname,
        maxMessageBytes: syslog.max_message_bytes,
        log: this.log.child({ component: 'syslog' }),
      });
      try {
        await this.#syslog.listen(addr.host, addr.port);
      } catch (err) {
        await this.stop();
        throw listenError(err, 'syslog.listen', syslog.listen);
      }
    }
    const app = await this.#buildHttp(tls);
    try {
      await app.listen({ host: http.host, port: http.port });
    } catch (err) {
      await this.stop();
      throw listenError(err, '--listen', this.config.listen);
    }
    this.#http = app;
    const httpPort = (app.server.address() as AddressInfo).port;
    this.#externalUrl = `${tls ? 'https' : 'http'}://${http.host.includes(':') ? `[${http.host}]` : http.host}:${httpPort}`;
    this.addresses = { http: { host: http.host, port: httpPort }, grpc: { host: grpc.host, port: grpcPort } };
    if (transfer && transferPort !== undefined) this.addresses.transfer = { host: transfer.host, port: transferPort };
    if (this.#syslog?.port !== undefined) this.addresses.syslog = { host: this.#syslog.host, port: this.#syslog.port };
    if (this.config.cluster.nats) {
      const cluster = this.config.cluster;
      try {
        this.#cluster = await ClusterLive.start({
          servers: natsUrls(cluster.nats),
          cluster: cluster.name,
          node: cluster.node || `${hostname()}:${httpPort}`,
          hub: this.live,
          registry: this.#registry,
          tasks: this.#tasks,
          info: () => this.#nodeInfo(),
          log: this.log.child({ component: 'cluster' }),
        });
        const registry = this.#registry;
        const bus = this.#cluster;
        if (this.#tasks && registry) this.#tasks.relay = { holderOf: (id) => registry.holderOf(id), deliver: (...a) => bus.deliver(...a) };
      } catch (err) {
        await this.stop();
        throw new StartupError(`cluster.nats ${cluster.nats}: ${(err as Error).message}`);
      }
    }
    this.log.info(
      {
        http: `${http.host}:${httpPort}`,
        grpc: `${grpc.host}:${grpcPort}`,
        grpcTls: this.#ingest.security?.tls ?? false,
        transfer: transferPort !== undefined ? `${transfer?.host}:${transferPort}` : 'off',
        dataDir: this.config.data_dir,
        tls: Boolean(tls),
      },
      'server listening',
    );
    const setup = this.#auth?.setupToken;
    if (setup) {
      const host = http.host.includes(':') ? `[${http.host}]` : http.host === '0.0.0.0' ? '127.0.0.1' : http.host;
      const link = `${tls ? 'https' : 'http'}://${host}:${httpPort}/setup#token=${setup}`;
      this.log.warn(
        { setupLink: link },
        `no user exists yet: open ${link} to create the first admin, or run falconet-server create-user --name NAME --role admin`,
      );
    }
    this.#purge = setInterval(() => void this.#auth?.sessions.purgeExpired().catch(() => undefined), 3_600_000);
    this.#purge.unref();
    if (setup) {
      // A user made by the CLI is noticed on the next request; this catches it when no request comes,
      // so unauthenticated live sockets of the first run do not outlive it.
      this.#firstUserWatch = setInterval(() => {
        this.#auth?.secured().then(
          (yes) => yes && clearInterval(this.#firstUserWatch),
          () => undefined,
        );
      }, 2000);
      this.#firstUserWatch.unref();
    }
    return this.addresses;
  }

  get ingest(): Ingest {
    if (!this.#ingest) throw new Error('server not started');
    return this.#ingest;
  }

  /**
   * A plaintext agent channel beyond loopback carries agent tokens, reports and tasks in the clear,
   * and lets a man in the middle pin its own task-signing key on an agent's first contact: it needs
   * an explicit grpc_tls.allow_plaintext, and is then warned about in the log and on the dashboard.
   */
  #checkPlaintext(grpcHost: string): void {
    const t = this.config.grpc_tls;
    if (t.mode !== 'off' || isLoopbackHost(grpcHost)) return;
    if (!t.allow_plaintext) {
      throw new StartupError(
        `--grpc-listen ${this.config.grpc_listen}: grpc_tls.mode is off on an address beyond loopback, so agent tokens, reports and tasks would cross the network in plaintext; ` +
          'use grpc_tls.mode auto or on, or accept the risk with grpc_tls.allow_plaintext: true (--grpc-allow-plaintext)',
      );
    }
    this.warnings.push('grpc_plaintext');
    this.log.warn(
      { grpcListen: this.config.grpc_listen },
      'the agent channel is plaintext beyond loopback (grpc_tls.allow_plaintext): anyone on the network path can read agent tokens and tasks, and impersonate this server to agents',
    );
  }

  #readTls(): { cert: Buffer; key: Buffer } | undefined {
    const { cert_file, key_file } = this.config.http_tls;
    if (!cert_file) return undefined;
    const read = (file: string, key: string) => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new StartupError(`http_tls.${key} ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
    };
    return { cert: read(cert_file, 'cert_file'), key: read(key_file, 'key_file') };
  }

  async #buildHttp(tls: { cert: Buffer; key: Buffer } | undefined): Promise<FastifyInstance> {
    const t = this.config.http;
    // Node checks these deadlines on a sweep; once a second keeps a cut close to its deadline.
    const deadlines = { headersTimeout: t.headers_timeout, requestTimeout: t.request_timeout, connectionsCheckingInterval: 1000 };
    const counters = this.counters;
    const httpLog = this.log.child({ component: 'http' });
    const app = Fastify({
      loggerInstance: httpLog as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: 4 * 1024 * 1024,
      trustProxy: this.config.auth.trust_proxy,
      requestTimeout: t.request_timeout,
      keepAliveTimeout: t.keep_alive_timeout,
      http: deadlines,
      ...(tls ? { https: { ...tls, ...deadlines } } : {}),
      clientErrorHandler: (err, socket) => {
        // A client that dribbles its headers or never finishes its body (slow loris) is cut here.
        if ((err as NodeJS.ErrnoException).code === 'ERR_HTTP_REQUEST_TIMEOUT') {
          counters.cut('http', 'request_timeout');
          httpLog.info({ address: socket.remoteAddress }, 'HTTP client too slow to send its request; cut');
          if (socket.writable) socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          socket.destroy();
          return;
        }
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && socket.writable) {
          socket.write('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        }
        socket.destroy();
      },
    }) as unknown as FastifyInstance;
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    installJsonBodyParser(app);
    const carried = bundledWeb();
    const hasWeb = carried !== undefined || existsSync(this.config.web_root);
    // The shell is read here rather than with reply.sendFile: the static plugin lives in a scope of its own.
    const shell = join(this.config.web_root, 'index.html');
    installErrorHandling(
      app,
      hasWeb
        ? (reply) =>
            reply
              .type('text/html; charset=utf-8')
              .header('cache-control', 'no-cache')
              .send(carried?.get('index.html') ?? createReadStream(shell))
        : undefined,
      (err) => {
        for (const h of this.#databaseHealth()) h.observe(err);
      },
    );
    installSecurityHeaders(app, { tls: Boolean(tls) });
    const cookieSecure = this.config.auth.cookie_secure;
    this.#guard = installAccessGuard(app, this.auth, {
      secureCookies: cookieSecure === 'always' || (cookieSecure === 'auto' && Boolean(tls)),
    });
    await app.register(fastifySwagger, {
      openapi: {
        info: { title: 'Falconet API', version: FALCONET_VERSION },
        tags: [
          { name: 'agents' },
          { name: 'metrics' },
          { name: 'fleet' },
          { name: 'auth' },
          { name: 'users' },
          { name: 'tokens' },
          { name: 'audit' },
          { name: 'ingest' },
          { name: 'tasks' },
          { name: 'alerts' },
          { name: 'updates' },
          { name: 'logs' },
          { name: 'traffic' },
          { name: 'monitors' },
          { name: 'status-pages' },
        ],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
    const registry = this.registry;
    const store = this.store;
    await app.register(agentsApi, {
      registry,
      store,
      audit: this.auth.audit,
      tokens: this.ingest.tokens,
      alerts: () => this.#alerts,
      logs: this.#logs,
    });
    await app.register(metricsApi, { registry, store });
    await app.register(fleetApi, { registry, store });
    await app.register(clusterApi, { status: () => this.#cluster?.status() ?? this.#aloneStatus() });
    const traffic = new TrafficAccounting({
      store,
      agents: () => registry.list(),
      plans: this.config.traffic.plans,
      dataDir: this.config.data_dir,
    });
    await app.register(trafficApi, { traffic });
    if (this.#alerts) {
      const feed = async () => {
        const alerts = this.#alerts;
        if (!alerts) return;
        for (const { agentId, samples } of quotaSamples(await traffic.fleet({ withQuota: true }), Date.now()))
          alerts.observe(agentId, samples);
      };
      // One pass at a time: at thousands of hosts a pass can outlast the interval, and passes
      // piling up would hold the event loop.
      let feeding = false;
      const run = () => {
        if (feeding) return;
        feeding = true;
        void feed()
          .catch((err) => this.log.warn({ err }, 'traffic quota feed failed'))
          .finally(() => {
            feeding = false;
          });
      };
      this.#trafficFeed = setInterval(run, this.config.traffic.alert_every);
      this.#trafficFeed.unref();
      run();
    }
    await app.register(promApi, {
      store,
      agents: () => registry.list(),
      timeoutMs: this.config.query.timeout,
      maxSamples: this.config.query.max_samples,
      metadata: this.metadata,
    });
    await app.register(liveApi, { live: this.live, logs: this.logs });
    await app.register(logsApi, { logs: this.logs });
    await app.register(authApi, { auth: this.auth, guard: this.#guard, warnings: () => this.warnings });
    await this.ingest.registerRoutes(app);
    await app.register(tasksApi, { tasks: this.tasks });
    await app.register(releasesApi, { releases: this.#releases as ReleaseStore, updates: this.updates });
    await app.register(installApi, {
      releases: new AgentReleaseReader(this.config.data_dir),
      channel: () => ({
        publicAddress: this.config.install.grpc_address,
        port: this.addresses?.grpc.port ?? 0,
        tls: this.ingest.security?.tls ?? false,
        fingerprint: this.config.grpc_tls.cert_file ? '' : (this.ingest.security?.fingerprint ?? ''),
        releaseKey: this.#releases?.publicKeyBase64() ?? '',
      }),
      enrollment: this.auth.enrollment,
      tokens: this.ingest.tokens,
      audit: this.auth.audit,
    });
    if (this.#alerts) await app.register(alertsApi, { alerts: this.#alerts, audit: this.auth.audit });
    if (this.#monitors) await app.register(monitorsApi, { monitors: this.#monitors });
    const statusHtml = join(this.config.web_root, 'status.html');
    const statusPage = carried?.get('status.html') ?? (existsSync(statusHtml) ? statusHtml : undefined);
    await app.register(statusPagesApi, {
      pages: new StatusPageService({
        repo: new StatusPageRepository(this.meta),
        store,
        agents: registry,
        monitors: this.#monitors && monitorDirectory(this.#monitors),
        offlineAfterIntervals: this.config.offline_after_intervals,
      }),
      html: statusPage
        ? (reply) =>
            reply
              .type('text/html; charset=utf-8')
              .header('cache-control', 'no-cache')
              .send(typeof statusPage === 'string' ? createReadStream(statusPage) : statusPage)
        : undefined,
    });
    app.get('/api/openapi.json', { config: { minRole: 'viewer' }, schema: { hide: true } }, async () => app.swagger());
    app.get('/healthz', { config: { public: true }, schema: { hide: true } }, async () => ({ status: 'ok' }));
    app.get('/metrics', { config: { minRole: 'viewer' }, schema: { hide: true } }, async (_req, reply) => {
      reply.header('content-type', EXPOSITION_CONTENT_TYPE);
      const [st, logs] = await Promise.all([this.#statsOf(this.store), this.#statsOf(this.logs)]);
      return this.#selfMetrics(st, logs);
    });
    if (hasWeb) {
      const webRoot = this.config.web_root;
      // The dashboard's files are public: the sign-in page must load before anyone is signed in.
      await app.register(async (scope) => {
        scope.addHook('onRoute', (r) => {
          r.config = { ...(r.config as object), public: true };
        });
        if (carried) serveBundledWeb(scope, carried);
        else
          await scope.register(fastifyStatic, {
            root: webRoot,
            wildcard: false,
            index: 'index.html',
            // Vite names what it builds under assets/ by its content: a new build is a new name, so a browser
            // keeps them and asks again only for the page (no-cache) and the icons.
            setHeaders: (reply, path) => {
              if (path.startsWith(join(webRoot, 'assets'))) reply.header('cache-control', 'public, max-age=31536000, immutable');
            },
          });
      });
    } else {
      this.log.warn({ webRoot: this.config.web_root }, 'dashboard not built; run npm run build to serve it');
    }
    return app;
  }

  /** The PostgreSQL databases in use (metadata, sample store), for the log and /metrics while one is away. */
  readonly #startedMs = Date.now();

  /**
   * Whether this node evaluates the alerts of an agent (or of a sender key): an agent's whose
   * stream is here, not one another node holds, and of the rest those rendezvous hashing over the
   * live nodes gives this one (cluster/owner.ts). Until the bus is up, everything is this node's.
   */
  #ownsHere(key: string): boolean {
    const cluster = this.#cluster;
    const registry = this.#registry;
    if (!cluster || !registry) return true;
    if (registry.heldHere(key)) return true;
    if (registry.holderOf(key) !== undefined) return false;
    return ownerOf(key, cluster.liveNodes()) === cluster.node;
  }

  /** What this node says of itself to the cluster and on GET /api/cluster. */
  #nodeInfo(): NodeInfo {
    let agents = 0;
    for (const a of this.#registry?.list() ?? []) if (a.connected) agents++;
    return {
      http: this.#externalUrl,
      version: FALCONET_VERSION,
      startedMs: this.#startedMs,
      agents,
      databases: this.#databaseHealth().map((h) => ({ role: h.role, up: h.up, reason: h.reason })),
    };
  }

  /** GET /api/cluster of a server that is alone. */
  #aloneStatus(): ClusterStatus {
    const node = this.config.cluster.node || `${hostname()}:${this.addresses?.http.port ?? 0}`;
    return {
      enabled: false,
      cluster: '',
      node,
      bus: { servers: [], connected: false },
      nodes: [{ node, self: true, heardMs: Date.now(), watching: this.live.watched().size, ...this.#nodeInfo() }],
    };
  }

  #databaseHealth(): DatabaseHealth[] {
    const store = this.#store as { health?: unknown } | undefined;
    return [this.#meta?.health, store?.health instanceof DatabaseHealth ? store.health : undefined].filter(
      (h): h is DatabaseHealth => h !== undefined,
    );
  }

  readonly #loopDelay = monitorEventLoopDelay({ resolution: 10 });
  readonly #lastStats = new Map<object, unknown>();

  /**
   * A store's figures for /metrics; while its database is unreachable, the last ones read, so a
   * scrape still answers (with `falconet_server_database_up 0`) through the outage.
   */
  async #statsOf<T>(store: { stats(): Promise<T> }): Promise<T> {
    try {
      const st = await store.stats();
      this.#lastStats.set(store, st);
      return st;
    } catch (err) {
      if (!isDatabaseUnavailable(err) || !this.#lastStats.has(store)) throw err;
      return this.#lastStats.get(store) as T;
    }
  }

  #selfMetrics(st: StoreStats, logs: LogStoreStats): string {
    const c = this.counters;
    const agents = this.registry.list();
    const online = agents.filter((a) => a.status === 'online').length;
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const text = renderExposition([
      {
        name: 'falconet_server_reports_total',
        help: 'Agent reports stored.',
        type: 'counter',
        metrics: [{ labels: {}, value: c.reports }],
      },
      { name: 'falconet_server_samples_total', help: 'Samples stored.', type: 'counter', metrics: [{ labels: {}, value: c.samples }] },
      {
        name: 'falconet_server_reports_duplicate_total',
        help: 'Reports dropped as already stored (same agent and sequence).',
        type: 'counter',
        metrics: [{ labels: {}, value: c.duplicates }],
      },
      ...(this.#databaseHealth().length
        ? [
            {
              name: 'falconet_server_database_up',
              help: 'Whether the PostgreSQL database answers (0 while it is away: reports are not acknowledged, the API answers 503).',
              type: 'gauge' as const,
              metrics: this.#databaseHealth().map((h) => ({ labels: { role: h.role }, value: h.up ? 1 : 0 })),
            },
            {
              name: 'falconet_server_database_outages_total',
              help: 'Times the PostgreSQL database became unavailable since the server started.',
              type: 'counter' as const,
              metrics: this.#databaseHealth().map((h) => ({ labels: { role: h.role }, value: h.outages })),
            },
          ]
        : []),
      {
        name: 'falconet_server_reports_rejected_total',
        help: 'Agent reports refused (reasons in falconet_server_ingest_rejected_total).',
        type: 'counter',
        metrics: [{ labels: {}, value: c.rejected }],
      },
      { name: 'falconet_server_agent_streams', help: 'Open agent streams.', type: 'gauge', metrics: [{ labels: {}, value: c.streams }] },
      {
        name: 'falconet_server_agents',
        help: 'Known agents by status.',
        type: 'gauge',
        metrics: [
          { labels: { status: 'online' }, value: online },
          { labels: { status: 'offline' }, value: agents.length - online },
        ],
      },
      {
        name: 'falconet_server_live_clients',
        help: 'Open /api/live connections.',
        type: 'gauge',
        metrics: [{ labels: {}, value: this.live.size }],
      },
      ...(this.#cluster
        ? [
            {
              name: 'falconet_cluster_live_messages_total',
              help: 'Live view messages over the cluster bus: published (by kind), received, received but unreadable, and not sent (the bus away).',
              type: 'counter' as const,
              metrics: [
                ...Object.entries(this.#cluster.counts.published).map(([kind, value]) => ({
                  labels: { direction: 'published', kind },
                  value,
                })),
                { labels: { direction: 'received' }, value: this.#cluster.counts.received },
                { labels: { direction: 'malformed' }, value: this.#cluster.counts.malformed },
                { labels: { direction: 'dropped' }, value: this.#cluster.counts.dropped },
              ],
            },
          ]
        : []),
      ...c.families(),
      {
        name: 'falconet_store_bytes',
        help: 'Bytes on disk of the samples store, by tier (raw, 1m, 1h) and write-ahead log.',
        type: 'gauge',
        metrics: Object.entries(st.bytes).map(([tier, value]) => ({ labels: { tier }, value })),
      },
      {
        name: 'falconet_store_rows',
        help: 'Samples (raw) or rollup rows (1m, 1h) in the store.',
        type: 'gauge',
        metrics: Object.entries(st.samples).map(([tier, value]) => ({ labels: { tier }, value })),
      },
      { name: 'falconet_store_series', help: 'Series known to the store.', type: 'gauge', metrics: [{ labels: {}, value: st.series }] },
      ...(st.maxSeries !== undefined
        ? [
            {
              name: 'falconet_store_series_limit',
              help: 'Live series past which samples of new series are refused (store.max_series; 0: no bound).',
              type: 'gauge' as const,
              metrics: [{ labels: {}, value: st.maxSeries }],
            },
            {
              name: 'falconet_store_new_series_refused_samples_total',
              help: 'Samples refused because their series would have been new past store.max_series.',
              type: 'counter' as const,
              metrics: [{ labels: {}, value: st.refusedSamples ?? 0 }],
            },
          ]
        : []),
      {
        name: 'falconet_store_writable',
        help: 'Whether the samples store takes reports: 0 while its data directory is full (the server log says why).',
        type: 'gauge',
        metrics: [{ labels: {}, value: st.unwritable === undefined ? 1 : 0 }],
      },
      {
        name: 'falconet_log_store_bytes',
        help: 'Bytes on disk of the log store.',
        type: 'gauge',
        metrics: [{ labels: {}, value: logs.bytes }],
      },
      {
        name: 'falconet_log_store_lines',
        help: 'Log lines in the log store.',
        type: 'gauge',
        metrics: [{ labels: {}, value: logs.lines }],
      },
      ...(this.#syslog
        ? [
            {
              name: 'falconet_syslog_messages_total',
              help: 'Syslog messages received, by what became of them (stored, malformed: dropped, truncated: stored cut).',
              type: 'counter' as const,
              metrics: (['received', 'stored', 'malformed', 'truncated'] as const).map((outcome) => ({
                labels: { outcome },
                value: this.#syslog?.counts[outcome] ?? 0,
              })),
            },
          ]
        : []),
      {
        name: 'falconet_store_head_samples',
        help: 'Samples held in memory and the write-ahead log, not yet in parts.',
        type: 'gauge',
        metrics: [{ labels: {}, value: st.headSamples ?? 0 }],
      },
      {
        name: 'falconet_store_appends_total',
        help: 'Reports appended to the store.',
        type: 'counter',
        metrics: [{ labels: {}, value: st.appends ?? 0 }],
      },
      {
        name: 'falconet_store_append_seconds_total',
        help: 'Time reports spent from append to durable, summed (divide by appends for the average).',
        type: 'counter',
        metrics: [{ labels: {}, value: st.appendSeconds ?? 0 }],
      },
      {
        name: 'falconet_store_wal_syncs_total',
        help: 'Disk syncs of the write-ahead log; each covers every report waiting at the time.',
        type: 'counter',
        metrics: [{ labels: {}, value: st.walSyncs ?? 0 }],
      },
      {
        name: 'falconet_server_event_loop_delay_seconds',
        help: 'Event loop delay of the main thread since the previous scrape.',
        type: 'gauge',
        metrics: [
          { labels: { quantile: '0.5' }, value: this.#loopDelay.percentile(50) / 1e9 },
          { labels: { quantile: '0.99' }, value: this.#loopDelay.percentile(99) / 1e9 },
          { labels: { quantile: '1' }, value: this.#loopDelay.max / 1e9 },
        ],
      },
      {
        name: 'falconet_store_compactions_total',
        help: 'Merges of parts completed.',
        type: 'counter',
        metrics: [{ labels: {}, value: st.compactions ?? 0 }],
      },
      {
        name: 'falconet_store_samples_out_of_bounds_total',
        help: 'Samples refused because their time was older than raw retention or more than an hour ahead.',
        type: 'counter',
        metrics: [{ labels: {}, value: st.outOfBounds ?? 0 }],
      },
      {
        name: 'process_resident_memory_bytes',
        help: 'Resident memory size in bytes.',
        type: 'gauge',
        metrics: [{ labels: {}, value: mem.rss }],
      },
      {
        name: 'nodejs_heap_size_used_bytes',
        help: 'V8 heap in use, in bytes.',
        type: 'gauge',
        metrics: [{ labels: {}, value: mem.heapUsed }],
      },
      {
        name: 'nodejs_heap_size_total_bytes',
        help: 'V8 heap reserved (in use and free), in bytes.',
        type: 'gauge',
        metrics: [{ labels: {}, value: mem.heapTotal }],
      },
      {
        name: 'nodejs_external_memory_bytes',
        help: 'Memory outside the V8 heap held by JavaScript objects (buffers, typed arrays), in bytes.',
        type: 'gauge',
        metrics: [{ labels: {}, value: mem.external }],
      },
      ...(st.workers
        ? [
            {
              name: 'falconet_store_worker_memory_bytes',
              help: "A store worker thread's own memory after its last job: V8 heap in use, heap reserved, and off-heap buffers.",
              type: 'gauge' as const,
              metrics: st.workers.flatMap((w) => [
                { labels: { worker: w.name, kind: 'heap_used' }, value: w.heapUsed },
                { labels: { worker: w.name, kind: 'heap_total' }, value: w.heapTotal },
                { labels: { worker: w.name, kind: 'external' }, value: w.external },
              ]),
            },
          ]
        : []),
      {
        name: 'process_cpu_seconds_total',
        help: 'Total user and system CPU time spent in seconds.',
        type: 'counter',
        metrics: [{ labels: {}, value: (cpu.user + cpu.system) / 1e6 }],
      },
      ...this.tasks.metricFamilies(),
      ...(this.#alerts?.metricFamilies() ?? []),
      ...(this.#monitors?.metricFamilies() ?? []),
      ...(this.#remoteWriteOut?.metricFamilies() ?? []),
    ]);
    this.#loopDelay.reset();
    return text;
  }

  async stop(): Promise<void> {
    await this.#cluster?.stop();
    this.#cluster = undefined;
    clearInterval(this.#purge);
    clearInterval(this.#trafficFeed);
    clearInterval(this.#firstUserWatch);
    const http = this.#http;
    this.#http = undefined;
    await http?.close();
    const ingest = this.#ingest;
    this.#ingest = undefined;
    await ingest?.stop();
    await this.#syslog?.close();
    this.#syslog = undefined;
    await this.#remoteWriteOut?.stop();
    this.#remoteWriteOut = undefined;
    await this.#registry?.close();
    await this.#tasks?.stop();
    this.#tasks = undefined;
    await this.#updates?.settled().catch(() => undefined);
    this.#updates = undefined;
    await this.#monitors?.stop();
    this.#monitors = undefined;
    await this.#alerts?.stop();
    this.#alerts = undefined;
    await this.#store?.close();
    await this.#logs?.close();
    this.#logs = undefined;
    await this.#meta?.close();
    this.#store = undefined;
    this.#meta = undefined;
  }
}
