import { parseInterrupts, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'interrupts',
  // Off by default as in node_exporter: one series per interrupt line and CPU.
  defaultEnabled: false,
  description: 'Interrupts per line and CPU from /proc/interrupts.',
  create: () => ({
    update(out, { roots }) {
      const { cpus, lines } = parseInterrupts(readRequired(procPath(roots, 'interrupts')));
      for (const l of lines) {
        l.counts.forEach((n, i) => {
          out.counter('node_interrupts_total', 'Interrupts serviced, per line and CPU.', n, {
            cpu: cpus[i] as string,
            devices: l.devices,
            info: l.info,
            type: l.name,
          });
        });
      }
    },
  }),
});
