import { parseStat, procPath, readRequired, SOFTIRQ_VECTORS } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'stat',
  defaultEnabled: true,
  description: 'Boot time, context switches, forks, interrupts and task states from /proc/stat.',
  options: ({ z }) =>
    z
      .object({
        /** node_softirqs_total per vector. */
        softirq: z.boolean().default(false),
      })
      .strict(),
  create: (_config, { softirq }) => {
    return {
      update(out, { roots }) {
        const s = parseStat(readRequired(procPath(roots, 'stat'), true));
        if (s.intr !== undefined) out.counter('node_intr_total', 'Interrupts serviced since boot.', s.intr);
        if (s.ctxt !== undefined) out.counter('node_context_switches_total', 'Context switches since boot.', s.ctxt);
        if (s.processes !== undefined) out.counter('node_forks_total', 'Processes and threads created since boot.', s.processes);
        if (s.btime !== undefined) out.gauge('node_boot_time_seconds', 'When the system booted, in seconds since the epoch.', s.btime);
        if (s.procsRunning !== undefined) out.gauge('node_procs_running', 'Tasks runnable right now.', s.procsRunning);
        if (s.procsBlocked !== undefined) out.gauge('node_procs_blocked', 'Tasks blocked waiting for I/O right now.', s.procsBlocked);
        if (softirq && s.softirqs) {
          s.softirqs.forEach((n, i) => {
            const vector = SOFTIRQ_VECTORS[i];
            if (vector) out.counter('node_softirqs_total', 'Softirqs handled since boot, per vector.', n, { vector });
          });
        }
      },
    };
  },
});
