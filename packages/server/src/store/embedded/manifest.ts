/**
 * The manifest and the parts it lists, open for reading. The manifest (written atomically) lists
 * the live parts, how far the write-ahead log is flushed, the series log's valid length and each
 * agent's last sequence at that point. Changes to it run one at a time through `edit`.
 */
import { closeSync, openSync, read, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';
import type { TierName } from '../query.ts';
import { partFile, type TierWindows } from './build.ts';
import { type PartIndex, type PartMeta, readPartIndex } from './part.ts';

export interface Manifest {
  version: 1;
  nextJob: number;
  /** Every WAL segment numbered <= this is in parts. */
  checkpoint: number;
  seriesLogBytes: number;
  parts: PartMeta[];
  seqs: Record<string, number>;
  /** Per tier, data before this time was dropped by the size cap. */
  droppedBefore: Partial<Record<TierName, number>>;
  /**
   * Tombstones of agents whose data was dropped: per agent, the series id below which its series
   * are deleted. Reads skip them at once; merges leave their rows out. Kept for good: the series
   * log still holds their definitions.
   */
  forgotten: Record<string, number>;
}

/**
 * A listed part: its index in memory, its file open only while queries hold it (a store of a year
 * has hundreds of parts; a descriptor each for good would run a server with thousands of agent
 * connections into its descriptor limit).
 */
export interface OpenPart {
  meta: PartMeta;
  index: PartIndex;
  /** Queries holding the part (pinned). */
  refs: number;
  /** The file's descriptor while the part is pinned or read, else -1. */
  fd: number;
  /** Reads under way on `fd`: it is closed only once they end, whatever the pins. */
  reading: number;
  dropped: boolean;
  discarded?: boolean;
  /** The shared timestamp columns, read on first use and kept. */
  timestamps?: Promise<Buffer>;
}

export class PartSet {
  readonly dir: string;
  readonly #windows: TierWindows;
  #manifest: Manifest;
  /** The parts queries see. */
  readonly #visible = new Map<string, OpenPart>();
  #edits: Promise<void> = Promise.resolve();

  constructor(dir: string, windows: TierWindows, manifest: Manifest) {
    this.dir = dir;
    this.#windows = windows;
    this.#manifest = manifest;
  }

  get manifest(): Manifest {
    return this.#manifest;
  }

  /** A new id for a flush or merge job's parts, counted in the manifest. */
  nextJobId(prefix: string): string {
    return `${prefix}${this.#manifest.nextJob++}`;
  }

  /** Opens every listed part and deletes the files of parts it does not list (a flush or merge cut short). */
  async openListed(): Promise<void> {
    const listed = new Set(this.#manifest.parts.map((p) => `${p.tier}-${p.id}.part`));
    for (const f of readdirSync(join(this.dir, 'parts'))) {
      if (!listed.has(f)) rmSync(join(this.dir, 'parts', f), { force: true });
    }
    for (const meta of this.#manifest.parts) this.#visible.set(meta.id, await this.#open(meta));
  }

  /** Opens parts a worker wrote, all or none; queries see them once they are shown. */
  async open(metas: readonly PartMeta[]): Promise<OpenPart[]> {
    const opened: OpenPart[] = [];
    for (const meta of metas) opened.push(await this.#open(meta));
    return opened;
  }

  async #open(meta: PartMeta): Promise<OpenPart> {
    const file = partFile(this.dir, meta);
    const fh = await open(file, 'r');
    try {
      const index = await readPartIndex(file, fh, meta.bytes);
      return { meta, index, refs: 0, fd: -1, reading: 0, dropped: false };
    } finally {
      await fh.close();
    }
  }

  show(parts: readonly OpenPart[]): void {
    for (const p of parts) this.#visible.set(p.meta.id, p);
  }

  /** Takes a part out of queries; its file goes once no query holds it. */
  release(id: string): void {
    const p = this.#visible.get(id);
    if (!p) return;
    this.#visible.delete(id);
    p.dropped = true;
    this.#settle(p);
  }

  /** Deletes the file of a part never opened. */
  async removeFile(meta: PartMeta): Promise<void> {
    await rm(partFile(this.dir, meta), { force: true });
  }

  /** Deletes a part's file (once). */
  async discard(p: OpenPart): Promise<void> {
    if (p.discarded) return;
    p.discarded = true;
    await rm(partFile(this.dir, p.meta), { force: true });
  }

  /** Once nothing holds or reads a part: its descriptor closed, and its file deleted if it was dropped. */
  #settle(p: OpenPart): void {
    if (p.refs > 0 || p.reading > 0) return;
    if (p.fd >= 0) {
      closeSync(p.fd);
      p.fd = -1;
    }
    if (p.dropped) void this.discard(p);
  }

  /** Reads `len` bytes at `pos` of a pinned part into `buf` at `off`, through the thread pool. */
  async read(p: OpenPart, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
    if (p.fd < 0) throw new Error(`part ${p.meta.id} is read without being pinned`);
    p.reading++;
    try {
      return await new Promise<number>((resolve, reject) => read(p.fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
    } finally {
      p.reading--;
      this.#settle(p);
    }
  }

  /** The listed parts holding a row under any of these sort keys (binary search: a part's keys are in order). */
  holding(keys: readonly number[]): PartMeta[] {
    const out: PartMeta[] = [];
    for (const p of this.#visible.values()) {
      if (keys.some((k) => hasKey(p.index.keys, k))) out.push(p.meta);
    }
    return out;
  }

  /**
   * Parts of a tier whose windows overlap [from, to] and that `wanted` keeps, pinned until `unpin`.
   * Only what is returned is pinned: a part pinned and then filtered out would never be unpinned,
   * and so never closed nor deleted once merged away.
   */
  pin(tier: TierName, from: number, to: number, wanted: (m: PartMeta) => boolean = () => true): OpenPart[] {
    const out: OpenPart[] = [];
    for (const p of this.#visible.values()) {
      const m = p.meta;
      if (m.tier !== tier || m.window > to || m.window + this.#windows[tier] <= from || !wanted(m)) continue;
      try {
        // Opened by the first query to hold it, closed when the last lets go (see #settle).
        if (p.fd < 0) p.fd = openSync(partFile(this.dir, m), 'r');
      } catch (err) {
        this.unpin(out);
        throw err;
      }
      p.refs++;
      out.push(p);
    }
    return out;
  }

  unpin(parts: readonly OpenPart[]): void {
    for (const p of parts) {
      p.refs--;
      this.#settle(p);
    }
  }

  /** Runs `fn` once every edit queued before it has ended, failed or not. */
  edit<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#edits.then(fn);
    this.#edits = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Resolves once every edit queued so far has ended. */
  settled(): Promise<void> {
    return this.#edits;
  }

  /** Replaces the manifest on disk (write, fsync, rename, fsync the directory); only inside `edit`. */
  async commit(next: Manifest): Promise<void> {
    const file = join(this.dir, 'manifest.json');
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(next), { mode: PRIVATE_FILE_MODE });
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    this.#manifest = next;
  }

  async closeAll(): Promise<void> {
    // A part a query still holds is closed when it lets go (#settle), not under its reads.
    for (const p of this.#visible.values()) this.#settle(p);
    this.#visible.clear();
  }
}

function hasKey(keys: Float64Array, key: number): boolean {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] as number;
    if (k === key) return true;
    if (k < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

export function readManifest(file: string): Manifest {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { version: 1, nextJob: 1, checkpoint: 0, seriesLogBytes: 0, parts: [], seqs: {}, droppedBefore: {}, forgotten: {} };
    }
    throw err;
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new Error(
      `store manifest ${file} is not valid JSON (${(err as Error).message}); restore it from a backup or move the directory away`,
    );
  }
  if (m.version !== 1) throw new Error(`store manifest ${file}: unknown version ${String(m.version)}`);
  m.droppedBefore ??= {};
  m.forgotten ??= {};
  return m;
}
