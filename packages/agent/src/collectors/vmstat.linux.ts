import { parseVmstat, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'vmstat',
  defaultEnabled: true,
  description: 'Virtual memory counters from /proc/vmstat, the fields matching collector_options.vmstat.fields.',
  create: ({ collector_options: options }) => {
    const fields = new RegExp(options.vmstat.fields);
    // The kernel's field names are fixed while it runs: each is matched against the pattern once.
    const chosen = new Map<string, [name: string, help: string] | null>();
    return {
      update(out, { roots }) {
        for (const [field, value] of parseVmstat(readRequired(procPath(roots, 'vmstat')))) {
          let c = chosen.get(field);
          if (c === undefined) {
            c = fields.test(field) ? [`node_vmstat_${field}`, `/proc/vmstat field ${field}.`] : null;
            chosen.set(field, c);
          }
          if (c) out.untyped(c[0], c[1], value);
        }
      },
    };
  },
});
