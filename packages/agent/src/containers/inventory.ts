import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type CgroupLayout, type CgroupStats, cgroupWalkRoot, detectCgroupLayout, parsePids, readCgroupFile } from '../procfs/cgroup.ts';
import { type ProcRoots, procPath, readKernelFileOptional, readOptional, sysPath } from '../procfs/fs.ts';
import { meminfoMap, parseMeminfo } from '../procfs/meminfo.ts';
import { type NetDevStats, parseNetDev } from '../procfs/netdev.ts';
import { type ContainerCgroup, type ContainerRuntime, discoverContainerCgroups, readCgroup } from './discovery.ts';
import { type DockerContainer, DockerEngine, type DockerProblem, type DockerState } from './docker.ts';
import { OciBundles } from './oci.ts';

/**
 * cAdvisor's identifying labels, in its (alphabetical) order. `id` is the cgroup path; `name`
 * and `image` come from the runtime; `namespace`, `pod` and `container` from Kubernetes'
 * CRI labels. Unknown ones are empty, as cAdvisor leaves them.
 */
export interface ContainerLabels {
  [key: string]: string;
  container: string;
  id: string;
  image: string;
  name: string;
  namespace: string;
  pod: string;
}

export interface ContainerIoDevice {
  /** `/dev/sda` when the kernel names it, else `major:minor`. */
  device: string;
  major: number;
  minor: number;
  bytes: Record<string, number>;
  ops: Record<string, number>;
}

/** Everything known about one container at one collection. */
export interface ContainerView {
  labels: ContainerLabels;
  /** The runtime's full container id. */
  containerId: string;
  runtime: ContainerRuntime;
  /** From Docker when it knows the container; else running or paused from the cgroup's freezer. */
  state: DockerState | undefined;
  health?: string;
  restartCount?: number;
  exitCode?: number;
  startedAtMs?: number;
  /** Present while the container has a cgroup (it has not exited). */
  stats?: CgroupStats;
  io: ContainerIoDevice[];
  /** Interfaces of the container's network namespace; undefined when it shares the host's. */
  network?: NetDevStats[];
  events?: ReadonlyMap<string, number>;
}

export type DockerStatus = 'up' | 'down' | 'off';

export interface Inventory {
  containers: ContainerView[];
  docker: DockerStatus;
  /** The Engine API's socket, unless Docker is off. */
  dockerSocket?: string;
  /** Why the API did not answer, when `docker` is down. */
  dockerProblem?: DockerProblem;
  /** MemTotal: the memory a container without a limit may use. */
  machineMemoryBytes?: number;
}

export interface InventoryOptions {
  roots: ProcRoots;
  log: Logger;
  /** Empty: no Docker. */
  dockerSocket: string;
}

/** How long MemTotal is kept, as cAdvisor's --update_machine_info_interval. */
const MACHINE_INFO_MS = 5 * 60_000;

/** Interfaces that are not the container's own traffic (cAdvisor leaves the same out). */
const IGNORED_INTERFACE = /^(lo|veth|docker)/;

/**
 * Finds the containers of this host from their cgroups, names them from the Docker API or the
 * CRI bundles, and reads their figures. The side effects of the container collector live here.
 */
export class ContainerInventory {
  readonly #roots: ProcRoots;
  readonly #log: Logger;
  readonly #docker: DockerEngine | undefined;
  readonly #oci: OciBundles;
  #layout: CgroupLayout | undefined | null = null;
  #hostNetns: string | undefined | null = null;
  readonly #deviceNames = new Map<string, string>();
  /** Cgroup paths of containers seen running, so an exited one keeps its `id` label. */
  readonly #paths = new Map<string, string>();
  /** MemTotal as last read (null: not yet), and when. */
  #memTotal: number | undefined | null = null;
  #memTotalAtMs = 0;

  constructor(opts: InventoryOptions) {
    this.#roots = opts.roots;
    this.#log = opts.log;
    this.#oci = new OciBundles(opts.roots.rootfs);
    if (opts.dockerSocket) this.#docker = new DockerEngine({ socketPath: opts.dockerSocket, log: opts.log });
  }

  async collect(signal?: AbortSignal): Promise<Inventory> {
    if (this.#layout === null) {
      this.#layout = await detectCgroupLayout(this.#roots);
      if (!this.#layout) this.#log.warn({ dir: sysPath(this.#roots, 'fs/cgroup') }, 'no cgroup hierarchy found: no container figures');
      else this.#log.debug({ version: this.#layout.version, walk: cgroupWalkRoot(this.#layout) }, 'cgroup layout');
    }
    const layout = this.#layout;
    const [cgroups, snapshot, memTotal] = await Promise.all([
      layout ? discoverContainerCgroups(layout, signal) : [],
      this.#docker?.snapshot(),
      this.#machineMemory(),
    ]);
    const docker: DockerStatus = !this.#docker ? 'off' : snapshot ? 'up' : 'down';
    const byId = new Map<string, ContainerCgroup>(cgroups.map((c) => [c.id, c]));
    this.#oci.retain(new Set(byId.keys()));
    for (const id of this.#paths.keys()) if (!byId.has(id) && !snapshot?.containers.has(id)) this.#paths.delete(id);

    const views: ContainerView[] = [];
    await Promise.all(
      cgroups.map(async (cg) => {
        this.#paths.set(cg.id, cg.path);
        const view = await this.#running(layout as CgroupLayout, cg, snapshot?.containers.get(cg.id));
        if (view) {
          const ev = snapshot?.events.get(cg.id);
          if (ev) view.events = ev;
          views.push(view);
        }
      }),
    );
    // Docker's containers without a cgroup: created, exited, dead. They carry state only.
    for (const d of snapshot?.containers.values() ?? []) {
      if (byId.has(d.id)) continue;
      const view: ContainerView = {
        labels: dockerLabels(d, this.#paths.get(d.id) ?? d.cgroupPath),
        containerId: d.id,
        runtime: 'docker',
        state: d.state,
        restartCount: d.restartCount,
        io: [],
      };
      if (d.health) view.health = d.health;
      if (d.exitCode !== undefined) view.exitCode = d.exitCode;
      const ev = snapshot?.events.get(d.id);
      if (ev) view.events = ev;
      views.push(view);
    }
    // Code-unit order, not localeCompare: ids are ASCII, and ICU's collation costs about 3 MB resident.
    views.sort((a, b) => (a.labels.id < b.labels.id ? -1 : a.labels.id > b.labels.id ? 1 : 0));
    const inv: Inventory = { containers: views, docker };
    if (this.#docker) inv.dockerSocket = this.#docker.socketPath;
    if (docker === 'down') inv.dockerProblem = this.#docker?.problem ?? 'error';
    if (memTotal !== undefined) inv.machineMemoryBytes = memTotal;
    return inv;
  }

  async #running(layout: CgroupLayout, cg: ContainerCgroup, d: DockerContainer | undefined): Promise<ContainerView | undefined> {
    const stats = await readCgroup(layout, cg.path);
    // Both gone: the container stopped between the walk and the read.
    if (!stats.cpu && !stats.memory) return undefined;
    let labels: ContainerLabels;
    let runtime = cg.runtime;
    const view = { containerId: cg.id, stats, io: await this.#io(stats) } as ContainerView;
    if (d) {
      labels = dockerLabels(d, cg.path);
      runtime = 'docker';
      view.state = d.state;
      view.restartCount = d.restartCount;
      if (d.health) view.health = d.health;
      if (d.startedAtMs !== undefined) view.startedAtMs = d.startedAtMs;
    } else {
      labels = { container: '', id: cg.path, image: '', name: '', namespace: '', pod: '' };
      const meta = await this.#oci.lookup(cg.id);
      if (meta) {
        labels.name = meta.name ?? '';
        labels.image = meta.image ?? '';
        labels.namespace = meta.namespace ?? '';
        labels.pod = meta.pod ?? '';
        labels.container = meta.container ?? '';
        if (runtime === 'unknown') runtime = meta.name?.startsWith('k8s_') ? 'crio' : 'containerd';
      }
      if (stats.frozen !== undefined) view.state = stats.frozen ? 'paused' : 'running';
    }
    view.labels = labels;
    view.runtime = runtime;
    const pid = d?.pid || stats.procs[0] || (await this.#firstPidBelow(layout, cg.path));
    if (pid) {
      const net = await this.#network(pid);
      if (net) view.network = net;
    }
    return view;
  }

  /** podman (systemd, v2) keeps a container's processes in a child cgroup of its scope. */
  async #firstPidBelow(layout: CgroupLayout, path: string): Promise<number | undefined> {
    const root = cgroupWalkRoot(layout);
    if (!root) return undefined;
    const dir = join(root, path);
    const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const c of children) {
      if (!c.isDirectory()) continue;
      const pid = parsePids(await readCgroupFile(join(dir, c.name), 'cgroup.procs'))[0];
      if (pid) return pid;
    }
    return undefined;
  }

  async #network(pid: number): Promise<NetDevStats[] | undefined> {
    if (this.#hostNetns === null) this.#hostNetns = await readlink(procPath(this.#roots, '1/ns/net')).catch(() => undefined);
    if (this.#hostNetns) {
      const ns = await readlink(procPath(this.#roots, String(pid), 'ns/net')).catch(() => undefined);
      // `--network host`: these are the host's interfaces, which the netdev collector reports.
      if (ns === this.#hostNetns) return undefined;
    }
    let text: string | undefined;
    try {
      text = readKernelFileOptional(procPath(this.#roots, String(pid), 'net/dev'));
    } catch {
      return undefined;
    }
    if (text === undefined) return undefined;
    return parseNetDev(text).filter((d) => !IGNORED_INTERFACE.test(d.device));
  }

  async #io(stats: CgroupStats): Promise<ContainerIoDevice[]> {
    return Promise.all(stats.io.map(async (d) => ({ ...d, device: await this.#deviceName(d.major, d.minor) })));
  }

  async #deviceName(major: number, minor: number): Promise<string> {
    const key = `${major}:${minor}`;
    let name = this.#deviceNames.get(key);
    if (name === undefined) {
      const uevent = await readOptional(sysPath(this.#roots, 'dev/block', key, 'uevent')).catch(() => undefined);
      const dev = /^DEVNAME=(.+)$/m.exec(uevent ?? '')?.[1];
      name = dev ? `/dev/${dev}` : key;
      this.#deviceNames.set(key, name);
    }
    return name;
  }

  async #machineMemory(): Promise<number | undefined> {
    // cAdvisor reads the machine's memory into its machine info and refreshes that every five
    // minutes; reading and parsing /proc/meminfo again on every scrape bought nothing.
    const now = Date.now();
    if (this.#memTotal !== null && now - this.#memTotalAtMs < MACHINE_INFO_MS) return this.#memTotal;
    let text: string | undefined;
    try {
      text = readKernelFileOptional(procPath(this.#roots, 'meminfo'), true);
    } catch {
      return undefined;
    }
    this.#memTotal = text === undefined ? undefined : meminfoMap(parseMeminfo(text)).get('MemTotal');
    this.#memTotalAtMs = now;
    return this.#memTotal;
  }

  close(): void {
    this.#docker?.close();
  }
}

/** Labels from Docker's view; Kubernetes' names from the labels its Docker shim (cri-dockerd) sets. */
export function dockerLabels(d: DockerContainer, cgroupPath: string): ContainerLabels {
  return {
    container: d.labels['io.kubernetes.container.name'] ?? '',
    id: cgroupPath,
    image: d.image,
    name: d.name,
    namespace: d.labels['io.kubernetes.pod.namespace'] ?? '',
    pod: d.labels['io.kubernetes.pod.name'] ?? '',
  };
}
