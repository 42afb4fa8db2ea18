import { parseSoftnet, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'softnet',
  defaultEnabled: true,
  description: 'Per-CPU packet processing from /proc/net/softnet_stat.',
  create: () => ({
    update(out, { roots }) {
      const rows = parseSoftnet(readRequired(procPath(roots, 'net/softnet_stat')));
      for (const r of rows) out.counter('node_softnet_processed_total', 'Packets processed.', r.processed, { cpu: r.cpu });
      for (const r of rows)
        out.counter('node_softnet_dropped_total', 'Packets dropped because the backlog was full.', r.dropped, { cpu: r.cpu });
      for (const r of rows) {
        out.counter('node_softnet_times_squeezed_total', 'Times packet processing ran out of budget with work left.', r.timeSqueezed, {
          cpu: r.cpu,
        });
      }
    },
  }),
});
