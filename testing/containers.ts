/**
 * A simulated container host for simulated agents: containers described by their figures, written
 * by the agent's own container collector (writeInventory) and summary (ContainerSummary), so the
 * series are the ones a real agent reports, with a test free to change any container at any time.
 */
import type { Sample } from '@falconet/protocol';
import { writeInventory } from '../packages/agent/src/collectors/container.linux.ts';
import type { DockerState } from '../packages/agent/src/containers/docker.ts';
import type { ContainerView, DockerStatus } from '../packages/agent/src/containers/inventory.ts';
import { ContainerSummary } from '../packages/agent/src/containers/summary.ts';
import { familiesToSamples, MetricWriter } from '../packages/agent/src/metrics.ts';

export interface SimulatedContainer {
  /** The container id, 64 hex digits. */
  hexId: string;
  /** Empty as containerd leaves it. */
  name: string;
  image: string;
  state: DockerState;
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** Cores kept busy (0.4: 40 % of one core). */
  cpuCores?: number;
  cpuLimitCores?: number;
  memoryBytes?: number;
  /** undefined: no limit. */
  memoryLimitBytes?: number;
  receiveBps?: number;
  transmitBps?: number;
  readBps?: number;
  writeBps?: number;
  restarts?: number;
  exitCode?: number;
  /** Event counts since the agent started, as Docker's event stream gave them. */
  events?: Record<string, number>;
  /** A Kubernetes container (on containerd, without Docker): its cgroup and labels say so. */
  kubernetes?: { namespace: string; pod: string; container: string; podUid: string };
}

interface Counters {
  atMs: number;
  cpu: number;
  rx: number;
  tx: number;
  read: number;
  write: number;
}

const zeroNet = { packets: 0, errs: 0, drop: 0, fifo: 0, compressed: 0 };

export class SimulatedContainerHost {
  containers: SimulatedContainer[];
  docker: DockerStatus;
  readonly machineMemoryBytes: number;
  readonly #summary = new ContainerSummary();
  readonly #counters = new Map<string, Counters>();

  constructor(opts: { containers: SimulatedContainer[]; docker?: DockerStatus; machineMemoryBytes?: number }) {
    this.containers = opts.containers;
    this.docker = opts.docker ?? 'up';
    this.machineMemoryBytes = opts.machineMemoryBytes ?? 8 * 2 ** 30;
  }

  get(name: string): SimulatedContainer {
    const c = this.containers.find((x) => x.name === name);
    if (!c) throw new Error(`no simulated container "${name}"`);
    return c;
  }

  /** The cgroup path, which is the `id` label. */
  static cgroupId(c: SimulatedContainer): string {
    return c.kubernetes ? `/kubepods/besteffort/pod${c.kubernetes.podUid}/${c.hexId}` : `/docker/${c.hexId}`;
  }

  /**
   * One report's container series at `t`: the collector's run stamped a few milliseconds after the
   * collection (as the agent's slots start after it), the summaries at the collection's time.
   */
  samples(t: number): Sample[] {
    const views = this.containers.map((c) => this.#view(c, t));
    const out = new MetricWriter();
    const inventory = { containers: views, docker: this.docker, machineMemoryBytes: this.machineMemoryBytes };
    writeInventory(out, inventory, Math.floor(t / 1000));
    const families = out.families();
    return [...familiesToSamples(families, t + 2), ...this.#summary.derive({ timestampMs: t, families })];
  }

  #view(c: SimulatedContainer, t: number): ContainerView {
    const id = SimulatedContainerHost.cgroupId(c);
    const k = c.kubernetes;
    const view: ContainerView = {
      labels: {
        container: k?.container ?? '',
        id,
        image: c.image,
        name: c.name,
        namespace: k?.namespace ?? '',
        pod: k?.pod ?? '',
      },
      containerId: c.hexId,
      runtime: k ? 'containerd' : 'docker',
      state: c.state,
      io: [],
    };
    if (c.health) view.health = c.health;
    if (!k) view.restartCount = c.restarts ?? 0;
    if (c.exitCode !== undefined) view.exitCode = c.exitCode;
    if (c.events) view.events = new Map(Object.entries(c.events));
    // Only running and paused containers have a cgroup, so figures.
    if (c.state !== 'running' && c.state !== 'paused') {
      this.#counters.delete(c.hexId);
      return view;
    }
    const prev = this.#counters.get(c.hexId);
    const dt = prev ? (t - prev.atMs) / 1000 : 0;
    const busy = c.state === 'paused' ? 0 : 1;
    const n: Counters = {
      atMs: t,
      cpu: (prev?.cpu ?? 10) + busy * (c.cpuCores ?? 0) * dt,
      rx: (prev?.rx ?? 0) + busy * (c.receiveBps ?? 0) * dt,
      tx: (prev?.tx ?? 0) + busy * (c.transmitBps ?? 0) * dt,
      read: (prev?.read ?? 0) + busy * (c.readBps ?? 0) * dt,
      write: (prev?.write ?? 0) + busy * (c.writeBps ?? 0) * dt,
    };
    this.#counters.set(c.hexId, n);
    const memory = c.memoryBytes ?? 8 << 20;
    view.stats = {
      cpu: {
        usageSeconds: n.cpu,
        ...(c.cpuLimitCores ? { quotaUs: Math.round(c.cpuLimitCores * 100_000), periodUs: 100_000 } : {}),
      },
      memory: { usage: memory + (4 << 20), workingSet: memory, limit: c.memoryLimitBytes },
      io: [],
      pids: { current: 1, limit: undefined },
      frozen: c.state === 'paused',
      procs: [4242],
    };
    view.io = [{ device: '/dev/vda', major: 254, minor: 0, bytes: { Read: n.read, Write: n.write }, ops: { Read: 0, Write: 0 } }];
    view.network = [
      {
        device: 'eth0',
        receive: { bytes: n.rx, frame: 0, multicast: 0, ...zeroNet },
        transmit: { bytes: n.tx, colls: 0, carrier: 0, ...zeroNet },
      },
    ];
    return view;
  }
}
