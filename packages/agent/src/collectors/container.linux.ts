import { DOCKER_STATES, HEALTH_STATES } from '../containers/docker.ts';
import { chooseDockerSocket } from '../containers/docker-socket.ts';
import { ContainerInventory, type ContainerView, type Inventory } from '../containers/inventory.ts';
import type { MetricWriter } from '../metrics.ts';
import { defineCollector } from './registry.ts';

/**
 * One container's figures under cAdvisor's names and labels, so dashboards and alerts written
 * for cAdvisor work unchanged; Docker's state, health, restarts and events as falconet_container_*.
 */
export function writeContainer(out: MetricWriter, c: ContainerView, nowSeconds: number): void {
  const l = c.labels;
  const g = (name: string, help: string, v: number | undefined, extra: Record<string, string> = {}) => {
    if (v !== undefined && Number.isFinite(v)) out.gauge(name, help, v, { ...l, ...extra });
  };
  const k = (name: string, help: string, v: number | undefined, extra: Record<string, string> = {}) => {
    if (v !== undefined && Number.isFinite(v)) out.counter(name, help, v, { ...l, ...extra });
  };

  out.gauge('falconet_container_info', 'Container metadata; always 1.', 1, { ...l, runtime: c.runtime });
  if (c.state) {
    for (const s of DOCKER_STATES) {
      out.gauge('falconet_container_state', 'Container state, 1 for the current one.', s === c.state ? 1 : 0, { ...l, state: s });
    }
  }
  if (c.health) {
    for (const h of HEALTH_STATES) {
      out.gauge('falconet_container_health', 'Healthcheck status, 1 for the current one.', h === c.health ? 1 : 0, { ...l, health: h });
    }
  }
  k('falconet_container_restarts_total', 'Times the runtime restarted the container.', c.restartCount);
  g('falconet_container_exit_code', 'Exit code of a container that is not running.', c.exitCode);
  for (const [event, n] of c.events ?? []) {
    k('falconet_container_events_total', 'Container events seen since the agent started.', n, { event });
  }

  const s = c.stats;
  if (!s) return;
  g('container_last_seen', 'Last time a container was seen by the exporter', nowSeconds);
  if (c.startedAtMs !== undefined)
    g('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.', c.startedAtMs / 1000);

  const cpu = s.cpu;
  if (cpu) {
    k('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.', cpu.usageSeconds, { cpu: 'total' });
    k('container_cpu_user_seconds_total', 'Cumulative user cpu time consumed in seconds.', cpu.userSeconds);
    k('container_cpu_system_seconds_total', 'Cumulative system cpu time consumed in seconds.', cpu.systemSeconds);
    k('container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.', cpu.periods);
    k('container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.', cpu.throttledPeriods);
    k('container_cpu_cfs_throttled_seconds_total', 'Total time duration the container has been throttled.', cpu.throttledSeconds);
    g('container_spec_cpu_quota', 'CPU quota of the container.', cpu.quotaUs);
    g('container_spec_cpu_period', 'CPU period of the container.', cpu.periodUs);
    g('container_spec_cpu_shares', 'CPU share of the container.', cpu.shares);
  }

  const m = s.memory;
  if (m) {
    g('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed', m.usage);
    g('container_memory_working_set_bytes', 'Current working set in bytes.', m.workingSet);
    g('container_memory_rss', 'Size of RSS in bytes.', m.rss);
    g('container_memory_cache', 'Number of bytes of page cache memory.', m.cache);
    g('container_memory_mapped_file', 'Size of memory mapped files in bytes.', m.mappedFile);
    g('container_memory_swap', 'Container swap usage in bytes.', m.swap);
    g('container_memory_max_usage_bytes', 'Maximum memory usage recorded in bytes', m.maxUsage);
    k('container_memory_failcnt', 'Number of memory usage hits limits', m.failcnt);
    k('container_oom_events_total', 'Count of out of memory events observed for the container', m.oomKills);
    // cAdvisor writes 0 for "no limit".
    g('container_spec_memory_limit_bytes', 'Memory limit for the container.', m.limit ?? 0);
    g('container_spec_memory_swap_limit_bytes', 'Memory swap limit for the container.', m.swapLimit ?? 0);
    g('container_spec_memory_reservation_limit_bytes', 'Memory reservation limit for the container.', m.reservation ?? 0);
  }

  for (const d of c.io) {
    const dev = { device: d.device };
    k('container_fs_reads_bytes_total', 'Cumulative count of bytes read', d.bytes.Read, dev);
    k('container_fs_writes_bytes_total', 'Cumulative count of bytes written', d.bytes.Write, dev);
    k('container_fs_reads_total', 'Cumulative count of reads completed', d.ops.Read, dev);
    k('container_fs_writes_total', 'Cumulative count of writes completed', d.ops.Write, dev);
    for (const [operation, v] of Object.entries(d.bytes)) {
      k('container_blkio_device_usage_total', 'Blkio Device bytes usage', v, {
        device: d.device,
        major: String(d.major),
        minor: String(d.minor),
        operation,
      });
    }
  }

  if (s.pids) {
    g('container_threads', 'Number of threads running inside the container', s.pids.current);
    g('container_threads_max', 'Maximum number of threads allowed inside the container, infinity if value is zero', s.pids.limit ?? 0);
  }
  g('container_processes', 'Number of processes running inside the container.', s.procs.length);

  for (const n of c.network ?? []) {
    const i = { interface: n.device };
    k('container_network_receive_bytes_total', 'Cumulative count of bytes received', n.receive.bytes, i);
    k('container_network_receive_packets_total', 'Cumulative count of packets received', n.receive.packets, i);
    k('container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', n.receive.errs, i);
    k('container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving', n.receive.drop, i);
    k('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', n.transmit.bytes, i);
    k('container_network_transmit_packets_total', 'Cumulative count of packets transmitted', n.transmit.packets, i);
    k('container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', n.transmit.errs, i);
    k('container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting', n.transmit.drop, i);
  }
}

export function writeInventory(out: MetricWriter, inv: Inventory, nowSeconds: number): void {
  if (inv.machineMemoryBytes !== undefined)
    out.gauge('machine_memory_bytes', 'Amount of memory installed on the machine.', inv.machineMemoryBytes);
  if (inv.docker !== 'off') {
    out.gauge(
      'falconet_docker_up',
      'Whether the Docker Engine API answered (1) or not (0; container figures come from cgroups only).',
      inv.docker === 'up' ? 1 : 0,
    );
    // Where the agent asks, and why it got no answer: what the dashboard needs to say what to configure.
    out.gauge(
      'falconet_docker_info',
      'The Docker socket the agent asks, and the problem when it did not answer (none, no_socket, permission, refused, not_socket, error); always 1.',
      1,
      { socket: inv.dockerSocket ?? '', problem: inv.dockerProblem ?? 'none' },
    );
  }
  for (const c of inv.containers) writeContainer(out, c, nowSeconds);
}

export default defineCollector({
  name: 'container',
  defaultEnabled: true,
  description:
    'Per-container CPU, memory, block IO, network and pids from cgroups v1/v2 with Docker and CRI metadata, under cAdvisor names.',
  create: (config) => {
    let inventory: ContainerInventory | undefined;
    return {
      async update(out, { roots, log, signal }) {
        if (!inventory) {
          const socket = chooseDockerSocket(config.containers.docker_socket, process.env);
          if (socket.problem) log.warn({ DOCKER_HOST: process.env.DOCKER_HOST, socket: socket.path }, socket.problem);
          inventory = new ContainerInventory({ roots, log, dockerSocket: socket.path });
        }
        const inv = await inventory.collect(signal);
        writeInventory(out, inv, Math.floor(Date.now() / 1000));
      },
    };
  },
});
