import { type MeminfoEntry, parseMeminfo, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** node_exporter's naming: `Active(anon)` becomes `node_memory_Active_anon_bytes`. */
export function meminfoMetricName(key: string, bytes: boolean): string {
  const base = key.replace(/\((.*)\)/, '_$1').replace(/[^a-zA-Z0-9_]/g, '_');
  return `node_memory_${base}${bytes ? '_bytes' : ''}`;
}

// Names are derived per key once; /proc/meminfo's keys do not change while the kernel runs.
const names = new Map<string, [name: string, help: string]>();

export default defineCollector({
  name: 'meminfo',
  defaultEnabled: true,
  description: 'Memory statistics from /proc/meminfo, one gauge per field.',
  create: () => ({
    update(out, { roots }) {
      const entries = parseMeminfo(readRequired(procPath(roots, 'meminfo')));
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i] as MeminfoEntry;
        const cacheKey = e.bytes ? e.key : `${e.key}\0`;
        let n = names.get(cacheKey);
        if (!n) {
          const name = meminfoMetricName(e.key, e.bytes);
          n = [name, `/proc/meminfo field ${e.key}${e.bytes ? ', in bytes' : ''}.`];
          names.set(cacheKey, n);
        }
        out.gauge(n[0], n[1], e.value);
      }
    },
  }),
});
