import { parseConntrackStat, parseSingleNumber, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

const STATS: [field: string, help: string][] = [
  ['found', 'Lookups that found a tracked connection.'],
  ['invalid', 'Packets that could not be tracked.'],
  ['ignore', 'Packets already tracked or not to be tracked.'],
  ['insert', 'Connections added to the table.'],
  ['insert_failed', 'Connections that could not be added to the table.'],
  ['drop', 'Packets dropped because adding their connection failed.'],
  ['early_drop', 'Connections dropped early to make room in a full table.'],
  ['search_restart', 'Table lookups restarted because the table was resized.'],
];

export default defineCollector({
  name: 'conntrack',
  defaultEnabled: true,
  description: 'Netfilter connection tracking table size and statistics.',
  create: () => ({
    update(out, { roots }) {
      const count = procPath(roots, 'sys/net/netfilter/nf_conntrack_count');
      const max = procPath(roots, 'sys/net/netfilter/nf_conntrack_max');
      out.gauge('node_nf_conntrack_entries', 'Connections tracked right now.', parseSingleNumber(readRequired(count, true), count));
      out.gauge(
        'node_nf_conntrack_entries_limit',
        'Size of the connection tracking table.',
        parseSingleNumber(readRequired(max, true), max),
      );
      const statText = readKernelFileOptional(procPath(roots, 'net/stat/nf_conntrack'));
      if (statText === undefined) return;
      const sums = parseConntrackStat(statText);
      for (const [field, help] of STATS) {
        const v = sums.get(field);
        if (v !== undefined) out.gauge(`node_nf_conntrack_stat_${field}`, help, v);
      }
    },
  }),
});
