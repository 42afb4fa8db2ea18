import { parseSockstat, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** The kernel's page size, which sockstat's `mem` fields count in; Node does not expose it directly. */
export function pageSize(smaps: string | undefined): number {
  const m = smaps ? /^KernelPageSize:\s+(\d+) kB/m.exec(smaps) : null;
  return m ? Number(m[1]) * 1024 : 4096;
}

export default defineCollector({
  name: 'sockstat',
  defaultEnabled: true,
  description: 'Sockets in use per protocol from /proc/net/sockstat and sockstat6.',
  create: () => {
    let page: number | undefined;
    return {
      update(out, { roots }) {
        page ??= pageSize(readKernelFileOptional(procPath(roots, 'self/smaps')));
        const v4 = parseSockstat(readRequired(procPath(roots, 'net/sockstat'), true));
        const v6text = readKernelFileOptional(procPath(roots, 'net/sockstat6'), true);
        const protocols = [...v4.protocols, ...(v6text ? parseSockstat(v6text).protocols : [])];
        if (v4.used !== undefined) out.gauge('node_sockstat_sockets_used', 'Sockets in use, all protocols.', v4.used);
        for (const p of protocols) {
          for (const [field, value] of p.fields) {
            const name = `node_sockstat_${p.protocol}_${field}`;
            out.gauge(name, `/proc/net/sockstat ${p.protocol} ${field}.`, value);
            if (field === 'mem') out.gauge(`${name}_bytes`, `/proc/net/sockstat ${p.protocol} memory, in bytes.`, value * page);
          }
        }
      },
    };
  },
});
