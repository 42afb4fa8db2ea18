import { countTcpStates, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'tcpstat',
  // Off by default as in node_exporter: the tables grow with the number of connections.
  defaultEnabled: false,
  description: 'TCP connections per state from /proc/net/tcp and tcp6.',
  create: () => ({
    update(out, { roots }) {
      const counts = new Map<string, number>();
      countTcpStates(readRequired(procPath(roots, 'net/tcp')), counts);
      const v6 = readKernelFileOptional(procPath(roots, 'net/tcp6'));
      if (v6 !== undefined) countTcpStates(v6, counts);
      for (const [state, n] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        out.gauge('node_tcp_connection_states', 'TCP connections in each state.', n, { state });
      }
    },
  }),
});
