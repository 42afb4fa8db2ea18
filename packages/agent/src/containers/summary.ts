import type { Labels, Sample } from '@falconet/protocol';
import type { Collection } from '../collection.ts';
import type { MetricFamily } from '../metrics.ts';

/**
 * Per-container figures for the dashboard's Containers tab, derived from two consecutive
 * collections of the container collector's cAdvisor series, and figured as `docker stats` does:
 * CPU in percent of one core, memory as the working set (usage minus inactive file pages)
 * against the limit, or against the host's memory when there is none.
 */
export const CONTAINER_SUMMARY_METRICS = {
  cpuUsage: 'falconet_container_cpu_usage_percent',
  cpuLimit: 'falconet_container_cpu_limit_cores',
  memoryUsage: 'falconet_container_memory_usage_bytes',
  memoryLimit: 'falconet_container_memory_limit_bytes',
  memoryUsed: 'falconet_container_memory_used_percent',
  netRx: 'falconet_container_network_receive_bytes_per_second',
  netTx: 'falconet_container_network_transmit_bytes_per_second',
  fsRead: 'falconet_container_fs_read_bytes_per_second',
  fsWrite: 'falconet_container_fs_write_bytes_per_second',
  /** Host-wide: how many containers are in each state. */
  count: 'falconet_containers',
} as const;

/** The labels that name a container; per-series extras (cpu, interface, device) are summed away. */
const IDENTITY = ['container', 'id', 'image', 'name', 'namespace', 'pod'] as const;

function identity(l: Labels): Labels {
  return Object.fromEntries(IDENTITY.map((k) => [k, l[k] ?? '']));
}

/** Sums one family's series per container id. */
function perContainer(c: Collection, name: string, where: (l: Labels) => boolean = () => true): Map<string, number> {
  const out = new Map<string, number>();
  const f: MetricFamily | undefined = c.families.find((x) => x.name === name);
  for (const m of f?.metrics ?? []) {
    const id = m.labels.id;
    if (id === undefined || !where(m.labels)) continue;
    out.set(id, (out.get(id) ?? 0) + m.value);
  }
  return out;
}

/**
 * Seconds that passed between two collections by the host's CPU clock, as `docker stats` takes
 * them: all CPU time of all CPUs (node_cpu_seconds_total) over the number of CPUs. Read in the same
 * collection as the cgroups, it cancels the delay between a collection's timestamp and its reads,
 * which on a busy host is tens of milliseconds that differ from one collection to the next.
 */
function hostElapsedSeconds(prev: Collection, cur: Collection): number | undefined {
  const total = (c: Collection) => {
    const f = c.families.find((x) => x.name === 'node_cpu_seconds_total');
    if (!f?.metrics.length) return undefined;
    let sum = 0;
    const cpus = new Set<string>();
    for (const m of f.metrics) {
      sum += m.value;
      cpus.add(m.labels.cpu ?? '');
    }
    return { sum, cpus: cpus.size };
  };
  const a = total(prev);
  const b = total(cur);
  if (!a || !b || a.cpus !== b.cpus || !(b.sum > a.sum)) return undefined;
  return (b.sum - a.sum) / b.cpus;
}

export class ContainerSummary {
  #prev: Collection | undefined;

  derive(cur: Collection): Sample[] {
    const out: Sample[] = [];
    const ts = cur.timestampMs;
    const prev = this.#prev;
    this.#prev = cur;

    const counts = new Map<string, number>();
    for (const m of cur.families.find((f) => f.name === 'falconet_container_state')?.metrics ?? []) {
      if (m.value === 1 && m.labels.state) counts.set(m.labels.state, (counts.get(m.labels.state) ?? 0) + 1);
    }
    const seen = cur.families.find((f) => f.name === 'container_last_seen')?.metrics ?? [];
    // Without Docker there is no state family: every container with a cgroup is running (or paused).
    if (!cur.families.some((f) => f.name === 'falconet_container_state') && seen.length) counts.set('running', seen.length);
    for (const [state, n] of counts) out.push({ name: CONTAINER_SUMMARY_METRICS.count, labels: { state }, value: n, timestampMs: ts });
    if (!seen.length) return out;

    const labelsById = new Map(seen.map((m) => [m.labels.id as string, identity(m.labels)]));
    const push = (name: string, id: string, value: number | undefined) => {
      const labels = labelsById.get(id);
      if (labels && value !== undefined && Number.isFinite(value)) out.push({ name, labels, value, timestampMs: ts });
    };

    const machine = cur.families.find((f) => f.name === 'machine_memory_bytes')?.metrics[0]?.value;
    const workingSet = perContainer(cur, 'container_memory_working_set_bytes');
    const limits = perContainer(cur, 'container_spec_memory_limit_bytes');
    const quota = perContainer(cur, 'container_spec_cpu_quota');
    const period = perContainer(cur, 'container_spec_cpu_period');
    for (const id of labelsById.keys()) {
      const ws = workingSet.get(id);
      const spec = limits.get(id);
      // As the Docker daemon: no limit, or one above the host's memory, means the host's memory.
      const limit = spec && (!machine || spec < machine) ? spec : machine;
      push(CONTAINER_SUMMARY_METRICS.memoryUsage, id, ws);
      push(CONTAINER_SUMMARY_METRICS.memoryLimit, id, limit);
      if (ws !== undefined && limit) push(CONTAINER_SUMMARY_METRICS.memoryUsed, id, (100 * ws) / limit);
      const q = quota.get(id);
      const p = period.get(id);
      if (q && p) push(CONTAINER_SUMMARY_METRICS.cpuLimit, id, q / p);
    }

    if (!prev) return out;
    const dt = (ts - prev.timestampMs) / 1000;
    if (!(dt > 0)) return out;
    const rates = (name: string, metric: string, where?: (l: Labels) => boolean) => {
      const a = perContainer(prev, metric, where);
      const b = perContainer(cur, metric, where);
      for (const [id, now] of b) {
        const before = a.get(id);
        // A container seen for the first time, or restarted (counter went down), has no rate yet.
        if (before === undefined || now < before) continue;
        push(name, id, (now - before) / dt);
      }
    };
    // Without the cpu collector, the collections' own timestamps.
    const cpuDt = hostElapsedSeconds(prev, cur) ?? dt;
    const cpu = perContainer(cur, 'container_cpu_usage_seconds_total');
    const cpuPrev = perContainer(prev, 'container_cpu_usage_seconds_total');
    for (const [id, now] of cpu) {
      const before = cpuPrev.get(id);
      if (before !== undefined && now >= before) push(CONTAINER_SUMMARY_METRICS.cpuUsage, id, (100 * (now - before)) / cpuDt);
    }
    rates(CONTAINER_SUMMARY_METRICS.netRx, 'container_network_receive_bytes_total');
    rates(CONTAINER_SUMMARY_METRICS.netTx, 'container_network_transmit_bytes_total');
    rates(CONTAINER_SUMMARY_METRICS.fsRead, 'container_fs_reads_bytes_total');
    rates(CONTAINER_SUMMARY_METRICS.fsWrite, 'container_fs_writes_bytes_total');
    return out;
  }
}
