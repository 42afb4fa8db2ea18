import type { Agent } from '@falconet/protocol/api';
import { getJson } from '../http.ts';

/** How many CPU points a row's sparkline keeps (15 minutes at one point per 15 s). */
export const SPARK_POINTS = 60;
/** The width of a sparkline bucket: one point per agent per bucket. */
export const SPARK_STEP_MS = 15_000;

type RowListener = (agent: Agent) => void;
type FleetListener = (changed: ReadonlySet<string>) => void;

/**
 * Every agent, kept outside React. Live updates patch the map and repaint only the rows that
 * are on screen (through their listeners, batched once per animation frame); the list itself
 * (filter, sort, groups) re-renders only when membership or status changes, at most once a second.
 */
export class AgentStore {
  readonly agents = new Map<string, Agent>();
  /** CPU % per agent, one value per SPARK_STEP_MS bucket, newest last. */
  readonly spark = new Map<string, { t: number; v: number }[]>();
  version = 0;
  loaded = false;
  readonly #rows = new Map<string, Set<RowListener>>();
  readonly #fleet = new Set<FleetListener>();
  /** How many agents have each host name: a name held by two or more needs telling apart. */
  readonly #names = new Map<string, number>();
  readonly #list = new Set<() => void>();
  readonly #dirty = new Set<string>();
  #frame = 0;
  #listTimer: ReturnType<typeof setTimeout> | undefined;

  load(items: Agent[]): void {
    for (const a of items) {
      // A live update that arrived while the snapshot was on its way is newer than the snapshot.
      const prev = this.agents.get(a.id);
      if ((prev?.lastSeenMs ?? Number.NEGATIVE_INFINITY) > a.lastSeenMs) continue;
      this.#rename(prev, a);
      this.agents.set(a.id, a);
      this.#dirty.add(a.id);
    }
    this.loaded = true;
    // The rows on screen paint from their listeners: a snapshot read again after a reconnect repaints them too.
    this.#schedule();
    this.#listChanged(true);
  }

  get(id: string): Agent | undefined {
    return this.agents.get(id);
  }

  /** Whether another agent has this agent's host name, so the name alone does not say which host it is. */
  sharesName(a: Agent): boolean {
    return (this.#names.get(a.hostname) ?? 0) > 1;
  }

  /** Moves one count from the previous host name to the next (either absent: an agent added or removed). */
  #rename(prev: Agent | undefined, next: Agent | undefined): boolean {
    if (prev?.hostname === next?.hostname) return false;
    if (prev) {
      const n = (this.#names.get(prev.hostname) ?? 1) - 1;
      if (n > 0) this.#names.set(prev.hostname, n);
      else this.#names.delete(prev.hostname);
    }
    if (next) this.#names.set(next.hostname, (this.#names.get(next.hostname) ?? 0) + 1);
    return true;
  }

  /** Seeds the sparklines from the store's history: one query for the whole fleet. */
  async loadSparklines(): Promise<void> {
    const to = Date.now();
    const q = new URLSearchParams({
      name: 'falconet_cpu_usage_percent',
      by: 'agent',
      from: String(to - SPARK_POINTS * SPARK_STEP_MS),
      to: String(to),
      step: String(SPARK_STEP_MS),
    });
    const r = await getJson<{ groups: { group: Record<string, string>; points: [number, number | null][] }[] }>(
      `/api/metrics/aggregate?${q}`,
    );
    for (const g of r.groups) {
      const id = g.group.agent;
      if (!id) continue;
      const live = this.spark.get(id) ?? [];
      const older = g.points
        .filter(([t, v]) => v !== null && t < (live[0]?.t ?? Number.POSITIVE_INFINITY))
        .map(([t, v]) => ({ t, v: v as number }));
      this.spark.set(id, [...older, ...live].slice(-SPARK_POINTS));
      this.#dirty.add(id);
    }
    this.#schedule();
  }

  upsert(agent: Agent): void {
    const prev = this.agents.get(agent.id);
    const renamed = this.#rename(prev, agent);
    this.agents.set(agent.id, agent);
    const cpu = agent.summary.falconet_cpu_usage_percent;
    if (typeof cpu === 'number' && Number.isFinite(cpu) && (!prev || prev.lastSeenMs !== agent.lastSeenMs)) {
      const line = this.spark.get(agent.id) ?? [];
      const bucket = Math.floor(agent.lastSeenMs / SPARK_STEP_MS) * SPARK_STEP_MS;
      const last = line[line.length - 1];
      if (last && last.t >= bucket) last.v = cpu;
      else line.push({ t: bucket, v: cpu });
      if (line.length > SPARK_POINTS) line.splice(0, line.length - SPARK_POINTS);
      this.spark.set(agent.id, line);
    }
    this.#dirty.add(agent.id);
    this.#schedule();
    // A new name may make two hosts (this one and another) need telling apart: the list says so at once.
    if (renamed || prev?.status !== agent.status) this.#listChanged(renamed);
  }

  /** An agent forgotten on the server: out of the list at once. */
  remove(id: string): void {
    const prev = this.agents.get(id);
    if (!prev) return;
    this.agents.delete(id);
    // Its namesake, if one is left, no longer needs telling apart.
    this.#rename(prev, undefined);
    this.spark.delete(id);
    this.#dirty.delete(id);
    this.#listChanged(true);
  }

  /** Calls `l` with the agent whenever it changes (batched per frame); returns the unsubscribe. */
  watch(id: string, l: RowListener): () => void {
    let set = this.#rows.get(id);
    if (!set) {
      set = new Set();
      this.#rows.set(id, set);
    }
    set.add(l);
    return () => {
      set.delete(l);
      if (!set.size) this.#rows.delete(id);
    };
  }

  /** Calls `l` with the ids of the agents that changed since the last call (batched per frame), e.g. to repaint a whole-fleet view. */
  watchFleet(l: FleetListener): () => void {
    this.#fleet.add(l);
    return () => this.#fleet.delete(l);
  }

  /** For useSyncExternalStore: the list version changes when agents come, go or change status. */
  subscribeList = (l: () => void): (() => void) => {
    this.#list.add(l);
    return () => this.#list.delete(l);
  };

  getVersion = (): number => this.version;

  #schedule(): void {
    if (this.#frame) return;
    const flush = () => {
      this.#frame = 0;
      for (const id of this.#dirty) {
        const a = this.agents.get(id);
        const ls = this.#rows.get(id);
        if (a && ls) for (const l of ls) l(a);
      }
      for (const l of this.#fleet) l(this.#dirty);
      this.#dirty.clear();
    };
    // A hidden tab gets no animation frames; a timer keeps the state current for when it returns.
    this.#frame = document.hidden ? (setTimeout(flush, 250) as unknown as number) : requestAnimationFrame(flush);
  }

  #listChanged(now: boolean): void {
    const fire = () => {
      this.#listTimer = undefined;
      this.version++;
      for (const l of this.#list) l();
    };
    if (now) {
      clearTimeout(this.#listTimer);
      fire();
    } else this.#listTimer ??= setTimeout(fire, 1000);
  }
}
