import { parseSchedstat, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'schedstat',
  defaultEnabled: true,
  description: 'Per-CPU scheduler time running, waiting and timeslices from /proc/schedstat.',
  create: () => ({
    update(out, { roots }) {
      const cpus = parseSchedstat(readRequired(procPath(roots, 'schedstat')));
      for (const c of cpus) {
        out.counter('node_schedstat_running_seconds_total', 'Seconds this CPU spent running tasks.', c.runningNanoseconds / 1e9, {
          cpu: c.cpu,
        });
      }
      for (const c of cpus) {
        out.counter('node_schedstat_waiting_seconds_total', 'Seconds tasks waited to run on this CPU.', c.waitingNanoseconds / 1e9, {
          cpu: c.cpu,
        });
      }
      for (const c of cpus) out.counter('node_schedstat_timeslices_total', 'Timeslices run on this CPU.', c.timeslices, { cpu: c.cpu });
    },
  }),
});
