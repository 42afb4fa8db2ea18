import type { MetricFamily } from '@falconet/protocol/exposition';
import type { TransferStats } from '../outputs/transfer.ts';
import type { SpoolStats } from './spool.ts';
import type { StreamStats } from './stream.ts';

const one = (name: string, help: string, type: MetricFamily['type'], value: number): MetricFamily => ({
  name,
  help,
  type,
  metrics: [{ labels: {}, value }],
});

/** The transport's own counters as the agent's /metrics shows them. */
export function transportFamilies(s: { stream?: StreamStats; spool?: SpoolStats; transfer?: TransferStats }): MetricFamily[] {
  const out: MetricFamily[] = [];
  if (s.spool) {
    const p = s.spool;
    out.push(
      one('falconet_agent_spool_bytes', 'Bytes the spool holds on disk.', 'gauge', p.bytes),
      one('falconet_agent_spool_segments', 'Spool segment files.', 'gauge', p.segments),
      one('falconet_agent_spool_pending_reports', 'Reports spooled and not yet acknowledged by the server.', 'gauge', p.pendingReports),
      one('falconet_agent_spool_appended_reports_total', 'Reports written to the spool.', 'counter', p.appendedReports),
      {
        name: 'falconet_agent_spool_dropped_reports_total',
        help: 'Unsent reports dropped because the spool hit spool.max_bytes or spool.max_age, or its disk was full.',
        type: 'counter',
        metrics: [
          { labels: { reason: 'size' }, value: p.droppedBySize },
          { labels: { reason: 'age' }, value: p.droppedByAge },
          { labels: { reason: 'disk_full' }, value: p.droppedByDiskFull },
        ],
      },
      one('falconet_agent_spool_dropped_samples_total', 'Samples in the reports dropped from the spool.', 'counter', p.droppedSamples),
      one(
        'falconet_agent_spool_dropped_log_records_total',
        'Log records in the reports dropped from the spool.',
        'counter',
        p.droppedLogRecords,
      ),
      one(
        'falconet_agent_spool_truncated_bytes_total',
        'Bytes of torn or corrupt spool tails cut when the spool was opened.',
        'counter',
        p.truncatedBytes,
      ),
    );
  }
  if (s.stream) {
    const t = s.stream;
    out.push(
      one('falconet_agent_transport_connected', '1 while the stream to the server is registered.', 'gauge', t.connected ? 1 : 0),
      one('falconet_agent_transport_reconnects_total', 'Times the agent redialled the server.', 'counter', t.reconnects),
      one('falconet_agent_transport_sent_reports_total', 'Reports written to the stream (resends included).', 'counter', t.sent),
      one('falconet_agent_transport_sent_bytes_total', 'Report payload bytes written to the stream.', 'counter', t.sentBytes),
      one('falconet_agent_transport_acked_reports_total', 'Reports the server acknowledged as durable.', 'counter', t.acked),
      one('falconet_agent_transport_rejected_reports_total', 'Reports the server refused (not resent).', 'counter', t.rejected),
      one('falconet_agent_transport_in_flight_reports', 'Reports sent and awaiting acknowledgement.', 'gauge', t.inFlight),
      {
        name: 'falconet_agent_transport_circuit_state',
        help: 'State of the circuit breaker in front of the server (1 = current).',
        type: 'gauge',
        metrics: (['closed', 'open', 'half-open', 'isolated'] as const).map((state) => ({
          labels: { state },
          value: t.circuit === state ? 1 : 0,
        })),
      },
    );
  }
  if (s.transfer) {
    const x = s.transfer;
    out.push(
      one('falconet_agent_transfer_connected', '1 while the --transfer sink is connected.', 'gauge', x.connected ? 1 : 0),
      one('falconet_agent_transfer_buffered_lines', 'Open-Falcon lines waiting for the next flush.', 'gauge', x.bufferedLines),
      one('falconet_agent_transfer_sent_lines_total', 'Open-Falcon lines written to the sink.', 'counter', x.sentLines),
      one('falconet_agent_transfer_dropped_lines_total', 'Lines dropped because the buffer was full.', 'counter', x.droppedLines),
      one('falconet_agent_transfer_reconnects_total', 'Times the agent redialled the sink.', 'counter', x.reconnects),
    );
  }
  return out;
}
