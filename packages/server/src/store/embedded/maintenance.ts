/**
 * Maintenance of the parts: merges (parts of one level in one window, 8 at a time; a raw window
 * sealed into one part with its 1 m and 1 h rollups once it has closed), retention by age and
 * the size cap, both dropping whole windows.
 */
import type { TierName } from '../query.ts';
import type { StoreLog } from '../types.ts';
import type { TierWindows } from './build.ts';
import type { JobWorker } from './jobs.ts';
import type { Manifest, PartSet } from './manifest.ts';
import type { PartMeta } from './part.ts';
import type { StoreStatus } from './status.ts';

/**
 * The time retention counts back from: the newest sample the store holds, never past the wall
 * clock. A server clock that jumps forward (or a restart with a wrong clock) thus deletes nothing
 * and hides nothing, as Prometheus counts time retention from its newest block; one that jumps
 * back only keeps data longer. Data ages out as newer data comes in, not while none does. An
 * empty store counts from the wall clock.
 */
export function retentionReference(
  parts: readonly Pick<PartMeta, 'maxTs'>[],
  heads: readonly { n: number; maxTs: number }[],
  wallMs: number,
): number {
  let newest = Number.NEGATIVE_INFINITY;
  for (const p of parts) if (p.maxTs > newest) newest = p.maxTs;
  for (const h of heads) if (h.n > 0 && h.maxTs > newest) newest = h.maxTs;
  return Number.isFinite(newest) ? Math.min(wallMs, newest) : wallMs;
}

/** A window takes no more late data this long after it ends; then it is merged into one part. */
const WINDOW_GRACE_MS = 10 * 60_000;
const TIERS: readonly TierName[] = ['raw', '1m', '1h'];

export interface MaintenanceOptions {
  parts: PartSet;
  /** The worker that merges parts. */
  compactor: JobWorker;
  status: StoreStatus;
  windows: TierWindows;
  retention: Record<TierName, number>;
  /** Total bytes of parts and log beyond which the oldest windows go; 0 = no cap. */
  maxBytes: number;
  /** Parts of one level in one window that trigger a merge. */
  fanIn: number;
  /** Ids of deleted series, whose rows merges leave out. */
  dead: ReadonlySet<number>;
  /** The sort key of a series id in a part. */
  sortKey: (id: number) => number;
  /** Bytes of the write-ahead log, which count toward the cap. */
  walBytes: () => number;
  now: () => number;
  log: StoreLog;
}

export class Maintenance {
  readonly #o: MaintenanceOptions;
  #compacting: Promise<void> | undefined;
  #retaining = false;
  compactions = 0;

  constructor(opts: MaintenanceOptions) {
    this.#o = opts;
  }

  /** A retention pass is running. */
  get retaining(): boolean {
    return this.#retaining;
  }

  /** One pass in the background: retention (counted back from `now`, see retentionReference) and the size cap, then a merge if one is due. */
  run(now: number): void {
    this.#retaining = true;
    this.applyRetention(now)
      .catch((err: Error) => this.#o.log.error({ err: err.message }, 'retention failed'))
      .finally(() => {
        this.#retaining = false;
      });
    this.scheduleCompaction();
  }

  async applyRetention(now: number): Promise<void> {
    const { parts, windows, retention, maxBytes } = this.#o;
    const manifest = parts.manifest;
    const drop = new Set<string>();
    for (const p of manifest.parts) {
      // Raw data is rolled up before it may go (sealing follows soon after its window closes).
      if (p.window + windows[p.tier] <= now - retention[p.tier] && p.rolledUp) drop.add(p.id);
    }
    const droppedBefore = { ...manifest.droppedBefore };
    if (maxBytes > 0) {
      let total = this.#o.walBytes();
      for (const p of manifest.parts) if (!drop.has(p.id)) total += p.bytes;
      while (total > maxBytes) {
        const victim = oldestDroppableWindow(manifest.parts, drop);
        if (!victim) break;
        for (const p of manifest.parts) {
          if (p.tier === victim.tier && p.window === victim.window && !drop.has(p.id)) {
            drop.add(p.id);
            total -= p.bytes;
          }
        }
        droppedBefore[victim.tier] = Math.max(droppedBefore[victim.tier] ?? 0, victim.window + windows[victim.tier]);
        this.#o.log.warn(
          { tier: victim.tier, window: new Date(victim.window).toISOString(), maxBytes },
          'size cap reached: dropped the oldest window',
        );
      }
    }
    if (drop.size === 0) return;
    await parts.edit(async () => {
      const m = parts.manifest;
      const next: Manifest = { ...m, droppedBefore, parts: m.parts.filter((p) => !drop.has(p.id)) };
      await parts.commit(next);
      for (const id of drop) parts.release(id);
    });
  }

  scheduleCompaction(): void {
    if (this.#compacting || this.#o.status.stopped) return;
    const job = this.#pickMerge(this.#o.now());
    if (!job) return;
    this.#compacting = this.#compact(job.inputs, job.level, job.seal)
      .catch((err: Error) => this.#o.log.error({ err: err.message }, 'compaction failed; inputs kept'))
      .finally(() => {
        this.#compacting = undefined;
        this.scheduleCompaction();
      });
  }

  /** Resolves once no merge is running. */
  async idle(): Promise<void> {
    while (this.#compacting) await this.#compacting;
  }

  #pickMerge(now: number): { inputs: PartMeta[]; level: number; seal: boolean } | undefined {
    const groups = new Map<string, PartMeta[]>();
    for (const p of this.#o.parts.manifest.parts) {
      const k = `${p.tier}:${p.window}`;
      const g = groups.get(k);
      if (g) g.push(p);
      else groups.set(k, [p]);
    }
    for (const parts of groups.values()) {
      const first = parts[0] as PartMeta;
      const closed = first.window + this.#o.windows[first.tier] + WINDOW_GRACE_MS < now;
      const seal = first.tier === 'raw' ? parts.length > 1 || parts.some((p) => !p.rolledUp) : parts.length > 1;
      if (closed && seal) return { inputs: parts, level: Math.max(...parts.map((p) => p.level)) + 1, seal: true };
      const byLevel = new Map<number, PartMeta[]>();
      for (const p of parts) {
        const l = byLevel.get(p.level);
        if (l) l.push(p);
        else byLevel.set(p.level, [p]);
      }
      for (const [level, ps] of byLevel) if (ps.length >= this.#o.fanIn) return { inputs: ps, level: level + 1, seal: false };
    }
    return undefined;
  }

  async #compact(inputs: PartMeta[], level: number, seal: boolean): Promise<void> {
    const { parts, windows } = this.#o;
    const id = parts.nextJobId('m');
    const first = inputs[0] as PartMeta;
    const tier = first.tier;
    const rollup = seal && tier === 'raw' ? { windows } : undefined;
    this.#o.log.info(
      {
        tier,
        window: new Date(first.window).toISOString(),
        parts: inputs.length,
        level,
        seal,
        bytes: inputs.reduce((n, p) => n + p.bytes, 0),
      },
      'merging parts',
    );
    const { part, rollups } = await this.#o.compactor.merge({
      type: 'merge',
      dir: parts.dir,
      id,
      inputs,
      level,
      ...(rollup ? { rollup } : {}),
      ...(this.#o.dead.size > 0 ? { dead: [...this.#o.dead] } : {}),
    });
    // Only deleted series in the inputs: nothing to list in their place.
    const kept = [part, ...rollups].filter((p) => p.series > 0);
    for (const p of [part, ...rollups]) if (p.series === 0) await parts.removeFile(p);
    const opened = await parts.open(kept);
    await parts.edit(async () => {
      const gone = new Set(inputs.map((p) => p.id));
      // Retention may have dropped the inputs meanwhile; then the merged parts go too.
      if (!parts.manifest.parts.some((p) => gone.has(p.id))) {
        for (const p of opened) await parts.discard(p);
        return;
      }
      const m = parts.manifest;
      await parts.commit({ ...m, parts: [...m.parts.filter((p) => !gone.has(p.id)), ...kept] });
      parts.show(opened);
      for (const p of inputs) parts.release(p.id);
      this.compactions++;
    });
  }

  /**
   * Rewrites, one at a time, every part holding a row of a deleted series, without those rows.
   * Reads skip them already; this gives the space back. A crash midway leaves the rest to the
   * merges and retention that would come anyway.
   */
  async purge(): Promise<void> {
    const { parts, dead, sortKey } = this.#o;
    // Found once, after a merge in flight: parts written from now on leave those rows out already.
    await this.idle();
    const todo = parts.holding([...dead].map(sortKey));
    for (const p of todo) {
      if (this.#o.status.stopped) return;
      await this.idle();
      // Merged or dropped meanwhile: the merge left the rows out, or they are gone.
      if (!parts.manifest.parts.some((m) => m.id === p.id)) continue;
      const run = this.#compact([p], p.level, false);
      this.#compacting = run;
      try {
        await run;
      } finally {
        this.#compacting = undefined;
      }
    }
  }

  /** Seals every window now, open or not (tests and benchmarks measure the settled layout). */
  async compactAll(): Promise<void> {
    for (const tier of TIERS) {
      while (true) {
        await this.idle();
        const groups = new Map<number, PartMeta[]>();
        for (const p of this.#o.parts.manifest.parts) if (p.tier === tier) groups.set(p.window, [...(groups.get(p.window) ?? []), p]);
        const g = [...groups.values()].find((ps) => ps.length > 1 || (tier === 'raw' && ps.some((p) => !p.rolledUp)));
        if (!g) break;
        await this.#compact(g, Math.max(...g.map((p) => p.level)) + 1, true);
      }
    }
  }
}

/** The oldest window of the finest tier that has more than its newest window. */
function oldestDroppableWindow(all: readonly PartMeta[], excluded: Set<string>): { tier: TierName; window: number } | undefined {
  for (const tier of TIERS) {
    const parts = all.filter((p) => p.tier === tier && !excluded.has(p.id));
    // A raw window not rolled up yet would take its data out of every tier.
    const unrolled = new Set(parts.filter((p) => !p.rolledUp).map((p) => p.window));
    const windows = [...new Set(parts.map((p) => p.window))].filter((w) => !unrolled.has(w)).sort((a, b) => a - b);
    const newest = Math.max(...parts.map((p) => p.window));
    if (windows.length > 0 && (windows[0] as number) < newest) return { tier, window: windows[0] as number };
  }
  return undefined;
}
