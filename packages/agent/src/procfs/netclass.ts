import { readdirSync, realpathSync, statSync } from 'node:fs';
import { optionalNativeHelpers } from '../native.ts';
import { onKernelFs, openKernelFiles, type ProcRoots, readSysAttr, sysPath } from './fs.ts';

/** What /sys/class/net/<iface>/ tells about one interface; absent when the device does not report it. */
export interface NetClassIface {
  name: string;
  addrAssignType?: number;
  address?: string;
  broadcast?: string;
  carrier?: number;
  carrierChanges?: number;
  carrierUpCount?: number;
  carrierDownCount?: number;
  devId?: number;
  dormant?: number;
  duplex?: string;
  flags?: number;
  ifAlias?: string;
  ifIndex?: number;
  ifLink?: number;
  linkMode?: number;
  mtu?: number;
  nameAssignType?: number;
  netDevGroup?: number;
  operState?: string;
  /** Mbit/s; -1 when the driver does not know. */
  speed?: number;
  txQueueLen?: number;
  type?: number;
}

const NUMERIC = {
  addr_assign_type: 'addrAssignType',
  carrier: 'carrier',
  carrier_changes: 'carrierChanges',
  carrier_up_count: 'carrierUpCount',
  carrier_down_count: 'carrierDownCount',
  dev_id: 'devId',
  dormant: 'dormant',
  flags: 'flags',
  ifindex: 'ifIndex',
  iflink: 'ifLink',
  link_mode: 'linkMode',
  mtu: 'mtu',
  name_assign_type: 'nameAssignType',
  netdev_group: 'netDevGroup',
  speed: 'speed',
  tx_queue_len: 'txQueueLen',
  type: 'type',
} as const;

const TEXT = { address: 'address', broadcast: 'broadcast', duplex: 'duplex', ifalias: 'ifAlias' } as const;

/** Interface names under /sys/class/net; `bonding_masters` and other plain files are not interfaces. */
export function listNetClass(roots: ProcRoots): string[] {
  const dir = sysPath(roots, 'class/net');
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.isSymbolicLink())
    .map((e) => e.name)
    .sort();
}

function trimmed(values: (string | undefined)[]): (string | undefined)[] {
  for (let i = 0; i < values.length; i++) values[i] = values[i]?.trim();
  return values;
}

/** Interfaces whose attribute files stay open: some 20 descriptors each (a host with hundreds of veths reads the rest afresh). */
const KEPT_IFACES = 32;

interface IfaceDir {
  dir: string;
  ino: number;
  /** When the inode was last found unchanged. */
  checkedMs: number;
  /** The attribute files, open, in the order they were asked for (native helpers only). */
  fds?: Int32Array;
}

/**
 * Resolves /sys/class/net/<iface> to the device directory it links to, once: opening files through
 * the symlink costs the kernel a third more per file, and an interface has some twenty files.
 * The attribute files themselves stay open between scrapes, and a descriptor follows its device,
 * not its name: so a use checks, with one stat() at most once a second, that the directory is
 * still the same kernel object (same inode). When the interface was renamed or removed, and
 * perhaps another took its name, its open files are closed and the name is resolved afresh.
 */
export class NetClassDirs {
  readonly #cache = new Map<string, IfaceDir>();
  readonly #now: () => number;
  #kept = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  resolve(roots: ProcRoots, name: string, fresh = false): string {
    return this.#entry(roots, name, fresh).dir;
  }

  /**
   * The named attribute files of an interface (always the same list for one NetClassDirs), trimmed,
   * read through descriptors kept open when the native helpers are built, undefined where unreadable.
   */
  attributes(roots: ProcRoots, name: string, files: readonly string[], fresh = false): (string | undefined)[] {
    const entry = this.#entry(roots, name, fresh);
    const native = optionalNativeHelpers();
    if (!native) return readAttributes(entry.dir, files);
    let fds = entry.fds;
    if (!fds) {
      fds = native.openFiles(entry.dir, files);
      if (this.#kept < KEPT_IFACES && (fds[0] as number) >= 0 && onKernelFs(entry.dir)) {
        entry.fds = fds;
        this.#kept++;
      }
    }
    try {
      return trimmed(native.readFds(fds));
    } finally {
      if (entry.fds !== fds) native.closeFds(fds);
    }
  }

  #entry(roots: ProcRoots, name: string, fresh: boolean): IfaceDir {
    const link = sysPath(roots, 'class/net', name);
    const cached = this.#cache.get(link);
    if (cached && !fresh) {
      // netclass and netdev both read an interface in one scrape: one check per second is enough.
      const now = this.#now();
      if (now - cached.checkedMs < 1000) return cached;
      if (statSync(cached.dir, { throwIfNoEntry: false })?.ino === cached.ino) {
        cached.checkedMs = now;
        return cached;
      }
    }
    if (cached) this.#forget(link, cached);
    // Bounded even if no one prunes it: containers come and go with interfaces of their own.
    if (this.#cache.size >= 4096) for (const [k, v] of this.#cache) this.#forget(k, v);
    let dir: string;
    try {
      dir = realpathSync(link);
    } catch {
      dir = link;
    }
    const entry: IfaceDir = { dir, ino: statSync(dir, { throwIfNoEntry: false })?.ino ?? -1, checkedMs: this.#now() };
    this.#cache.set(link, entry);
    return entry;
  }

  #forget(link: string, entry: IfaceDir): void {
    this.#cache.delete(link);
    openKernelFiles.forgetUnder(entry.dir);
    if (entry.fds) {
      optionalNativeHelpers()?.closeFds(entry.fds);
      this.#kept--;
    }
  }

  /** Drops entries of interfaces no longer listed, and closes their open files. */
  retain(roots: ProcRoots, names: readonly string[]): void {
    const keep = new Set(names.map((n) => sysPath(roots, 'class/net', n)));
    for (const [k, v] of this.#cache) if (!keep.has(k)) this.#forget(k, v);
  }
}

const FILES = ['operstate', ...Object.keys(NUMERIC), ...Object.keys(TEXT)];

/** Reads every attribute file of a directory (kept open between scrapes, see NetClassDirs). */
export type AttributeReader = (dir: string, files: readonly string[]) => (string | undefined)[];

export const readAttributes: AttributeReader = (dir, files) => files.map((f) => readSysAttr(`${dir}/${f}`));

export function readNetClassIface(roots: ProcRoots, name: string, dirs?: NetClassDirs, read?: AttributeReader): NetClassIface {
  const attributes = (fresh: boolean) =>
    dirs && !read
      ? dirs.attributes(roots, name, FILES, fresh)
      : (read ?? readAttributes)(dirs ? dirs.resolve(roots, name, fresh) : sysPath(roots, 'class/net', name), FILES);
  let values = attributes(false);
  // operstate exists for every interface; if it is gone, the cached directory is stale.
  if (values[0] === undefined && dirs) values = attributes(true);
  const iface: NetClassIface = { name };
  const rec = iface as unknown as Record<string, number | string | undefined>;
  FILES.forEach((file, i) => {
    const raw = values[i];
    if (raw === undefined) return;
    if (i === 0) iface.operState = raw;
    else if (file in NUMERIC) {
      if (raw === '') return;
      // flags and dev_id are written in hexadecimal (0x1003), which Number() reads as such.
      const n = Number(raw);
      if (Number.isFinite(n)) rec[NUMERIC[file as keyof typeof NUMERIC]] = n;
    } else rec[TEXT[file as keyof typeof TEXT]] = raw;
  });
  return iface;
}

/** Per sysfs root, shared by the collectors that read interface files (netclass, netdev). */
const shared = new Map<string, NetClassDirs>();

export function netClassDirsFor(roots: ProcRoots): NetClassDirs {
  let d = shared.get(roots.sys);
  if (!d) {
    d = new NetClassDirs();
    shared.set(roots.sys, d);
  }
  return d;
}
