import { KeyedLines, leadingNumber, procPath, readRequired } from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

/** node_exporter's naming: `Active(anon)` becomes `node_memory_Active_anon_bytes`. */
export function meminfoMetricName(key: string, bytes: boolean): string {
  const base = key.replace(/\((.*)\)/, '_$1').replace(/[^a-zA-Z0-9_]/g, '_');
  return `node_memory_${base}${bytes ? '_bytes' : ''}`;
}

/** A /proc/meminfo line as reported: its name, help and the factor to bytes (1 for counts). */
type Field = { name: string; help: string; factor: number };

/** `MemTotal:       16384 kB`: the name ends at the colon. */
function colon(text: string, from: number, to: number): number {
  const at = text.indexOf(':', from);
  return at < 0 || at > to ? to : at;
}

export default defineCollector({
  name: 'meminfo',
  defaultEnabled: true,
  description: 'Memory statistics from /proc/meminfo, one gauge per field.',
  create: () => {
    // Names are derived once per key and layout (procfs/layout.ts); /proc/meminfo's keys do not
    // change while the kernel runs. The unit, kB or none, belongs to the key.
    const lines = new KeyedLines(colon, (key, text, keyEnd, to): Field | null => {
      if (keyEnd >= to) return null;
      const kb = text
        .slice(keyEnd + 1, to)
        .trimEnd()
        .endsWith(' kB');
      const name = key.trim();
      return { name: meminfoMetricName(name, kb), help: `/proc/meminfo field ${name}${kb ? ', in bytes' : ''}.`, factor: kb ? 1024 : 1 };
    });
    return {
      update(out, { roots }) {
        lines.read(readRequired(procPath(roots, 'meminfo'), true), (f, text, from, to) => {
          const value = leadingNumber(text, from + 1, to);
          if (Number.isFinite(value)) out.gauge(f.name, f.help, value * f.factor);
        });
      },
    };
  },
});
