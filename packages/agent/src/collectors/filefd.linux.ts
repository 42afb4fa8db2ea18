import { parseFileNr, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

export default defineCollector({
  name: 'filefd',
  defaultEnabled: true,
  description: 'Open file handles and their limit, from /proc/sys/fs/file-nr.',
  create: () => ({
    update(out, { roots }) {
      const f = parseFileNr(readRequired(procPath(roots, 'sys/fs/file-nr'), true));
      out.gauge('node_filefd_allocated', 'File handles allocated by the kernel.', f.allocated);
      out.gauge('node_filefd_maximum', 'Most file handles the kernel will allocate.', f.maximum);
    },
  }),
});
