import {
  type CpuTimes,
  parseCpuinfo,
  parseStat,
  procPath,
  readCpuThrottles,
  readKernelFileOptional,
  readRequired,
} from '../procfs/index.ts';
import { defineCollector } from './registry.ts';

const MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
const CPU_HELP = 'Seconds the CPUs spent in each mode.';
const GUEST_HELP = 'Seconds the CPUs spent running guests (virtual machines), already included in user and nice.';

/** If idle goes back by this much, the CPU was unplugged and plugged again: start afresh. */
const HOTPLUG_JUMP_SECONDS = 3;

/**
 * Keeps per-CPU counters monotonic. The kernel's per-CPU jiffies can step back a little (idle
 * accounting on NO_HZ kernels), which a counter must never do; node_exporter holds the last value.
 */
export class MonotonicCpuTimes {
  readonly #last = new Map<number, CpuTimes>();

  update(cpus: Map<number, CpuTimes>): Map<number, CpuTimes> {
    for (const n of this.#last.keys()) if (!cpus.has(n)) this.#last.delete(n);
    for (const [n, cur] of cpus) {
      const prev = this.#last.get(n);
      if (!prev || prev.idle - cur.idle >= HOTPLUG_JUMP_SECONDS) {
        this.#last.set(n, { ...cur });
        continue;
      }
      for (const k of Object.keys(cur) as (keyof CpuTimes)[]) {
        if (cur[k] > prev[k]) prev[k] = cur[k];
      }
    }
    return this.#last;
  }
}

export default defineCollector({
  name: 'cpu',
  defaultEnabled: true,
  description: 'Seconds each CPU spent in each mode (and in guests) from /proc/stat; thermal throttling from sysfs.',
  options: ({ z }) =>
    z
      .object({
        /** node_cpu_guest_seconds_total. */
        guest: z.boolean().default(true),
        /** node_cpu_info from /proc/cpuinfo. */
        info: z.boolean().default(false),
      })
      .strict(),
  create: (_config, { guest, info }) => {
    const times = new MonotonicCpuTimes();
    return {
      update(out, { roots }) {
        const stat = parseStat(readRequired(procPath(roots, 'stat'), true));
        const cpus = [...times.update(stat.cpus)].sort((a, b) => a[0] - b[0]);
        for (const [n, t] of cpus) {
          const cpu = String(n);
          for (const mode of MODES) out.counter('node_cpu_seconds_total', CPU_HELP, t[mode], { cpu, mode });
        }
        // Guest time is part of user and nice already; it gets its own family so sums over
        // node_cpu_seconds_total modes do not count it twice.
        if (guest) {
          for (const [n, t] of cpus) {
            const cpu = String(n);
            out.counter('node_cpu_guest_seconds_total', GUEST_HELP, t.guest, { cpu, mode: 'user' });
            out.counter('node_cpu_guest_seconds_total', GUEST_HELP, t.guestNice, { cpu, mode: 'nice' });
          }
        }

        const packages = new Map<string, number>();
        const cores = new Map<string, { core: string; package: string; count: number }>();
        for (const t of readCpuThrottles(roots)) {
          if (t.packageThrottles !== undefined) packages.set(t.packageId, t.packageThrottles);
          if (t.coreThrottles !== undefined) {
            cores.set(`${t.packageId}/${t.coreId}`, { core: t.coreId, package: t.packageId, count: t.coreThrottles });
          }
        }
        for (const c of cores.values()) {
          out.counter('node_cpu_core_throttles_total', 'Times this CPU core was throttled for heat.', c.count, {
            core: c.core,
            package: c.package,
          });
        }
        for (const [pkg, count] of packages) {
          out.counter('node_cpu_package_throttles_total', 'Times this CPU package was throttled for heat.', count, { package: pkg });
        }

        if (info) {
          const text = readKernelFileOptional(procPath(roots, 'cpuinfo'));
          for (const c of text ? parseCpuinfo(text) : []) {
            out.gauge('node_cpu_info', 'CPU information from /proc/cpuinfo; always 1.', 1, {
              cachesize: c.get('cache size') ?? '',
              core: c.get('core id') ?? '',
              cpu: c.get('processor') ?? '',
              family: c.get('cpu family') ?? '',
              microcode: c.get('microcode') ?? '',
              model: c.get('model') ?? '',
              model_name: c.get('model name') ?? '',
              package: c.get('physical id') ?? '',
              stepping: c.get('stepping') ?? '',
              vendor: c.get('vendor_id') ?? '',
            });
          }
        }
      },
    };
  },
});
