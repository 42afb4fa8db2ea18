import { hostname, machine, release, type, version } from 'node:os';
import { procPath, readKernelFileOptional } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'uname',
  defaultEnabled: true,
  description: 'Kernel name, release, version and host name, as uname(2) gives them.',
  create: () => ({
    update(out, { roots }) {
      const domain = process.platform === 'linux' ? readKernelFileOptional(procPath(roots, 'sys/kernel/domainname'))?.trim() : undefined;
      out.gauge('node_uname_info', 'Kernel and host identity as uname(2) reports it; always 1.', 1, {
        domainname: domain ?? '(none)',
        machine: machine(),
        nodename: hostname(),
        release: release(),
        sysname: type(),
        version: version(),
      });
    },
  }),
});
