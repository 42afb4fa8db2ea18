import { endAtBlank, KeyedLines, numberIn, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'vmstat',
  defaultEnabled: true,
  description: 'Virtual memory counters from /proc/vmstat, the fields matching collector_options.vmstat.fields.',
  // node_exporter 1.5's default.
  options: ({ z, pattern }) => z.object({ fields: pattern().default('^(oom_kill|pgpg|pswp|pg.*fault).*') }).strict(),
  create: (_config, options) => {
    const fields = new RegExp(options.fields);
    // The kernel's field names are fixed while it runs: each is matched against the pattern once
    // per layout (procfs/layout.ts), and a read takes only the numbers of the chosen ones.
    const lines = new KeyedLines(endAtBlank, (field) =>
      fields.test(field) ? { name: `node_vmstat_${field}`, help: `/proc/vmstat field ${field}.` } : null,
    );
    return {
      update(out, { roots }) {
        lines.read(readRequired(procPath(roots, 'vmstat')), (c, text, from, to) => {
          const value = numberIn(text, from, to);
          if (Number.isFinite(value)) out.untyped(c.name, c.help, value);
        });
      },
    };
  },
});
