import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type CgroupLayout, type CgroupStats, cgroupWalkRoot } from '../procfs/cgroup.ts';
import { readCgroupV1 } from '../procfs/cgroup-v1.ts';
import { readCgroupV2 } from '../procfs/cgroup-v2.ts';

export type ContainerRuntime = 'docker' | 'podman' | 'containerd' | 'crio' | 'unknown';

/** A container found by its cgroup, before any runtime API is asked about it. */
export interface ContainerCgroup {
  /** The runtime's 64-hex container id. */
  id: string;
  /** The cgroup path below the hierarchy root, as cAdvisor's `id` label has it: `/docker/<id>`. */
  path: string;
  runtime: ContainerRuntime;
  /** The Kubernetes pod UID when the cgroup sits under a pod's cgroup. */
  podUid?: string;
  /** The containerd namespace for `/<namespace>/<id>` cgroups (cgroupfs driver). */
  namespace?: string;
}

const HEX64 = '[0-9a-f]{64}';
/** Leaf names the runtimes give a container's cgroup with the systemd driver, or podman's cgroupfs one. */
const SCOPE_NAMES: [RegExp, ContainerRuntime][] = [
  [new RegExp(`^docker-(${HEX64})\\.scope$`), 'docker'],
  [new RegExp(`^libpod-(${HEX64})(?:\\.scope)?$`), 'podman'],
  [new RegExp(`^cri-containerd-(${HEX64})\\.scope$`), 'containerd'],
  [new RegExp(`^(?:containerd|nerdctl)-(${HEX64})\\.scope$`), 'containerd'],
  [new RegExp(`^crio-(${HEX64})\\.scope$`), 'crio'],
];
const BARE = new RegExp(`^${HEX64}$`);
/** `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_with_underscores>.slice` (systemd). */
const POD = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;

/**
 * Recognises a container from its cgroup path, for the layouts Docker, podman, containerd
 * (nerdctl and CRI) and CRI-O use with the cgroupfs and systemd drivers; undefined otherwise.
 */
export function matchContainerCgroup(path: string): ContainerCgroup | undefined {
  const parts = path.split('/').filter(Boolean);
  const leaf = parts.at(-1);
  if (!leaf) return undefined;
  let id: string | undefined;
  let runtime: ContainerRuntime = 'unknown';
  for (const [re, rt] of SCOPE_NAMES) {
    const m = re.exec(leaf);
    if (m) {
      id = m[1] as string;
      runtime = rt;
      break;
    }
  }
  const parent = parts.at(-2);
  let namespace: string | undefined;
  if (!id && BARE.test(leaf)) {
    id = leaf;
    if (parent === 'docker') runtime = 'docker';
    else if (parent === 'libpod_parent') runtime = 'podman';
    // Under a pod the runtime is the node's CRI runtime; the metadata sources tell which.
    else if (parent && POD.test(parent)) runtime = 'unknown';
    else if (parent && parts.length === 2 && !parent.endsWith('.slice')) {
      // containerd with cgroupfs puts a container at /<namespace>/<id> (nerdctl: /default, CRI: /k8s.io).
      runtime = 'containerd';
      namespace = parent;
    }
  }
  if (!id) return undefined;
  const found: ContainerCgroup = { id, path: `/${parts.join('/')}`, runtime };
  for (const p of parts) {
    const m = POD.exec(p);
    if (m) found.podUid = (m[1] as string).replaceAll('_', '-');
  }
  if (namespace) found.namespace = namespace;
  return found;
}

/** Deep enough for kubepods.slice/kubepods-burstable.slice/...-pod<uid>.slice/cri-containerd-<id>.scope and user slices. */
const MAX_DEPTH = 8;

/**
 * Walks the cgroup tree for container cgroups; a container's own subtree is not searched
 * further. Cgroups that disappear during the walk are skipped.
 */
export async function discoverContainerCgroups(layout: CgroupLayout, signal?: AbortSignal): Promise<ContainerCgroup[]> {
  const root = cgroupWalkRoot(layout);
  if (!root) return [];
  const found: ContainerCgroup[] = [];
  const queue: [string, number][] = [['', 0]];
  while (queue.length) {
    signal?.throwIfAborted();
    const [rel, depth] = queue.shift() as [string, number];
    let entries: Dirent[];
    try {
      // Synchronous, as the kernel files are read: cgroupfs directories are listed from kernel
      // memory, and a thread-pool round trip per directory cost more than the listing itself.
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') continue;
      throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = `${rel}/${e.name}`;
      const match = matchContainerCgroup(child);
      if (match) found.push(match);
      else if (depth + 1 < MAX_DEPTH) queue.push([child, depth + 1]);
    }
  }
  // Code-unit order: paths are ASCII, and localeCompare would load ICU's collation (about 3 MB resident).
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One cgroup's figures from whichever hierarchy version this host has. */
export function readCgroup(layout: CgroupLayout, path: string): Promise<CgroupStats> {
  return layout.version === 2 ? readCgroupV2(layout.root, path) : readCgroupV1(layout.controllers, path);
}
