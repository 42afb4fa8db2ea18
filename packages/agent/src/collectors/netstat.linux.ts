import { endAtBlank, HeaderTables, KeyedLines, numberIn, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** A reported counter: its metric name and help, made once per field. */
type Counter = { name: string; help: string };

// /proc/net/snmp6 names carry their protocol up to its `6`: `Ip6InReceives`, `Icmp6InMsgs`.
const SNMP6_NAME = /^(\S+?6)(\S+)$/;

export default defineCollector({
  name: 'netstat',
  defaultEnabled: true,
  description:
    'Protocol counters from /proc/net/netstat, /proc/net/snmp and /proc/net/snmp6 (the fields matching collector_options.netstat.fields).',
  // node_exporter 1.5's default list.
  options: ({ z, pattern }) =>
    z
      .object({
        fields: pattern().default(
          '^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$',
        ),
      })
      .strict(),
  create: (_config, options) => {
    const fields = new RegExp(options.fields);
    const counter = (protocol: string, field: string): Counter | null =>
      fields.test(`${protocol}_${field}`)
        ? { name: `node_netstat_${protocol}_${field}`, help: `Protocol counter ${protocol} ${field}.` }
        : null;
    // The kernel writes the same names on every read: each field is matched against the pattern
    // once per layout (procfs/layout.ts), not some 300 names on every scrape.
    const netstat = new HeaderTables(counter);
    const snmp = new HeaderTables(counter);
    const snmp6 = new KeyedLines(endAtBlank, (key) => {
      const m = SNMP6_NAME.exec(key);
      return m ? counter(m[1] as string, m[2] as string) : null;
    });
    return {
      update(out, { roots }) {
        const write = (c: Counter, value: number) => out.untyped(c.name, c.help, value);
        netstat.read(readRequired(procPath(roots, 'net/netstat'), true), write);
        snmp.read(readRequired(procPath(roots, 'net/snmp'), true), write);
        const text = readKernelFileOptional(procPath(roots, 'net/snmp6'), true);
        if (text === undefined) return;
        snmp6.read(text, (c, t, from, to) => {
          const value = numberIn(t, from, to);
          if (Number.isFinite(value)) write(c, value);
        });
      },
    };
  },
});
