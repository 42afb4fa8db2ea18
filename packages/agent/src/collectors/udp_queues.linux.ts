import { procPath, readKernelFileOptional, readRequired, sumUdpQueues } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'udp_queues',
  defaultEnabled: true,
  description: 'Bytes queued in UDP sockets, from /proc/net/udp and udp6.',
  create: () => ({
    update(out, { roots }) {
      const help = 'Bytes waiting in UDP socket queues.';
      const v4 = sumUdpQueues(readRequired(procPath(roots, 'net/udp')));
      out.gauge('node_udp_queues', help, v4.rx, { ip: 'v4', queue: 'rx' });
      out.gauge('node_udp_queues', help, v4.tx, { ip: 'v4', queue: 'tx' });
      const v6text = readKernelFileOptional(procPath(roots, 'net/udp6'));
      if (v6text === undefined) return;
      const v6 = sumUdpQueues(v6text);
      out.gauge('node_udp_queues', help, v6.rx, { ip: 'v6', queue: 'rx' });
      out.gauge('node_udp_queues', help, v6.tx, { ip: 'v6', queue: 'tx' });
    },
  }),
});
