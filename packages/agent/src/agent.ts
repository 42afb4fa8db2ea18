import { join } from 'node:path';
import type { pb, Sample } from '@falconet/protocol';
import { listenError, StartupError } from '@falconet/protocol/cli';
import { renderExposition } from '@falconet/protocol/exposition';
import type { LogOutput } from '@falconet/protocol/log';
import type { Logger } from 'pino';
import { buildInfo } from './build-info.ts';
import { type Collection, CollectorSet, type CollectorSource, type SlotSchedule, selectCollectors } from './collection.ts';
import { type CollectorDefinition, loadCollectorDefinitions } from './collectors/registry.ts';
import type { AgentConfig } from './config.ts';
import { ConfigError, parseHostPort, parseServerUrls, type ServerAddress } from './config-base.ts';
import { ContainerSummary } from './containers/summary.ts';
import type { Exporter } from './exporter/server.ts';
import { ADDRESS_CHECK_MS, type AgentIdentity, describeHost, refreshAddresses } from './identity.ts';
import { logsFamilies } from './logs/metrics.ts';
import type { LogShipper } from './logs/shipper.ts';
import { familiesToSamples, type MetricFamily } from './metrics.ts';
import type { TransferOutput } from './outputs/transfer.ts';
import { AssignedProbes } from './probes/assigned.ts';
import type { ProbeRunner } from './probes/runner.ts';
import { ReportInterval, type ReportIntervalSettings } from './runtime/report-interval.ts';
import { trimCHeap } from './runtime/startup-pages.ts';
import { EventLoopLag, registerProcessMetrics, SelfMetrics } from './selfmetrics.ts';
import { HostSummary, SUMMARY_METRICS } from './summary.ts';
import type { AgentTasks } from './tasks/service.ts';
import { seconds } from './transport/diagnose.ts';
import { transportFamilies } from './transport/metrics.ts';
import type { Spool } from './transport/spool.ts';
import type { ReportStream, ReportStreamOptions } from './transport/stream.ts';
import type { StagedUpdate } from './update/updater.ts';

export interface AgentOptions {
  /** The logger's output, so a reload can change log format and file. */
  logOutput?: LogOutput | undefined;
  /** Whether the console is in use (not when running as a daemon). */
  console?: boolean;
  /** A verified update is staged: the process stops the agent and runs the trial (runtime/run.ts). */
  onUpdateStaged?(update: StagedUpdate): void;
}

/** What a configuration change did: keys applied now, keys that need a restart. */
export interface ReloadOutcome {
  changed: string[];
  restartNeeded: string[];
}

/** Keys a running agent cannot change: they name its identity and files. */
const RESTART_KEYS = ['data_dir', 'pidfile', 'transfer'];
/** Keys the agent applies live; a key under none of these (a module's new section) needs a restart until that module handles it. */
const LIVE_KEYS = [
  'server',
  'listen',
  'web',
  'interval',
  'report',
  'labels',
  'log',
  'debug',
  'collectors',
  'collection',
  'plugins',
  'procfs',
  'shutdown',
  'reload',
  'probes',
];

/** Leaf paths whose values differ between two configurations. */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix || '(root)'];
}

/** What /metrics keeps of the agent's own series under web.disable_exporter_metrics. */
const BUILD_INFO_ONLY: ReadonlySet<string> = new Set(['falconet_agent_build_info']);

const under = (path: string, keys: readonly string[]) => keys.some((k) => path === k || path.startsWith(`${k}.`));

function intervalSettings(cfg: AgentConfig): ReportIntervalSettings {
  const r = cfg.report;
  return {
    baseMs: cfg.interval,
    minMs: r.min_interval,
    maxMs: r.max_interval,
    dynamic: r.dynamic,
    busy: { cpuPercent: r.busy.cpu_percent, loadPerCpu: r.busy.load_per_cpu },
    idle: { cpuPercent: r.idle.cpu_percent, loadPerCpu: r.idle.load_per_cpu },
    hold: r.hold,
  };
}

/** The collection sources a configuration asks for, with their schedules. */
interface SourcePlan {
  sources: CollectorSource[];
  schedule: Map<string, Partial<SlotSchedule>>;
  pluginErrors: string[];
}

/**
 * The running agent: one collector set feeding two outputs, the /metrics exporter (on each
 * scrape) and the report stream to the server (on the dynamic report interval). Everything a
 * configuration sets can change while it runs (`applyConfig`), except its identity and files.
 */
export class Agent {
  #config: AgentConfig;
  readonly #log: Logger;
  readonly #opts: AgentOptions;
  readonly selfMetrics = new SelfMetrics();
  readonly #lag = new EventLoopLag();
  #collectors: CollectorSet | undefined;
  #exporter: Exporter | undefined;
  /** Scrapers cut for sending their request too slowly, across exporter restarts. */
  #exporterCuts = 0;
  #stream: ReportStream | undefined;
  #streamOpts: ReportStreamOptions | undefined;
  #spool: Spool | undefined;
  #logs: LogShipper | undefined;
  #probes: ProbeRunner | undefined;
  /** Probes the server's monitors assign this agent, run beside the config's. */
  #assigned: AssignedProbes;
  /** Whether the collection in force has the probes source (so a new assignment needs no new plan). */
  #probesPlanned = false;
  #transfer: TransferOutput | undefined;
  #tasks: AgentTasks | undefined;
  #timer: NodeJS.Timeout | undefined;
  #addressCheck: NodeJS.Timeout | undefined;
  #lastReportStart = 0;
  #reporting: Promise<void> | undefined;
  #stopped = false;
  readonly #interval: ReportInterval;
  readonly #summary = new HostSummary();
  readonly #containerSummary = new ContainerSummary();
  #debugReports = 0;
  /** Per slot, the run last sent in a report: a slot on a long interval is sent once per run, not once per report. */
  readonly #reported = new Map<string, number>();
  #builtIn: CollectorDefinition[] | undefined;
  /** Exec plugin sources by their configuration, so an unchanged plugin keeps its slot across reloads. */
  #execSources = new Map<string, CollectorSource>();
  #pluginErrors: string[] = [];
  readonly #reloads = { success: 0, failure: 0, lastOk: true, lastSuccessSeconds: Date.now() / 1000 };
  identity: AgentIdentity | undefined;
  exporterAddress: { host: string; port: number } | undefined;

  constructor(config: AgentConfig, log: Logger, opts: AgentOptions = {}) {
    this.#config = config;
    this.#log = log;
    this.#opts = opts;
    this.#interval = new ReportInterval(intervalSettings(config));
    this.#assigned = new AssignedProbes(log.child({ component: 'probes' }));
  }

  /** The probes the server assigned, as last taken (docs/probes.md#monitors). */
  get assignedProbes(): AssignedProbes {
    return this.#assigned;
  }

  get config(): AgentConfig {
    return this.#config;
  }

  get stream(): ReportStream | undefined {
    return this.#stream;
  }

  get reportInterval(): ReportInterval {
    return this.#interval;
  }

  /** Plugin files that did not load at the last (re)load, one line each naming the file. */
  get pluginErrors(): readonly string[] {
    return this.#pluginErrors;
  }

  /** Creates the collectors (and plugins) without any output: what `once` needs. */
  async openCollectors(): Promise<void> {
    const cfg = this.#config;
    const plan = await this.#plan(cfg);
    this.#reportPluginErrors(plan.pluginErrors);
    this.#collectors = new CollectorSet(plan.sources, {
      roots: cfg.procfs,
      log: this.#log,
      timeoutMs: cfg.collection.timeout,
      concurrency: cfg.collection.concurrency,
      schedule: (name) => plan.schedule.get(name),
      config: cfg,
    });
  }

  async start(): Promise<void> {
    const cfg = this.#config;
    await this.openCollectors();
    const server = cfg.server.url ? parseServerUrls(cfg.server.url)[0] : undefined;
    if (!server && !cfg.listen && !cfg.transfer) {
      throw new StartupError('nothing to do: no --server to report to, no --transfer sink and --listen is empty');
    }
    this.identity = await describeHost(cfg.data_dir, server);
    this.#registerSelfMetrics();
    this.#lag.start();

    if (cfg.listen) await this.#listen(cfg.listen);
    if (server || cfg.tasks.backend === 'etcd') await this.#startTasks();
    if (server) await this.#startStream(server);
    if (cfg.logs.sources.length && !server) this.#log.warn('logs.sources are set but there is no server.url: logs are not read');
    if (cfg.transfer) await this.#startTransfer(cfg.transfer);
    if (!server && !cfg.transfer) this.#log.info('no --server given: exporter-only');
    else this.#schedule(0);
  }

  /** One collection for /metrics, the reports or `once`; see CollectorSet for how runs are shared. */
  async collect(opts: { maxAgeMs?: number } = {}): Promise<Collection> {
    if (!this.#collectors) throw new Error('agent not started');
    const c = await this.#collectors.collect(opts);
    trimCHeap();
    return c;
  }

  /** The /metrics body: the collection plus the agent's own metrics. */
  async scrape(): Promise<string> {
    return renderExposition(await this.#exportFamilies());
  }

  /** What /metrics shows: the collection plus the agent's own metrics. */
  async #exportFamilies(): Promise<MetricFamily[]> {
    const c = await this.collect({ maxAgeMs: this.#config.collection.max_age });
    // As node_exporter's --web.disable-exporter-metrics: its build info stays, its own process metrics go.
    return [...c.families, ...this.selfMetrics.families(this.#config.web.disable_exporter_metrics ? BUILD_INFO_ONLY : undefined)];
  }

  // --- sources ------------------------------------------------------------------------------

  async #plan(cfg: AgentConfig): Promise<SourcePlan> {
    this.#builtIn ??= await loadCollectorDefinitions();
    let modules: CollectorDefinition[] = [];
    let pluginErrors: string[] = [];
    if (cfg.plugins.dir) {
      const { loadModulePlugins } = await import('./plugins/modules.ts');
      const loaded = await loadModulePlugins(cfg.plugins.dir, new Set(this.#builtIn.map((d) => d.name)));
      modules = loaded.definitions;
      pluginErrors = loaded.errors;
    }
    const chosen = selectCollectors([...this.#builtIn, ...modules], cfg.collectors);
    const schedule = new Map<string, Partial<SlotSchedule>>();
    for (const [name, setting] of Object.entries(cfg.collectors)) {
      if (typeof setting === 'object') schedule.set(name, { intervalMs: setting.interval, timeoutMs: setting.timeout });
    }
    const sources: CollectorSource[] = [...chosen];
    const execSources = new Map<string, CollectorSource>();
    const enabledExec = cfg.plugins.exec.filter((p) => p.enabled);
    if (enabledExec.length) {
      const { execPluginSource } = await import('./plugins/exec.ts');
      for (const p of enabledExec) {
        const key = JSON.stringify(p);
        const source = this.#execSources.get(key) ?? execPluginSource(p);
        execSources.set(key, source);
        sources.push(source);
        // The plugin kills its command at its own timeout; the slot waits a little longer to see that happen.
        schedule.set(source.name, { intervalMs: p.interval, timeoutMs: p.timeout + 1000 });
      }
    }
    this.#execSources = execSources;
    const probes = this.#assigned.merge(cfg.probes);
    if (probes.length) {
      if (!this.#probes) {
        const { ProbeRunner } = await import('./probes/runner.ts');
        this.#probes = new ProbeRunner(this.#log.child({ component: 'probes' }));
      }
      this.#probes.configure(probes);
      sources.push(this.#probes.source);
    } else this.#probes?.configure([]);
    this.#probesPlanned = probes.length > 0;
    return { sources, schedule, pluginErrors };
  }

  #useSources(p: SourcePlan, cfg: AgentConfig): void {
    this.#collectors?.replace(p.sources, {
      roots: cfg.procfs,
      timeoutMs: cfg.collection.timeout,
      concurrency: cfg.collection.concurrency,
      schedule: (name) => p.schedule.get(name),
      config: cfg,
    });
  }

  /** A new set of assigned probes: the runner takes it, or the collection is planned again to add or drop the probes source. */
  async #onProbeAssignment(a: pb.ProbeAssignment): Promise<void> {
    if (await this.#assigned.take(a)) await this.#applyAssigned();
  }

  async #applyAssigned(): Promise<void> {
    if (this.#stopped) return;
    const cfg = this.#config;
    const probes = this.#assigned.merge(cfg.probes);
    if (this.#probesPlanned && probes.length > 0) {
      this.#probes?.configure(probes);
      return;
    }
    try {
      this.#useSources(await this.#plan(cfg), cfg);
    } catch (err) {
      this.#log.error({ err }, 'assigned probes not started');
    }
  }

  #reportPluginErrors(errors: string[]): void {
    this.#pluginErrors = errors;
    for (const e of errors) this.#log.error({ plugin: e }, 'collector plugin not loaded');
  }

  // --- outputs ------------------------------------------------------------------------------

  /** Binds the exporter to `listen`; on a reload the old one closes only once the new one listens. */
  async #listen(listen: string, previous?: string): Promise<void> {
    const { host, port } = parseHostPort(listen, 'listen address');
    const { Exporter } = await import('./exporter/server.ts');
    const make = (h: string, p: number) =>
      new Exporter({
        host: h,
        port: p,
        log: this.#log,
        collect: () => this.#exportFamilies(),
        gzipLevel: () => this.#config.web.gzip_level,
        requestTimeoutMs: this.#config.web.request_timeout,
        onCut: () => {
          this.#exporterCuts++;
        },
      });
    let old = this.#exporter;
    // The same port on another address would collide with the old socket: free it first.
    if (old && previous && port !== 0 && parseHostPort(previous, 'listen address').port === port) {
      await old.close();
      old = undefined;
    }
    const exporter = make(host, port);
    try {
      const addr = await exporter.listen();
      this.exporterAddress = { host: addr.address, port: addr.port };
    } catch (err) {
      if (previous && !old && this.#exporter) {
        const p = parseHostPort(previous, 'listen address');
        const back = make(p.host, p.port);
        await back.listen().then(
          () => {
            this.#exporter = back;
          },
          () => {
            this.#exporter = undefined;
          },
        );
      }
      throw listenError(err, previous ? 'listen' : '--listen', listen);
    }
    this.#exporter = exporter;
    await old?.close();
    this.#log.info({ address: `${host}:${this.exporterAddress.port}`, collectors: this.#collectors?.names }, 'exporter listening');
  }

  async #startStream(server: ServerAddress): Promise<void> {
    const cfg = this.#config;
    const [{ ReportStream }, { SequenceCounter }, { Spool }, { Updater }, { selfBinary }] = await Promise.all([
      import('./transport/stream.ts'),
      import('./transport/sequence.ts'),
      import('./transport/spool.ts'),
      import('./update/updater.ts'),
      import('./update/self.ts'),
    ]);
    const updater = new Updater({
      config: cfg.update,
      dataDir: cfg.data_dir,
      log: this.#log,
      self: selfBinary(),
      onStaged: (update) => {
        if (this.#opts.onUpdateStaged) this.#opts.onUpdateStaged(update);
        else this.#log.warn({ next: update.next }, 'an update was staged, but this process cannot run its trial');
      },
    });

    const identity = this.identity as AgentIdentity;
    this.#spool = await Spool.open({
      dir: join(cfg.data_dir, 'spool'),
      maxBytes: cfg.spool.max_bytes,
      maxAgeMs: cfg.spool.max_age,
      segmentBytes: cfg.spool.segment_bytes,
      log: this.#log.child({ component: 'spool' }),
    });
    // Read before anything of this run is spooled: the log shipper decides from it whether its
    // last batch before a crash reached the spool.
    const spoolLastSeq = this.#spool.lastSeq;
    const tls = cfg.transport.tls;
    this.#streamOpts = {
      backlog: this.#spool,
      gzip: cfg.transport.gzip,
      compact: cfg.transport.compact,
      encrypt: cfg.transport.encrypt,
      maxInFlight: cfg.transport.max_in_flight,
      tls: {
        mode: server.scheme === 'grpcs' ? 'on' : server.scheme === 'grpc' ? 'off' : 'auto',
        caFile: tls.ca_file,
        fingerprint: tls.fingerprint,
        serverName: tls.server_name,
        allowPlaintext: tls.allow_plaintext,
      },
      address: server,
      addresses: parseServerUrls(this.#config.server.url),
      identity,
      labels: cfg.labels,
      token: cfg.server.token,
      // The longest the agent stays silent, so the server's presence check allows for an idle host's pace.
      intervalMs: this.#interval.longestMs,
      log: this.#log,
      sequence: new SequenceCounter(cfg.data_dir),
      onHint: (ms) => this.#onHint(ms),
      refreshIdentity: () => this.#refreshAddresses(identity, server),
      onTask: (task) => this.#tasks?.onTask(task),
      onRegistered: (reg) => {
        this.#tasks?.onRegistered(reg);
        this.#assigned.registered(() => void this.#applyAssigned());
      },
      onTaskOutputAck: (ack) => this.#tasks?.onAck(ack),
      updateInfo: () => updater.registerInfo(),
      onUpdateOffer: (offer) => updater.onOffer(offer),
      onUpdateChunk: (chunk) => updater.onChunk(chunk),
      onProbeAssignment: (a) => void this.#onProbeAssignment(a),
      onStreamReady: () => updater.onRegistered(),
      onAck: (seq) => updater.onAck(seq),
    };
    this.#stream = new ReportStream(this.#streamOpts);
    updater.attach(this.#stream);
    this.#tasks?.attach(this.#stream);
    this.#stream.start();
    if (cfg.logs.sources.length) await this.#startLogs(this.#stream, spoolLastSeq);
    this.#addressCheck = setInterval(() => {
      void this.#refreshAddresses(identity, server).then((changed) => {
        if (changed) this.#stream?.reregister('the host addresses changed');
      });
    }, ADDRESS_CHECK_MS);
    this.#addressCheck.unref();
    this.#log.info(
      { server: cfg.server.url, agentId: identity.agentId, intervalMs: this.#interval.currentMs, dynamic: cfg.report.dynamic },
      'reporting to server',
    );
  }

  async #startLogs(stream: ReportStream, spoolLastSeq: number): Promise<void> {
    const { LogShipper } = await import('./logs/shipper.ts');
    const cfg = this.#config;
    this.#logs = new LogShipper({
      config: cfg.logs,
      dir: join(cfg.data_dir, 'logs'),
      sink: stream,
      spoolLastSeq,
      log: this.#log.child({ component: 'logs' }),
    });
    await this.#logs.start();
    this.#log.info({ sources: cfg.logs.sources.map((s) => s.name) }, 'shipping logs');
  }

  /** Reads the host's addresses again; logs and returns whether they changed. */
  async #refreshAddresses(identity: AgentIdentity, server: ServerAddress): Promise<boolean> {
    const was = identity.primaryIp;
    const changed = await refreshAddresses(identity, server);
    if (changed) this.#log.info({ was, primaryIp: identity.primaryIp, ips: identity.ips }, 'host addresses changed');
    return changed;
  }

  /** Commands and cron jobs from the server: off unless `tasks.enabled` (docs/tasks.md). */
  async #startTasks(): Promise<void> {
    const cfg = this.#config;
    const identity = this.identity as AgentIdentity;
    const { AgentTasks } = await import('./tasks/service.ts');
    try {
      this.#tasks = new AgentTasks({
        config: cfg.tasks,
        dataDir: cfg.data_dir,
        agentId: identity.agentId,
        hostname: identity.hostname,
        log: this.#log,
      });
    } catch (err) {
      throw new StartupError((err as Error).message);
    }
    await this.#tasks.start();
  }

  get tasks(): AgentTasks | undefined {
    return this.#tasks;
  }

  async #startTransfer(transfer: string): Promise<void> {
    const { TransferOutput } = await import('./outputs/transfer.ts');
    const { host, port } = parseHostPort(transfer, '--transfer');
    this.#transfer = new TransferOutput({
      host: host === '0.0.0.0' ? '127.0.0.1' : host,
      port,
      endpoint: (this.identity as AgentIdentity).hostname,
      stepSeconds: this.#interval.currentMs / 1000,
      log: this.#log.child({ component: 'transfer' }),
    });
    this.#transfer.start();
    this.#log.info({ transfer }, 'writing Open-Falcon lines to the transfer sink');
  }

  /**
   * Re-registers with new address, token or labels on the same stream object, so reports queued
   * for the server stay queued: the options are read at each connect.
   */
  async #restartStream(server: ServerAddress): Promise<void> {
    const stream = this.#stream;
    const opts = this.#streamOpts;
    if (!stream || !opts) return;
    Object.assign(opts, {
      address: server,
      addresses: parseServerUrls(this.#config.server.url),
      tls: {
        ...opts.tls,
        mode: server.scheme === 'grpcs' ? 'on' : server.scheme === 'grpc' ? 'off' : 'auto',
        allowPlaintext: this.#config.transport.tls.allow_plaintext,
      },
      labels: this.#config.labels,
      token: this.#config.server.token,
      intervalMs: this.#interval.longestMs,
    });
    await stream.stop(0);
    stream.start();
    this.#log.info({ server: this.#config.server.url, queued: stream.queued }, 'reconnecting to the server with the new configuration');
  }

  #onHint(ms: number): void {
    const before = this.#interval.currentMs;
    this.#interval.hint(ms);
    if (this.#interval.currentMs !== before) {
      this.#log.info({ hintMs: ms, intervalMs: this.#interval.currentMs }, 'report interval changed by server hint');
      this.#reschedule();
    }
  }

  // --- reports ------------------------------------------------------------------------------

  async #report(): Promise<void> {
    const collection = await this.collect();
    const samples: Sample[] = [];
    for (const r of collection.results ?? []) {
      if (this.#reported.get(r.name) === r.run) continue;
      this.#reported.set(r.name, r.run);
      samples.push(...familiesToSamples(r.families, r.startedMs));
    }
    const slotFamilies = new Set((collection.results ?? []).flatMap((r) => r.families));
    samples.push(
      ...familiesToSamples(
        collection.families.filter((f) => !slotFamilies.has(f)),
        collection.timestampMs,
      ),
    );
    const summary = this.#summary.derive(collection);
    samples.push(...summary, ...this.#containerSummary.derive(collection));
    samples.push(...familiesToSamples(this.selfMetrics.families(), collection.timestampMs));
    if (this.#config.debug) {
      // `report` numbers the reports of this process: one report's samples carry several timestamps.
      const report = ++this.#debugReports;
      for (const s of samples) this.#log.info({ report, sample: s.name, labels: s.labels, value: s.value, ts: s.timestampMs }, 'sample');
    }
    this.#transfer?.write(samples);
    await this.#stream?.enqueue(samples);
    this.#observe(collection, summary);
  }

  /** Feeds the host's load to the dynamic interval. */
  #observe(c: Collection, summary: readonly Sample[]): void {
    const cpuPercent = summary.find((s) => s.name === SUMMARY_METRICS.cpuUsage)?.value;
    const cpus = summary.find((s) => s.name === SUMMARY_METRICS.cpuCount)?.value;
    const load1 = c.families.find((f) => f.name === 'node_load1')?.metrics[0]?.value;
    const before = this.#interval.currentMs;
    this.#interval.observe({ cpuPercent, loadPerCpu: load1 !== undefined && cpus ? load1 / cpus : undefined });
    const now = this.#interval.currentMs;
    if (now !== before) {
      // The figures that decided it, rounded as a person reads them; the earlier interval says what it was.
      const round = (v: number | undefined, digits: number) => (v === undefined ? undefined : Number(v.toFixed(digits)));
      this.#log.info(
        { intervalMs: now, previousMs: before, load: this.#interval.load, cpuPercent: round(cpuPercent, 0), load1: round(load1, 2) },
        `report interval ${seconds(before)} -> ${seconds(now)}: ${this.#interval.load === 'normal' ? 'host load back to normal' : `host ${this.#interval.load}`}`,
      );
    }
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped || (!this.#stream && !this.#transfer)) return;
    this.#timer = setTimeout(() => {
      this.#lastReportStart = Date.now();
      this.#reporting = this.#report()
        .catch((err: unknown) => this.#log.error({ err }, 'report failed'))
        .finally(() => {
          this.#reporting = undefined;
          this.#reschedule();
        });
    }, delayMs);
  }

  /** Plans the next report one interval after the last one started (now, if that is past). */
  #reschedule(): void {
    if (this.#reporting) return; // the running report schedules the next when it ends
    this.#schedule(Math.max(0, this.#lastReportStart + this.#interval.currentMs - Date.now()));
  }

  // --- reload -------------------------------------------------------------------------------

  /** Counts a reload that failed before reaching `applyConfig` (the file did not validate). */
  recordReloadFailure(): void {
    this.#reloads.failure++;
    this.#reloads.lastOk = false;
  }

  /**
   * Applies a new, already validated configuration without a restart. Throws (changing nothing)
   * when the configuration cannot work, such as an unknown collector name or no output at all.
   */
  async applyConfig(next: AgentConfig): Promise<ReloadOutcome> {
    const prev = this.#config;
    const changed = changedPaths(prev, next);
    const restartNeeded = changed.filter((p) => under(p, RESTART_KEYS) || !under(p, LIVE_KEYS));
    const touched = (...keys: string[]) => changed.some((p) => under(p, keys));
    try {
      if (!next.server.url && !next.listen) throw new ConfigError(['nothing to do: no server.url to report to and listen is empty']);
      // Validate everything that can fail before changing anything; the exporter's new address
      // is the one change that can still fail, so it goes first.
      const plan = touched('collectors', 'plugins', 'probes') ? await this.#plan(next) : undefined;
      if (touched('listen')) {
        if (next.listen) await this.#listen(next.listen, prev.listen || undefined);
        else {
          await this.#exporter?.close();
          this.#exporter = undefined;
          this.exporterAddress = undefined;
          this.#log.info('exporter closed (listen is empty)');
        }
      }

      this.#config = next;
      if (touched('log')) {
        this.#log.level = next.debug ? 'debug' : next.log.level;
        this.#opts.logOutput?.reconfigure({
          format: next.log.format,
          console: this.#opts.console !== false,
          file: next.log.file ? { path: next.log.file, maxBytes: next.log.max_size, maxFiles: next.log.max_files } : undefined,
        });
      }
      if (touched('debug')) this.#log.level = next.debug ? 'debug' : next.log.level;
      if (plan || touched('collection', 'procfs')) {
        const p = plan ?? (await this.#plan(next));
        if (plan) this.#reportPluginErrors(p.pluginErrors);
        this.#useSources(p, next);
      }
      if (touched('interval', 'report')) {
        this.#interval.reconfigure(intervalSettings(next));
        this.#reschedule();
      }
      if (touched('server', 'labels') || (touched('interval', 'report') && this.#streamOpts?.intervalMs !== this.#interval.longestMs)) {
        await this.#applyServer(prev, next);
      }
      this.#reloads.success++;
      this.#reloads.lastOk = true;
      this.#reloads.lastSuccessSeconds = Date.now() / 1000;
      return { changed, restartNeeded };
    } catch (err) {
      this.#config = prev;
      this.recordReloadFailure();
      throw err;
    }
  }

  async #applyServer(prev: AgentConfig, next: AgentConfig): Promise<void> {
    const server = next.server.url ? parseServerUrls(next.server.url)[0] : undefined;
    if (!server) {
      await this.#logs?.stop();
      this.#logs = undefined;
      const stream = this.#stream;
      this.#stream = undefined;
      this.#streamOpts = undefined;
      clearTimeout(this.#timer);
      if (stream) {
        this.#log.warn({ queued: stream.queued }, 'server.url removed: flushing and closing the report stream');
        await stream.stop(next.shutdown.flush_timeout);
      }
      await this.#spool?.close();
      this.#spool = undefined;
      if (this.#transfer) this.#reschedule();
      return;
    }
    if (!this.#stream) {
      await this.#startStream(server);
      this.#reschedule();
    } else if (
      prev.server.url !== next.server.url ||
      prev.server.token !== next.server.token ||
      changedPaths(prev.labels, next.labels).length
    ) {
      await this.#restartStream(server);
    } else if (this.#streamOpts) {
      this.#streamOpts.intervalMs = this.#interval.longestMs;
    }
  }

  // --- self-metrics -------------------------------------------------------------------------

  #registerSelfMetrics(): void {
    const m = this.selfMetrics;
    registerProcessMetrics(m);
    m.provide('transport', () =>
      transportFamilies({ stream: this.#stream?.stats, spool: this.#spool?.stats, transfer: this.#transfer?.stats }),
    );
    m.provide('logs', () => (this.#logs ? logsFamilies(this.#logs.stats, this.#spool?.stats.droppedLogRecords ?? 0) : []));
    m.gauge('falconet_agent_build_info', 'Version, commit and Node.js version of this agent; always 1.', () => {
      const b = buildInfo();
      return [[{ version: b.version, commit: b.commit, nodejs: b.node }, 1]];
    });
    m.gauge('falconet_agent_labels', 'The labels this agent is configured with, as an info metric; always 1.', () =>
      Object.keys(this.#config.labels).length ? [[this.#config.labels, 1]] : undefined,
    );
    m.counter(
      'falconet_agent_exporter_requests_cut_total',
      'Connections to /metrics cut because the client did not send its request within web.request_timeout.',
      () => this.#exporterCuts,
    );
    m.gauge('falconet_agent_event_loop_lag_seconds', 'How late the last event-loop probe ran.', () => this.#lag.lastSeconds);
    m.gauge('falconet_agent_event_loop_lag_max_seconds', 'The largest event-loop lag over the last minute.', () => this.#lag.maxSeconds);
    m.counter('falconet_agent_collector_errors_total', 'Collector runs that failed or timed out.', () =>
      [...(this.#collectors?.errorCounts() ?? [])].map(([collector, n]) => [{ collector }, n] as const),
    );
    m.gauge('falconet_agent_collector_interval_seconds', 'Minimum time between two runs of a collector; 0 runs at every collection.', () =>
      [...(this.#collectors?.schedules() ?? [])].map(([collector, s]) => [{ collector }, s.intervalMs / 1000] as const),
    );
    m.gauge(
      'falconet_agent_plugin_load_errors',
      'Plugin files that could not be loaded at the last (re)load.',
      () => this.#pluginErrors.length,
    );
    m.gauge('falconet_agent_report_interval_seconds', 'The report interval in effect.', () =>
      this.#stream ? this.#interval.currentMs / 1000 : undefined,
    );
    m.gauge('falconet_agent_report_host_load', 'The host load class the report interval follows (1 for the current one).', () =>
      this.#stream
        ? (['busy', 'normal', 'idle'] as const).map((load) => [{ load }, this.#interval.load === load ? 1 : 0] as const)
        : undefined,
    );
    m.gauge('falconet_agent_report_queue_depth', 'Reports waiting for the server to acknowledge them.', () => this.#stream?.queued);
    m.gauge('falconet_agent_config_last_reload_successful', 'Whether the last configuration reload succeeded.', () =>
      this.#reloads.lastOk ? 1 : 0,
    );
    m.gauge(
      'falconet_agent_config_last_reload_success_timestamp_seconds',
      'When the configuration was last loaded successfully.',
      () => this.#reloads.lastSuccessSeconds,
    );
    m.counter('falconet_agent_config_reloads_total', 'Configuration reloads by result.', () => [
      [{ result: 'success' }, this.#reloads.success],
      [{ result: 'failure' }, this.#reloads.failure],
    ]);
  }

  // --- shutdown -----------------------------------------------------------------------------

  /** Stops reporting, sends what is queued for up to `flushTimeoutMs`, closes the stream and the exporter. */
  async stop(flushTimeoutMs = this.#config.shutdown.flush_timeout): Promise<{ unsent: number }> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#addressCheck);
    this.#lag.stop();
    this.#probes?.stop();
    this.#assigned.stop();
    await this.#reporting;
    await this.#tasks?.stop();
    this.#tasks = undefined;
    // Before the stream: the batch gathered so far is spooled and the read positions saved.
    await this.#logs?.stop();
    this.#logs = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    let unsent = 0;
    if (stream) {
      // Only a connected stream is flushed (stream.stop): saying so otherwise would be a false promise.
      if (stream.queued > 0 && stream.state === 'connected') {
        this.#log.info(
          { queued: stream.queued, timeoutMs: flushTimeoutMs },
          `flushing queued reports, for at most ${seconds(flushTimeoutMs)}`,
        );
      }
      await stream.stop(flushTimeoutMs);
      unsent = stream.queued;
    }
    const transfer = this.#transfer;
    this.#transfer = undefined;
    await transfer?.stop();
    if (this.#spool) {
      if (unsent) this.#log.info({ unsent }, `${unsent} reports the server has not acknowledged stay in the spool for the next start`);
      await this.#spool.close();
      this.#spool = undefined;
    }
    await this.#exporter?.close();
    this.#exporter = undefined;
    return { unsent };
  }
}
