/**
 * The Containers tab's data: the container collector's series of one agent (as its reports carry
 * them, see docs/containers.md) turned into one row per container, counts by state, and the
 * moments of container events. Pure functions and one small class; no React, no fetching.
 */

import type { LatestSample } from '@falconet/protocol/api';

/**
 * Written by the container collector in one run: they share the run's timestamp. `machine_memory_bytes`
 * and `falconet_docker_up` come with every run, containers or not, so they date the latest run.
 */
const RUN = {
  info: 'falconet_container_info',
  state: 'falconet_container_state',
  health: 'falconet_container_health',
  restarts: 'falconet_container_restarts_total',
  exitCode: 'falconet_container_exit_code',
  dockerUp: 'falconet_docker_up',
  dockerInfo: 'falconet_docker_info',
  machineMemory: 'machine_memory_bytes',
} as const;

/** Derived by the agent for each report from two collections: they share the report's time. */
const SUMMARY = {
  cpu: 'falconet_container_cpu_usage_percent',
  cpuLimit: 'falconet_container_cpu_limit_cores',
  memory: 'falconet_container_memory_usage_bytes',
  memoryLimit: 'falconet_container_memory_limit_bytes',
  memoryPercent: 'falconet_container_memory_used_percent',
  netRx: 'falconet_container_network_receive_bytes_per_second',
  netTx: 'falconet_container_network_transmit_bytes_per_second',
  fsRead: 'falconet_container_fs_read_bytes_per_second',
  fsWrite: 'falconet_container_fs_write_bytes_per_second',
  counts: 'falconet_containers',
} as const;

export const CONTAINER_EVENTS_METRIC = 'falconet_container_events_total';
export const CONTAINER_CPU_METRIC = SUMMARY.cpu;
export const CONTAINER_CPU_LIMIT_METRIC = SUMMARY.cpuLimit;
export const CONTAINER_MEMORY_METRIC = SUMMARY.memory;
export const CONTAINER_MEMORY_LIMIT_METRIC = SUMMARY.memoryLimit;

const RUN_NAMES = new Set<string>(Object.values(RUN));
const SUMMARY_NAMES = new Set<string>(Object.values(SUMMARY));

/** Every metric the table reads: what the tab asks /api/metrics/latest for, and keeps from live reports. */
export const TABLE_METRICS: readonly string[] = [...RUN_NAMES, ...SUMMARY_NAMES];

export type Tone = 'ok' | 'warn' | 'bad' | 'muted';

export interface ContainerRow {
  /** The `id` label: the container's cgroup path, unique on the host. */
  id: string;
  /** The `name` label, or the short id when there is none. */
  name: string;
  named: boolean;
  image: string;
  runtime: string;
  state?: string;
  health?: string;
  exitCode?: number;
  restarts?: number;
  /** Percent of one core, as `docker stats`. */
  cpuPercent?: number;
  cpuLimitCores?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  memoryPercent?: number;
  /** The limit is the container's own, not the host's memory. */
  memoryLimited: boolean;
  netRxBps?: number;
  netTxBps?: number;
  fsReadBps?: number;
  fsWriteBps?: number;
  namespace: string;
  pod: string;
  container: string;
}

export interface ContainerTable {
  /** The agent sends container series at all (the collector is on, the host is Linux). */
  reported: boolean;
  /** One per container, by id. */
  rows: ContainerRow[];
  /** From `falconet_containers{state}`, in STATE_ORDER. */
  counts: { state: string; count: number }[];
  /** `falconet_docker_up`; undefined when Docker is left out (no socket configured). */
  dockerUp?: boolean;
  /** `falconet_docker_info`: the socket the agent asks and why it got no answer (`none` when it did); agents before it send none. */
  docker?: { socket: string; problem: string };
}

/** The order states are listed and sorted in: running first, then the ones between, then the stopped. */
export const STATE_ORDER = ['running', 'restarting', 'paused', 'created', 'removing', 'exited', 'dead'] as const;

const key = (s: LatestSample) =>
  `${s.name}{${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${s.labels[k]}`)
    .join(',')}}`;

/** Series older than this behind the newest are dropped: the table never shows them. */
const KEEP_MS = 15 * 60_000;

/**
 * The latest sample of each container series of one agent: filled from /api/metrics/latest and
 * kept current by each report over /api/live, whichever arrives first.
 */
export class ContainerSnapshot {
  readonly #series = new Map<string, LatestSample>();
  #newest = 0;

  /** Keeps the samples the table reads; true when one of them was new. */
  merge(samples: readonly LatestSample[]): boolean {
    let changed = false;
    for (const s of samples) {
      if (!RUN_NAMES.has(s.name) && !SUMMARY_NAMES.has(s.name)) continue;
      const k = key(s);
      const had = this.#series.get(k);
      if (had && had.timestampMs > s.timestampMs) continue;
      this.#series.set(k, s);
      this.#newest = Math.max(this.#newest, s.timestampMs);
      changed = true;
    }
    if (changed) {
      for (const [k, s] of this.#series) if (s.timestampMs < this.#newest - KEEP_MS) this.#series.delete(k);
    }
    return changed;
  }

  samples(): Iterable<LatestSample> {
    return this.#series.values();
  }

  get size(): number {
    return this.#series.size;
  }
}

/**
 * A container's short id, as `docker ps` shows it: the first 12 hex digits of the container id,
 * the last run of hex digits in its cgroup path. For containers without a name.
 */
export function shortId(id: string): string {
  const runs = id.match(/[0-9a-f]{12,}/gi);
  const last = runs?.[runs.length - 1];
  if (last) return last.slice(0, 12).toLowerCase();
  return id.split('/').filter(Boolean).pop() ?? id;
}

/** The badge colour: unhealthy red over any state; running green; paused, restarting, removing amber; the rest grey. */
export function stateTone(state: string | undefined, health: string | undefined): Tone {
  if (health === 'unhealthy') return 'bad';
  if (state === 'running') return 'ok';
  if (state === 'paused' || state === 'restarting' || state === 'removing') return 'warn';
  return 'muted';
}

export function healthTone(health: string | undefined): Tone {
  return health === 'healthy' ? 'ok' : health === 'unhealthy' ? 'bad' : health === 'starting' ? 'warn' : 'muted';
}

export const isExited = (r: Pick<ContainerRow, 'state'>) => r.state === 'exited' || r.state === 'dead';

/**
 * Rows and counts from the latest samples. A series counts only when it belongs to the latest
 * run of the collector (run series) or the latest report (summaries): a container that is gone,
 * or the CPU of one that exited, is not shown as if it were current.
 *
 * A report's summaries are stamped with the collection's time and the collector's series with
 * its run's, which starts a little later; `intervalMs` tells a report's summaries from an older one's.
 */
export function deriveTable(samples: Iterable<LatestSample>, intervalMs: number): ContainerTable {
  const run: LatestSample[] = [];
  const summary: LatestSample[] = [];
  let runTs = Number.NEGATIVE_INFINITY;
  let sumTs = Number.NEGATIVE_INFINITY;
  for (const s of samples) {
    if (RUN_NAMES.has(s.name)) {
      run.push(s);
      runTs = Math.max(runTs, s.timestampMs);
    } else if (SUMMARY_NAMES.has(s.name)) {
      summary.push(s);
      sumTs = Math.max(sumTs, s.timestampMs);
    }
  }
  if (!run.length && !summary.length) return { reported: false, rows: [], counts: [] };
  const summariesCurrent = !run.length || sumTs > runTs - 0.75 * intervalMs;
  const current = [
    ...run.filter((s) => s.timestampMs === runTs),
    ...(summariesCurrent ? summary.filter((s) => s.timestampMs === sumTs) : []),
  ];

  const rows = new Map<string, ContainerRow>();
  let machineMemory: number | undefined;
  let dockerUp: boolean | undefined;
  let docker: ContainerTable['docker'];
  const counts = new Map<string, number>();
  for (const s of current) {
    if (s.name === RUN.info) {
      const l = s.labels;
      const id = l.id ?? '';
      rows.set(id, {
        id,
        name: l.name || shortId(id),
        named: !!l.name,
        image: l.image ?? '',
        runtime: l.runtime ?? '',
        memoryLimited: false,
        namespace: l.namespace ?? '',
        pod: l.pod ?? '',
        container: l.container ?? '',
      });
    } else if (s.name === RUN.machineMemory && s.value !== null) machineMemory = s.value;
    else if (s.name === RUN.dockerUp && s.value !== null) dockerUp = s.value === 1;
    else if (s.name === RUN.dockerInfo && s.value === 1) docker = { socket: s.labels.socket ?? '', problem: s.labels.problem ?? '' };
    else if (s.name === SUMMARY.counts && s.value && s.labels.state) counts.set(s.labels.state, s.value);
  }
  for (const s of current) {
    const row = rows.get(s.labels.id ?? '');
    const v = s.value;
    if (!row || v === null) continue;
    switch (s.name) {
      case RUN.state:
        if (v === 1) row.state = s.labels.state;
        break;
      case RUN.health:
        if (v === 1) row.health = s.labels.health;
        break;
      case RUN.restarts:
        row.restarts = v;
        break;
      case RUN.exitCode:
        row.exitCode = v;
        break;
      case SUMMARY.cpu:
        row.cpuPercent = v;
        break;
      case SUMMARY.cpuLimit:
        row.cpuLimitCores = v;
        break;
      case SUMMARY.memory:
        row.memoryBytes = v;
        break;
      case SUMMARY.memoryLimit:
        row.memoryLimitBytes = v;
        break;
      case SUMMARY.memoryPercent:
        row.memoryPercent = v;
        break;
      case SUMMARY.netRx:
        row.netRxBps = v;
        break;
      case SUMMARY.netTx:
        row.netTxBps = v;
        break;
      case SUMMARY.fsRead:
        row.fsReadBps = v;
        break;
      case SUMMARY.fsWrite:
        row.fsWriteBps = v;
        break;
    }
  }
  for (const row of rows.values()) {
    // The agent gives the host's memory as the limit of a container without one, as Docker does.
    row.memoryLimited = row.memoryLimitBytes !== undefined && (machineMemory === undefined || row.memoryLimitBytes < machineMemory);
  }
  const rank = (state: string) => {
    const i = (STATE_ORDER as readonly string[]).indexOf(state);
    return i < 0 ? STATE_ORDER.length : i;
  };
  return {
    reported: true,
    rows: [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    counts: [...counts].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b)).map(([state, count]) => ({ state, count })),
    dockerUp,
    ...(docker ? { docker } : {}),
  };
}

export type SortKey = 'name' | 'cpu' | 'memory';
export interface Sort {
  key: SortKey;
  desc: boolean;
}
export type StateFilter = 'all' | 'active' | 'exited';

/** Running first, then paused, restarting and the like, exited and dead last. */
function tier(state: string | undefined): number {
  if (state === 'running') return 0;
  if (state === 'exited' || state === 'dead') return 2;
  return 1;
}

const byName = (a: ContainerRow, b: ContainerRow) =>
  a.name.localeCompare(b.name, undefined, { numeric: true }) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The rows a filter keeps, running first, then by the sort key (a missing value last), then by name. */
export function orderRows(rows: readonly ContainerRow[], sort: Sort, filter: StateFilter = 'all'): ContainerRow[] {
  const kept = rows.filter((r) => (filter === 'all' ? true : filter === 'exited' ? isExited(r) : !isExited(r)));
  const value = (r: ContainerRow) => (sort.key === 'cpu' ? r.cpuPercent : sort.key === 'memory' ? r.memoryBytes : undefined);
  const dir = sort.desc ? -1 : 1;
  return kept.sort((a, b) => {
    const t = tier(a.state) - tier(b.state);
    if (t) return t;
    if (sort.key !== 'name') {
      const x = value(a);
      const y = value(b);
      if (x !== y) {
        if (x === undefined) return 1;
        if (y === undefined) return -1;
        return (x - y) * dir;
      }
      return byName(a, b);
    }
    return byName(a, b) * dir;
  });
}

/** The events marked on a container's charts. */
export const MARKED_EVENTS = ['start', 'die', 'restart', 'oom'] as const;
export type MarkedEvent = (typeof MARKED_EVENTS)[number];

export interface EventMoment {
  timestampMs: number;
  event: MarkedEvent;
  /** How many of them since the previous point (more than one when the points are far apart). */
  count: number;
}

const isMarked = (e: string | undefined): e is MarkedEvent => (MARKED_EVENTS as readonly string[]).includes(e ?? '');

/**
 * How much an event counter stepped from `prev` to `v`: the increase, or after a reset (the
 * agent restarted and counts from 0 again) the new value. A counter first seen counts from 0:
 * the agent writes an event's series only once the event has happened.
 */
export function counterStep(prev: number | undefined, v: number): number {
  if (prev === undefined) return v;
  return v >= prev ? v - prev : v;
}

/**
 * The moments of start, die, restart and oom from the history of `falconet_container_events_total`
 * (one series per event): the points where a counter stepped up. A series that begins at the start
 * of the range was counting before it, so its first point is no event; one that begins later
 * appeared with its first event. Sorted by time.
 */
export function eventMoments(
  series: readonly { labels: Record<string, string>; points: readonly [number, number | null][] }[],
  fromMs: number,
  everyMs: number,
): EventMoment[] {
  const out: EventMoment[] = [];
  for (const s of series) {
    const event = s.labels.event;
    if (!isMarked(event)) continue;
    let prev: number | undefined;
    for (const [t, v] of s.points) {
      if (v === null) continue;
      const step = prev === undefined && t - fromMs <= 2.5 * everyMs ? 0 : counterStep(prev, v);
      if (step > 0) out.push({ timestampMs: t, event, count: step });
      prev = v;
    }
  }
  return out.sort((a, b) => a.timestampMs - b.timestampMs || a.event.localeCompare(b.event));
}

/** The latest value of each event counter in a history, by event. */
export function lastCounts(series: readonly { labels: Record<string, string>; points: readonly [number, number | null][] }[]) {
  const out = new Map<string, number>();
  for (const s of series) {
    const last = [...s.points].reverse().find(([, v]) => v !== null);
    if (s.labels.event && last) out.set(s.labels.event, last[1] as number);
  }
  return out;
}

/**
 * Event moments in one live report for the container `id`, against the counts known so far
 * (which it updates): a counter not known yet appeared with this report.
 */
export function liveEventMoments(samples: readonly LatestSample[], id: string, known: Map<string, number>): EventMoment[] {
  const out: EventMoment[] = [];
  for (const s of samples) {
    if (s.name !== CONTAINER_EVENTS_METRIC || s.labels.id !== id || s.value === null) continue;
    const event = s.labels.event;
    if (!event) continue;
    const step = counterStep(known.get(event), s.value);
    known.set(event, s.value);
    if (isMarked(event) && step > 0) out.push({ timestampMs: s.timestampMs, event, count: step });
  }
  return out;
}
