import type { MetricFamily } from '@falconet/protocol/exposition';

/** How data reached the server. */
export type IngestChannel = 'grpc' | 'tcp' | 'http';

/** Why something was refused; each is a label value of falconet_server_ingest_rejected_total. */
export type RejectReason =
  | 'malformed'
  | 'too_large'
  | 'too_many_samples'
  | 'unknown_kind'
  | 'bad_sample'
  | 'bad_log'
  | 'clock_skew'
  | 'replayed_sequence'
  | 'sequence_jump'
  | 'decrypt_failed'
  | 'protocol'
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  | 'token_wrong_agent'
  | 'token_forbidden'
  | 'overloaded'
  | 'too_many_series'
  | 'too_many_hosts'
  | 'too_many_labels'
  | 'label_too_long'
  | 'rate_limited'
  | 'timeout'
  /** The store's data directory is full: nothing is acknowledged until it has room again. */
  | 'store_full';

/** A listener that cuts connections it will not wait for. */
export type Listener = 'http' | 'tcp' | 'grpc';

/** Why a connection was cut: a label value of falconet_server_connections_cut_total. */
export type CutReason = 'request_timeout' | 'idle_timeout' | 'auth_timeout' | 'register_timeout';

/** Upper bounds (seconds) of the report acknowledgement histogram's buckets. */
const ACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A cumulative Prometheus histogram of durations in seconds. */
export class DurationHistogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(bounds: readonly number[] = ACK_BUCKETS) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length).fill(0);
  }
  observe(seconds: number): void {
    this.#sum += seconds;
    this.#count++;
    for (let i = 0; i < this.#bounds.length; i++)
      if (seconds <= (this.#bounds[i] as number)) this.#counts[i] = (this.#counts[i] as number) + 1;
  }
  family(name: string, help: string): MetricFamily {
    return {
      name,
      help,
      type: 'histogram',
      metrics: [
        ...this.#bounds.map((le, i) => ({ labels: { le: String(le) }, value: this.#counts[i] as number, suffix: '_bucket' })),
        { labels: { le: '+Inf' }, value: this.#count, suffix: '_bucket' },
        { labels: {}, value: this.#sum, suffix: '_sum' },
        { labels: {}, value: this.#count, suffix: '_count' },
      ],
    };
  }
}

/** The ingest path's counters, shown on the server's /metrics. */
export class IngestCounters {
  /** Agent reports stored (gRPC). */
  reports = 0;
  /** Agent sample reports stored, by encoding: the compact table-and-delta one or a whole SampleBatch each. */
  readonly reportsBy = { compact: 0, sample_batch: 0 };
  /** Samples stored over every channel. */
  samples = 0;
  /** Reports dropped as already stored (same agent and sequence). */
  duplicates = 0;
  /** Reports refused (gRPC), whatever the reason. */
  rejected = 0;
  /** Open agent streams. */
  streams = 0;
  /** Open TCP transfer connections. */
  transferConnections = 0;
  /** From a report's arrival on its stream to its acknowledgement (queued behind the agent's earlier reports, decoded, durable). */
  readonly ackSeconds = new DurationHistogram();
  readonly #samplesBy = new Map<IngestChannel, number>();
  readonly #rejections = new Map<string, number>();
  readonly #cuts = new Map<string, number>();

  stored(channel: IngestChannel, samples: number): void {
    this.samples += samples;
    this.#samplesBy.set(channel, (this.#samplesBy.get(channel) ?? 0) + samples);
  }

  reject(channel: IngestChannel, reason: RejectReason, n = 1): void {
    const key = `${channel}\0${reason}`;
    this.#rejections.set(key, (this.#rejections.get(key) ?? 0) + n);
  }

  rejections(channel: IngestChannel, reason: RejectReason): number {
    return this.#rejections.get(`${channel}\0${reason}`) ?? 0;
  }

  /** A connection cut by its listener because the client was too slow or silent. */
  cut(listener: Listener, reason: CutReason): void {
    const key = `${listener}\0${reason}`;
    this.#cuts.set(key, (this.#cuts.get(key) ?? 0) + 1);
  }

  families(): MetricFamily[] {
    return [
      {
        name: 'falconet_server_ingest_samples_total',
        help: 'Samples stored, by the channel they came in on.',
        type: 'counter',
        metrics: (['grpc', 'tcp', 'http'] as const).map((channel) => ({ labels: { channel }, value: this.#samplesBy.get(channel) ?? 0 })),
      },
      {
        name: 'falconet_server_ingest_rejected_total',
        help: 'Reports, records, requests and streams refused, by channel and reason.',
        type: 'counter',
        metrics: [...this.#rejections].map(([key, value]) => {
          const [channel, reason] = key.split('\0') as [string, string];
          return { labels: { channel, reason }, value };
        }),
      },
      {
        name: 'falconet_server_agent_reports_total',
        help: 'Agent sample reports stored, by encoding (compact: series ids and value changes; sample_batch: whole samples).',
        type: 'counter',
        metrics: Object.entries(this.reportsBy).map(([encoding, value]) => ({ labels: { encoding }, value })),
      },
      this.ackSeconds.family(
        'falconet_server_report_ack_seconds',
        'Time from a report reaching the server to its acknowledgement: waiting behind the same agent, decoding, and the store making it durable.',
      ),
      {
        name: 'falconet_server_connections_cut_total',
        help: 'Connections a listener closed because the client was too slow or silent, by listener and reason.',
        type: 'counter',
        metrics: [...this.#cuts].map(([key, value]) => {
          const [listener, reason] = key.split('\0') as [string, string];
          return { labels: { listener, reason }, value };
        }),
      },
      {
        name: 'falconet_server_transfer_connections',
        help: 'Open Open-Falcon TCP transfer connections.',
        type: 'gauge',
        metrics: [{ labels: {}, value: this.transferConnections }],
      },
    ];
  }
}
