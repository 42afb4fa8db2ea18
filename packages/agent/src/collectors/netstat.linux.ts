import { parseNetstatTables, parseSnmp6, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** Which columns of a table to report, and under what names. */
type Selection = { index: number; name: string; help: string }[];

export default defineCollector({
  name: 'netstat',
  defaultEnabled: true,
  description:
    'Protocol counters from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6 (the fields matching collector_options.netstat.fields).',
  create: ({ collector_options: options }) => {
    const fields = new RegExp(options.netstat.fields);
    const accepted = (protocol: string, field: string) => fields.test(`${protocol}_${field}`);
    // The kernel writes the same header lines on every read, so the columns to keep are worked out
    // once per header line rather than by matching some 300 field names on every scrape.
    const selections = new Map<string, Selection>();
    const snmp6Names = new Map<string, { name: string; help: string } | null>();
    return {
      update(out, { roots }) {
        const tables = [
          ...parseNetstatTables(readRequired(procPath(roots, 'net/netstat'))),
          ...parseNetstatTables(readRequired(procPath(roots, 'net/snmp'))),
        ];
        for (const t of tables) {
          let sel = selections.get(t.headerLine);
          if (!sel) {
            sel = [];
            t.names.forEach((field, index) => {
              if (accepted(t.protocol, field)) {
                (sel as Selection).push({
                  index,
                  name: `node_netstat_${t.protocol}_${field}`,
                  help: `Protocol counter ${t.protocol} ${field}.`,
                });
              }
            });
            selections.set(t.headerLine, sel);
          }
          for (const { index, name, help } of sel) {
            const value = Number(t.values[index]);
            if (Number.isFinite(value)) out.untyped(name, help, value);
          }
        }
        const snmp6 = readKernelFileOptional(procPath(roots, 'net/snmp6'));
        if (snmp6 === undefined) return;
        for (const f of parseSnmp6(snmp6)) {
          const key = f.protocol + f.name;
          let n = snmp6Names.get(key);
          if (n === undefined) {
            n = accepted(f.protocol, f.name)
              ? { name: `node_netstat_${f.protocol}_${f.name}`, help: `Protocol counter ${f.protocol} ${f.name}.` }
              : null;
            snmp6Names.set(key, n);
          }
          if (n) out.untyped(n.name, n.help, f.value);
        }
      },
    };
  },
});
