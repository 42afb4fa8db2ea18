/**
 * Simulated agents: many agents in one process, each on its own real gRPC stream to a real
 * server, sending generated samples every interval. Benchmarks and fault tests use it where
 * starting thousands of real agent processes is not possible.
 */
import { join } from 'node:path';
import { type AgentIdentity, ReportStream, Spool, type TlsSettings } from '@falconet/agent';
import type { Sample } from '@falconet/protocol';
import pino from 'pino';
import { MemorySequence } from './agent-channel.ts';
import { SampleLedger } from './ledger.ts';

export type SeriesGenerator = (agentIndex: number, timestampMs: number) => Sample[];

/** Simulated hosts booted a day (plus an hour per index, modulo a month) before this module loaded. */
const SIMULATION_START_MS = Date.now();

/** A small realistic host: summary gauges the dashboard shows, plus a few node_exporter counters. */
export const hostSummarySeries: SeriesGenerator = (i, t) => {
  const phase = (t / 60_000 + i) % (2 * Math.PI);
  const gauge = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value, timestampMs: t });
  return [
    gauge('falconet_cpu_usage_percent', 30 + 25 * Math.sin(phase) + (i % 7)),
    gauge('falconet_memory_used_percent', 40 + (i % 50)),
    gauge('falconet_disk_used_percent', 20 + (i % 60)),
    gauge('falconet_network_receive_bytes_per_second', 1e5 * (1 + Math.sin(phase))),
    gauge('falconet_network_transmit_bytes_per_second', 5e4 * (1 + Math.cos(phase))),
    gauge('falconet_uptime_seconds', 86_400 + (i % 720) * 3600 + (t - SIMULATION_START_MS) / 1000),
    gauge('node_load1', 1 + Math.sin(phase)),
    gauge('node_cpu_seconds_total', t / 1000, { cpu: '0', mode: 'user' }),
    gauge('node_cpu_seconds_total', t / 2000, { cpu: '0', mode: 'idle' }),
  ];
};

export interface SimulatorOptions {
  /** The server's gRPC address, HOST:PORT; several servers of a cluster separated by commas (each agent ranks them). */
  server: string;
  count: number;
  intervalMs: number;
  series?: SeriesGenerator;
  /** Prefix of agent ids and host names; ids are `${prefix}-${index}`. */
  prefix?: string;
  labels?: (index: number) => Record<string, string>;
  /** Overrides of the generated identity (addresses, OS...), per agent index. */
  identity?: (index: number) => Partial<Omit<AgentIdentity, 'agentId'>>;
  token?: (index: number) => string;
  /** Give each agent the real on-disk spool under `${spoolDir}/${id}` instead of a memory backlog. */
  spoolDir?: string;
  gzip?: boolean;
  encrypt?: boolean;
  tls?: Partial<TlsSettings>;
  maxInFlight?: number;
  /**
   * Keep a count and checksum of every generated sample (default true). Benchmarks turn it off:
   * hashing each sample costs more CPU than generating and sending it.
   */
  ledger?: boolean;
}

export class AgentSimulator {
  readonly streams: ReportStream[] = [];
  readonly #opts: SimulatorOptions;
  #timer: NodeJS.Timeout | undefined;
  readonly #spools: Spool[] = [];
  /** Samples generated so far, per agent index. */
  readonly generated: number[];
  /** Count and checksum of every sample generated, per agent index. */
  readonly ledgers: SampleLedger[];
  /** Reports that could not be spooled (should stay 0). */
  enqueueErrors = 0;
  /** The time stamp of every tick, in order. */
  readonly ticks: number[] = [];

  constructor(opts: SimulatorOptions) {
    this.#opts = opts;
    this.generated = new Array(opts.count).fill(0);
    this.ledgers = Array.from({ length: opts.count }, () => new SampleLedger());
  }

  /** Agent id of the simulated agent `index`. */
  id(index: number): string {
    return `${this.#opts.prefix ?? 'sim'}-${index}`;
  }

  /** Connects every agent and starts reporting; resolves once the streams exist (not once connected). */
  async start(): Promise<void> {
    const { server, count, intervalMs, prefix = 'sim', labels, token, spoolDir } = this.#opts;
    const addresses = server.split(',').map((one) => ({
      host: one.slice(0, one.lastIndexOf(':')),
      port: Number(one.slice(one.lastIndexOf(':') + 1)),
      tls: false,
    }));
    const log = pino({ level: 'silent' });
    for (let i = 0; i < count; i++) {
      const identity: AgentIdentity = {
        agentId: `${prefix}-${i}`,
        hostname: `${prefix}-host-${String(i).padStart(5, '0')}`,
        ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
        primaryIp: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        os: 'Simulated Linux',
        kernel: '6.1.0-sim',
        arch: 'x64',
        platform: 'linux',
        bootTimeMs: Date.now() - 86_400_000,
        ...this.#opts.identity?.(i),
      };
      let backlog: Spool | undefined;
      if (spoolDir) {
        backlog = await Spool.open({
          dir: join(spoolDir, identity.agentId),
          maxBytes: 64 * 1024 * 1024,
          maxAgeMs: 86_400_000,
          segmentBytes: 1024 * 1024,
          log,
        });
        this.#spools.push(backlog);
      }
      const stream = new ReportStream({
        address: addresses[0] as (typeof addresses)[number],
        addresses,
        backlog,
        gzip: this.#opts.gzip,
        encrypt: this.#opts.encrypt,
        tls: this.#opts.tls,
        maxInFlight: this.#opts.maxInFlight,
        identity,
        labels: labels?.(i) ?? { sim: 'true', group: `g${i % 10}` },
        token: token?.(i) ?? '',
        intervalMs,
        log,
        sequence: new MemorySequence(),
        maxQueuedReports: 10_000,
      });
      stream.start();
      this.streams.push(stream);
    }
    this.#timer = setInterval(() => this.tick(), intervalMs);
  }

  /** Generates and enqueues one report per agent, all stamped with the same time. */
  tick(t = Date.now()): void {
    const gen = this.#opts.series ?? hostSummarySeries;
    this.ticks.push(t);
    this.streams.forEach((s, i) => {
      const samples = gen(i, t);
      this.generated[i] = (this.generated[i] ?? 0) + samples.length;
      if (this.#opts.ledger !== false) {
        const ledger = this.ledgers[i] as SampleLedger;
        for (const x of samples) ledger.add(x.name, x.labels, x.timestampMs, x.value);
      }
      s.enqueue(samples).catch(() => {
        this.enqueueErrors++;
      });
    });
  }

  /** Stops generating reports; the streams go on delivering what is queued. */
  stopTicking(): void {
    clearInterval(this.#timer);
  }

  get connected(): number {
    return this.streams.filter((s) => s.state === 'connected').length;
  }

  /** Reports generated and not yet acknowledged (those still being spooled included). */
  get queued(): number {
    return this.streams.reduce((n, s) => n + s.queued, 0);
  }

  async stop(flushTimeoutMs = 0): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all(this.streams.map((s) => s.stop(flushTimeoutMs)));
    await Promise.all(this.#spools.map((s) => s.close()));
  }
}
