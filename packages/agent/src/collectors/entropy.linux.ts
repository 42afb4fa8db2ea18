import { parseSingleNumber, procPath, readKernelFileOptional, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'entropy',
  defaultEnabled: true,
  description: 'Entropy available to the kernel random number generator, from /proc/sys/kernel/random.',
  create: () => ({
    update(out, { roots }) {
      const avail = procPath(roots, 'sys/kernel/random/entropy_avail');
      out.gauge('node_entropy_available_bits', 'Bits of entropy available.', parseSingleNumber(readRequired(avail, true), avail));
      const pool = procPath(roots, 'sys/kernel/random/poolsize');
      const size = readKernelFileOptional(pool, true);
      if (size !== undefined) out.gauge('node_entropy_pool_size_bits', 'Size of the entropy pool in bits.', parseSingleNumber(size, pool));
    },
  }),
});
