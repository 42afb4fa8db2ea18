import { parseLoadavg, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'loadavg',
  defaultEnabled: true,
  description: 'Load averages over 1, 5 and 15 minutes from /proc/loadavg.',
  create: () => ({
    update(out, { roots }) {
      const l = parseLoadavg(readRequired(procPath(roots, 'loadavg'), true));
      out.gauge('node_load1', 'Load average over the last minute.', l.load1);
      out.gauge('node_load5', 'Load average over the last 5 minutes.', l.load5);
      out.gauge('node_load15', 'Load average over the last 15 minutes.', l.load15);
    },
  }),
});
