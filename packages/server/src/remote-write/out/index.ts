/**
 * remote_write out: every destination configured under `remote_write:` gets what the server stores,
 * fed from the ingest fanout once samples are durable (docs/prometheus.md).
 */
import type { Sample } from '@falconet/protocol';
import type { MetricFamily } from '@falconet/protocol/exposition';
import type { Logger } from 'pino';
import { AGENT_JOB } from '../../promql/store-source.ts';
import type { RemoteWriteOutConfig } from './config.ts';
import { type OutPoint, RemoteWriteDestination } from './destination.ts';

export class RemoteWriteOut {
  readonly destinations: RemoteWriteDestination[];
  readonly #hostname: (agentId: string) => string | undefined;

  constructor(configs: readonly RemoteWriteOutConfig[], dataDir: string, hostname: (agentId: string) => string | undefined, log: Logger) {
    this.destinations = configs.map((c, i) => new RemoteWriteDestination(c, i, dataDir, log));
    this.#hostname = hostname;
  }

  start(): void {
    for (const d of this.destinations) d.start();
  }

  /**
   * Labels as the PromQL API shows them: an agent's series get `instance` (its hostname) and
   * `job="falconet"` when they carry none; series written by remote_write keep theirs. A NaN in a
   * pushed series is a staleness marker (remote-write/routes.ts stores them so) and goes out as one.
   */
  stored(agentId: string, samples: readonly Sample[]): void {
    if (this.destinations.length === 0 || samples.length === 0) return;
    const pushed = agentId.startsWith('push:');
    const host = pushed ? undefined : this.#hostname(agentId);
    const points: OutPoint[] = samples.map((s) => {
      const labels: Record<string, string> = { ...s.labels, __name__: s.name };
      if (!pushed) {
        if (labels.instance === undefined && host !== undefined) labels.instance = host;
        if (labels.job === undefined) labels.job = AGENT_JOB;
      }
      return { labels, value: s.value, timestampMs: s.timestampMs, stale: pushed && Number.isNaN(s.value) };
    });
    for (const d of this.destinations) d.add(points);
  }

  async stop(): Promise<void> {
    await Promise.all(this.destinations.map((d) => d.stop()));
  }

  metricFamilies(): MetricFamily[] {
    if (this.destinations.length === 0) return [];
    const per = (name: string, help: string, type: 'counter' | 'gauge', value: (d: RemoteWriteDestination) => number): MetricFamily => ({
      name,
      help,
      type,
      metrics: this.destinations.map((d) => ({ labels: { destination: d.name }, value: value(d) })),
    });
    return [
      per('falconet_remote_write_out_sent_samples_total', 'Samples the destination accepted.', 'counter', (d) => d.counters.sent),
      per(
        'falconet_remote_write_out_failed_requests_total',
        'Requests that failed (any non-2xx answer or network error).',
        'counter',
        (d) => d.counters.failedRequests,
      ),
      per(
        'falconet_remote_write_out_retried_samples_total',
        'Samples sent again after a failed request.',
        'counter',
        (d) => d.counters.retried,
      ),
      {
        name: 'falconet_remote_write_out_dropped_samples_total',
        help: 'Samples given up: reason is the HTTP status of a refusal, backlog_full (the on-disk cap), capacity or disk.',
        type: 'counter',
        metrics: this.destinations.flatMap((d) => {
          const reasons = new Map(d.counters.dropped);
          reasons.set('backlog_full', d.droppedByCap);
          return [...reasons].map(([reason, value]) => ({ labels: { destination: d.name, reason }, value }));
        }),
      },
      per(
        'falconet_remote_write_out_pending_samples',
        'Samples stored but not yet sent (memory and on-disk queue).',
        'gauge',
        (d) => d.pendingSamples,
      ),
      per(
        'falconet_remote_write_out_highest_sent_timestamp_seconds',
        'Newest sample timestamp of the last batch the destination took.',
        'gauge',
        (d) => d.counters.highestSentMs / 1000,
      ),
    ];
  }
}
