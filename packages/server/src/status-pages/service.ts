/**
 * Status pages: the admin side (pages and their incidents, checked against the hosts and monitors
 * that exist) and the public view, computed from the store's rollups and kept a minute per page.
 */
import {
  type Agent,
  type Incident,
  type IncidentNote,
  type IncidentSpec,
  type MonitorDetail,
  type MonitorStatus,
  type PublicStatus,
  type PublicStatusItem,
  type PublicStatusPage,
  STATUS_DAYS,
  type StatusPage,
  type StatusPageSpec,
} from '@falconet/protocol/api';
import { ApiError, notFound } from '../api/errors.ts';
import { timeOrderedId } from '../auth/ids.ts';
import type { MonitorService } from '../monitors/service.ts';
import type { Store } from '../store/types.ts';
import type { StatusPageRepository } from './repository.ts';
import { DAY_MS, firstDayMs, hostDays, monitorDays, overall } from './uptime.ts';

/** What a page shows of a monitor now. */
export interface MonitorNow {
  name: string;
  status: PublicStatus;
  latencyMs: number | null;
}

/** What a page needs to know of a monitor; the monitors module answers it (monitors/service.ts). */
export interface MonitorDirectory {
  /** undefined when no monitor has this id. */
  get(id: string): Promise<MonitorNow | undefined>;
}

/** A monitor's status as a public page words it: partly failing is degraded; pending and paused are not known. */
const PUBLIC_OF: Record<MonitorStatus, PublicStatus> = {
  up: 'up',
  down: 'down',
  partial: 'degraded',
  pending: 'unknown',
  paused: 'unknown',
};

/** The monitors module as a directory: its current status and latency, as its own page shows them. */
export function monitorDirectory(monitors: Pick<MonitorService, 'get'>): MonitorDirectory {
  return {
    get: async (id) => {
      let m: MonitorDetail;
      try {
        m = monitors.get(id);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return undefined;
        throw err;
      }
      return { name: m.spec.name, status: PUBLIC_OF[m.status], latencyMs: m.latencyMs };
    },
  };
}

export interface StatusPageServiceOptions {
  repo: StatusPageRepository;
  store: Store;
  agents: { get(id: string): Agent | undefined };
  /** Absent: this server has no monitors, and pages refuse them. */
  monitors?: MonitorDirectory | undefined;
  offlineAfterIntervals: number;
  /** How long a public view is kept before it is computed again. */
  cacheMs?: number;
  now?: () => number;
}

interface Cached {
  atMs: number;
  view: Promise<PublicStatusPage | undefined>;
}

/** Bound on cached views: unknown slugs are cached too (as undefined), so a scan cannot grow it past this. */
const MAX_CACHED = 1000;
/**
 * A host's completed days are read again once they are this old (and when the day changes): they
 * change only when an agent's spooled reports arrive late. Today's bar is read with every view.
 */
const HOST_HISTORY_MS = 3_600_000;

interface HostHistory {
  todayStartMs: number;
  atMs: number;
  /** The completed days, oldest first (STATUS_DAYS - 1 of them). */
  days: (number | null)[];
  refreshing?: boolean;
}

export class StatusPageService {
  readonly #o: Required<Omit<StatusPageServiceOptions, 'monitors'>> & Pick<StatusPageServiceOptions, 'monitors'>;
  readonly #cache = new Map<string, Cached>();
  readonly #hostHistory = new Map<string, HostHistory>();

  constructor(opts: StatusPageServiceOptions) {
    this.#o = { cacheMs: 60_000, now: Date.now, ...opts };
  }

  get cacheMs(): number {
    return this.#o.cacheMs;
  }

  // --- pages --------------------------------------------------------------------------------

  list(): Promise<StatusPage[]> {
    return this.#o.repo.list();
  }

  async get(id: string): Promise<StatusPage> {
    const page = await this.#o.repo.get(id);
    if (!page) throw notFound(`status page ${id}`);
    return page;
  }

  async create(spec: StatusPageSpec, by: string): Promise<StatusPage> {
    await this.#check(spec, undefined);
    const now = this.#o.now();
    const page: StatusPage = { id: timeOrderedId(now), spec, createdBy: by, createdMs: now, updatedMs: now };
    await this.#o.repo.insert(page);
    this.#forget(spec.slug);
    return page;
  }

  async update(id: string, spec: StatusPageSpec): Promise<StatusPage> {
    const before = await this.get(id);
    await this.#check(spec, id);
    const now = this.#o.now();
    if (!(await this.#o.repo.update(id, spec, now))) throw notFound(`status page ${id}`);
    this.#forget(before.spec.slug);
    this.#forget(spec.slug);
    return { ...before, spec, updatedMs: now };
  }

  async delete(id: string): Promise<void> {
    const page = await this.get(id);
    await this.#o.repo.delete(id);
    this.#forget(page.spec.slug);
  }

  /** A slug taken by another page, an unknown host or monitor: refused, naming which. */
  async #check(spec: StatusPageSpec, id: string | undefined): Promise<void> {
    const other = await this.#o.repo.bySlug(spec.slug);
    if (other && other.id !== id) throw new ApiError(409, 'conflict', `slug "${spec.slug}" is used by another status page`);
    spec.hosts.forEach((h, i) => {
      if (!this.#o.agents.get(h)) throw new ApiError(400, 'bad_request', `body hosts.${i}: no agent has the id "${h}"`);
    });
    const monitors = this.#o.monitors;
    if (spec.monitors.length && !monitors) throw new ApiError(400, 'bad_request', 'body monitors: this server has no monitors');
    for (const [i, m] of spec.monitors.entries()) {
      if (!(await monitors?.get(m))) throw new ApiError(400, 'bad_request', `body monitors.${i}: no monitor has the id "${m}"`);
    }
  }

  // --- incidents ----------------------------------------------------------------------------

  async incidents(pageId: string): Promise<Incident[]> {
    await this.get(pageId);
    return await this.#o.repo.incidents(pageId);
  }

  async openIncident(pageId: string, spec: IncidentSpec, by: string): Promise<Incident> {
    const page = await this.get(pageId);
    const now = this.#o.now();
    const incident: Incident = {
      id: timeOrderedId(now),
      title: spec.title,
      body: spec.body,
      severity: spec.severity,
      startedMs: spec.startedMs ?? now,
      resolvedMs: spec.resolvedMs,
      updates: [],
    };
    checkTimes(incident);
    await this.#o.repo.putIncident(pageId, incident, by, now);
    this.#forget(page.spec.slug);
    return incident;
  }

  async editIncident(pageId: string, id: string, spec: IncidentSpec, by: string): Promise<Incident> {
    const [page, before] = await this.#incident(pageId, id);
    const incident: Incident = {
      ...before,
      title: spec.title,
      body: spec.body,
      severity: spec.severity,
      startedMs: spec.startedMs ?? before.startedMs,
      resolvedMs: spec.resolvedMs,
    };
    checkTimes(incident);
    await this.#o.repo.putIncident(pageId, incident, by, this.#o.now());
    this.#forget(page.spec.slug);
    return incident;
  }

  /** Adds a note; with `resolve` it also ends the incident now (if it is open). */
  async addNote(pageId: string, id: string, note: IncidentNote, by: string): Promise<Incident> {
    const [page, before] = await this.#incident(pageId, id);
    const now = Math.max(this.#o.now(), before.startedMs);
    const incident: Incident = {
      ...before,
      updates: [...before.updates, { atMs: now, body: note.body }],
      resolvedMs: note.resolve ? (before.resolvedMs ?? now) : before.resolvedMs,
    };
    if (incident.updates.length > 100) throw new ApiError(400, 'bad_request', 'an incident keeps at most 100 notes');
    await this.#o.repo.putIncident(pageId, incident, by, now);
    this.#forget(page.spec.slug);
    return incident;
  }

  async deleteIncident(pageId: string, id: string): Promise<void> {
    const [page] = await this.#incident(pageId, id);
    await this.#o.repo.deleteIncident(pageId, id);
    this.#forget(page.spec.slug);
  }

  async #incident(pageId: string, id: string): Promise<[StatusPage, Incident]> {
    const page = await this.get(pageId);
    const incident = await this.#o.repo.incident(pageId, id);
    if (!incident) throw notFound(`incident ${id} of status page ${pageId}`);
    return [page, incident];
  }

  // --- the public view ----------------------------------------------------------------------

  /** The page as the public sees it, computed at most once per `cacheMs`; undefined for a slug no page has. */
  publicView(slug: string): Promise<PublicStatusPage | undefined> {
    const now = this.#o.now();
    const hit = this.#cache.get(slug);
    if (hit && now - hit.atMs < this.#o.cacheMs) return hit.view;
    const view = this.#o.repo.bySlug(slug).then((page) => page && this.compute(page));
    // A failure is not kept: the next visitor tries again.
    view.catch(() => {
      if (this.#cache.get(slug)?.view === view) this.#cache.delete(slug);
    });
    this.#cache.delete(slug);
    this.#cache.set(slug, { atMs: now, view });
    if (this.#cache.size > MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
    return view;
  }

  /** The public view of a page, computed now (the admin's preview, and the cache's filler). */
  async compute(page: StatusPage): Promise<PublicStatusPage> {
    const now = this.#o.now();
    const { spec } = page;
    const items: PublicStatusItem[] = [];
    for (const id of spec.hosts) items.push(await this.#hostItem(id, spec, now));
    for (const id of spec.monitors) items.push(await this.#monitorItem(id, spec, now));
    const incidents = await this.#o.repo.incidents(page.id, firstDayMs(now));
    return {
      title: spec.title,
      description: spec.description,
      language: spec.language,
      firstDayMs: firstDayMs(now),
      generatedMs: now,
      status: pageStatus(items),
      items,
      incidents: incidents.map(({ id: _id, ...rest }) => rest),
    };
  }

  async #hostItem(id: string, spec: StatusPageSpec, now: number): Promise<PublicStatusItem> {
    const agent = this.#o.agents.get(id);
    const days = agent ? await this.#hostDays(agent, now) : (new Array(STATUS_DAYS).fill(null) as null[]);
    const item: PublicStatusItem = {
      kind: 'host',
      name: spec.display_names[id] ?? agent?.hostname ?? '—',
      status: !agent ? 'unknown' : agent.status === 'online' ? 'up' : 'down',
      days,
      uptime: overall(days),
    };
    if (spec.show_values) {
      item.cpuPercent = roundOrNull(agent?.status === 'online' ? agent.summary.falconet_cpu_usage_percent : undefined);
      item.memoryPercent = roundOrNull(agent?.status === 'online' ? agent.summary.falconet_memory_used_percent : undefined);
    }
    return item;
  }

  /**
   * Completed days from the history (read again in the background once it is an hour old, so no
   * visitor waits for it; awaited only when there is none for today), today's bar read now.
   */
  async #hostDays(agent: Agent, now: number): Promise<(number | null)[]> {
    const todayStartMs = Math.floor(now / DAY_MS) * DAY_MS;
    const offline = this.#o.offlineAfterIntervals;
    const read = async (): Promise<HostHistory> => {
      const h = { todayStartMs, atMs: now, days: await hostDays(this.#o.store, agent, todayStartMs - 1, offline, STATUS_DAYS - 1) };
      this.#hostHistory.set(agent.id, h);
      return h;
    };
    let h = this.#hostHistory.get(agent.id);
    if (!h || h.todayStartMs !== todayStartMs || now < h.atMs) {
      for (const [id, old] of this.#hostHistory) if (now - old.atMs >= 2 * HOST_HISTORY_MS) this.#hostHistory.delete(id);
      h = await read();
    } else if (now - h.atMs >= HOST_HISTORY_MS && !h.refreshing) {
      h.refreshing = true;
      const stale = h;
      void read().catch(() => {
        stale.refreshing = false;
      });
    }
    return [...h.days, ...(await hostDays(this.#o.store, agent, now, offline, 1))];
  }

  async #monitorItem(id: string, spec: StatusPageSpec, now: number): Promise<PublicStatusItem> {
    const [monitor, days] = await Promise.all([this.#o.monitors?.get(id), monitorDays(this.#o.store, id, now)]);
    const item: PublicStatusItem = {
      kind: 'monitor',
      name: spec.display_names[id] ?? monitor?.name ?? '—',
      status: monitor?.status ?? 'unknown',
      days,
      uptime: overall(days),
    };
    if (spec.show_values) item.latencyMs = monitor?.latencyMs ?? null;
    return item;
  }

  #forget(slug: string): void {
    this.#cache.delete(slug);
  }
}

function checkTimes(i: Incident): void {
  if (i.resolvedMs !== null && i.resolvedMs < i.startedMs)
    throw new ApiError(400, 'bad_request', 'body resolvedMs: an incident cannot be resolved before it started');
}

const roundOrNull = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10) / 10);

/** The page's headline: down if anything is down, degraded if anything is degraded, else up (unknown with nothing known). */
function pageStatus(items: readonly PublicStatusItem[]): PublicStatus {
  const known = items.filter((i) => i.status !== 'unknown');
  if (!known.length) return 'unknown';
  if (known.some((i) => i.status === 'down')) return known.every((i) => i.status === 'down') ? 'down' : 'degraded';
  return known.some((i) => i.status === 'degraded') ? 'degraded' : 'up';
}
