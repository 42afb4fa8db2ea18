import type { MetricFamily } from '@falconet/protocol/exposition';

/** How data reached the server. */
export type IngestChannel = 'grpc' | 'tcp' | 'http';

/** Why something was refused; each is a label value of falconet_server_ingest_rejected_total. */
export type RejectReason =
  | 'malformed'
  | 'too_large'
  | 'too_many_samples'
  | 'bad_sample'
  | 'clock_skew'
  | 'replayed_sequence'
  | 'decrypt_failed'
  | 'protocol'
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  | 'token_wrong_agent'
  | 'overloaded';

/** The ingest path's counters, shown on the server's /metrics. */
export class IngestCounters {
  /** Agent reports stored (gRPC). */
  reports = 0;
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
  readonly #samplesBy = new Map<IngestChannel, number>();
  readonly #rejections = new Map<string, number>();

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
        name: 'falconet_server_transfer_connections',
        help: 'Open Open-Falcon TCP transfer connections.',
        type: 'gauge',
        metrics: [{ labels: {}, value: this.transferConnections }],
      },
    ];
  }
}
