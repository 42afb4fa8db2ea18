import type { MetricFamily } from '@falconet/protocol/exposition';
import type { LogShipperStats } from './shipper.ts';

/**
 * The log shipper's counters on /metrics. Lines dropped from a full spool are not known per
 * source there: they are counted under source="" with reason="spool_full".
 */
export function logsFamilies(s: LogShipperStats, spoolDroppedLogRecords: number): MetricFamily[] {
  const per = (pick: (x: LogShipperStats['sources'][number]) => number) =>
    s.sources.map((x) => ({ labels: { source: x.name }, value: pick(x) }));
  const dropped = s.sources.flatMap((x) =>
    Object.entries(x.dropped).map(([reason, value]) => ({ labels: { source: x.name, reason }, value })),
  );
  dropped.push({ labels: { source: '', reason: 'spool_full' }, value: spoolDroppedLogRecords });
  const exits = s.sources.flatMap((x) =>
    Object.entries(x.exits ?? {}).map(([code, value]) => ({ labels: { source: x.name, code }, value })),
  );
  return [
    {
      name: 'falconet_agent_logs_read_lines_total',
      help: 'Log lines (or multiline events) read, by source.',
      type: 'counter',
      metrics: per((x) => x.readLines),
    },
    {
      name: 'falconet_agent_logs_shipped_lines_total',
      help: 'Log lines handed to the spool for the server, by source.',
      type: 'counter',
      metrics: per((x) => x.shippedLines),
    },
    { name: 'falconet_agent_logs_dropped_total', help: 'Log lines dropped, by source and reason.', type: 'counter', metrics: dropped },
    { name: 'falconet_agent_logs_files', help: 'Log files open for reading, by source.', type: 'gauge', metrics: per((x) => x.files) },
    {
      name: 'falconet_agent_logs_exec_exits_total',
      help: "Exits of exec log sources' commands, by source and exit code (or signal, or spawn_error); each is started again.",
      type: 'counter',
      metrics: exits,
    },
    {
      name: 'falconet_agent_logs_batches_total',
      help: 'Log batches handed to the spool.',
      type: 'counter',
      metrics: [{ labels: {}, value: s.batches }],
    },
    {
      name: 'falconet_agent_logs_ship_errors_total',
      help: 'Times a log batch could not be spooled (it is tried again).',
      type: 'counter',
      metrics: [{ labels: {}, value: s.shipErrors }],
    },
  ];
}
