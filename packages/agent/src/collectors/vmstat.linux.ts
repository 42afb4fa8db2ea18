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
        const pairs = parseVmstat(readRequired(procPath(roots, 'vmstat')));
        // Indexed, without destructuring: under the agent's interpreter-only V8 each for-of step
        // and each destructured pair allocates, some 200 lines per scrape.
        for (let i = 0; i < pairs.length; i++) {
          const pair = pairs[i] as [string, number];
          const field = pair[0];
          const value = pair[1];
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
