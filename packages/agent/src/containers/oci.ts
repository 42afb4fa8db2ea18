import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the runtime annotations of an OCI bundle say about a container. */
export interface OciMetadata {
  name?: string;
  image?: string;
  pod?: string;
  namespace?: string;
  container?: string;
}

/**
 * The CRI annotations containerd and CRI-O write into a container's OCI spec, and nerdctl's
 * name. These carry the Kubernetes pod, namespace and container for runtimes without a Docker API.
 */
export function metadataFromAnnotations(a: Readonly<Record<string, string>>): OciMetadata {
  const out: OciMetadata = {};
  const set = (k: keyof OciMetadata, v: string | undefined) => {
    if (v && out[k] === undefined) out[k] = v;
  };
  // containerd CRI
  set('pod', a['io.kubernetes.cri.sandbox-name']);
  set('namespace', a['io.kubernetes.cri.sandbox-namespace']);
  set('container', a['io.kubernetes.cri.container-name']);
  set('image', a['io.kubernetes.cri.image-name']);
  // CRI-O
  set('pod', a['io.kubernetes.pod.name']);
  set('namespace', a['io.kubernetes.pod.namespace']);
  set('container', a['io.kubernetes.container.name']);
  set('image', a['io.kubernetes.cri-o.ImageName']);
  set('name', a['io.kubernetes.cri-o.ContainerName']);
  // nerdctl
  set('name', a['nerdctl/name']);
  return out;
}

/** Where containerd and CRI-O/podman keep the bundles of running containers (below the host's root). */
export const CONTAINERD_TASKS = 'run/containerd/io.containerd.runtime.v2.task';
export const CONTAINERS_STORAGE = 'run/containers/storage/overlay-containers';

interface Entry {
  meta: OciMetadata | undefined;
  atMs: number;
}

/** A bundle not found is looked for again after this long (it may have been written late). */
const MISS_TTL_MS = 30_000;

/** Finds and caches the OCI bundle metadata of containers by id, reading the runtimes' state directories. */
export class OciBundles {
  readonly #rootfs: string;
  readonly #cache = new Map<string, Entry>();

  constructor(rootfs: string) {
    this.#rootfs = rootfs;
  }

  async lookup(id: string): Promise<OciMetadata | undefined> {
    const hit = this.#cache.get(id);
    if (hit && (hit.meta || Date.now() - hit.atMs < MISS_TTL_MS)) return hit.meta;
    const meta = await this.#find(id);
    this.#cache.set(id, { meta, atMs: Date.now() });
    return meta;
  }

  /** Forgets containers that are gone. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#cache.keys()) if (!ids.has(id)) this.#cache.delete(id);
  }

  async #find(id: string): Promise<OciMetadata | undefined> {
    const candidates = [join(this.#rootfs, CONTAINERS_STORAGE, id, 'userdata', 'config.json')];
    const tasks = join(this.#rootfs, CONTAINERD_TASKS);
    const namespaces = await readdir(tasks).catch(() => [] as string[]);
    for (const ns of namespaces) candidates.push(join(tasks, ns, id, 'config.json'));
    for (const file of candidates) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        continue;
      }
      try {
        const spec = JSON.parse(text) as { annotations?: Record<string, string> };
        return metadataFromAnnotations(spec.annotations ?? {});
      } catch {
        // A bundle being written right now; try again later.
        return undefined;
      }
    }
    return undefined;
  }
}
