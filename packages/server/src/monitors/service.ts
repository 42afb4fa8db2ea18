/**
 * The MonitorService: monitors in the metadata database and in memory, which agents each chooses
 * (its locations), their latest results from ingested probe_* samples, the figures the list shows,
 * the assignments sent to agents, and the alerts. Every list and figure is read from memory.
 */
import type { Sample } from '@falconet/protocol';
import {
  type Agent,
  MONITOR_LABEL,
  MONITOR_STATUSES,
  type Monitor,
  type MonitorDetail,
  type MonitorHistory,
  type MonitorSpec,
  type MonitorStatus,
} from '@falconet/protocol/api';
import type { MetricFamily } from '@falconet/protocol/exposition';
import type { Logger } from 'pino';
import { ApiError, notFound } from '../api/errors.ts';
import { timeOrderedId } from '../auth/ids.ts';
import type { MetaDb } from '../db/index.ts';
import type { LiveHub } from '../live/hub.ts';
import type { Store } from '../store/types.ts';
import { downSample, type MonitorAlerts, monitorRule, monitorSeriesAgent } from './alerting.ts';
import { AssignmentSender } from './assignments.ts';
import { applySample, emptyResult, type LocationResult, MONITOR_SERIES, staleAfterMs, type Tally, tally } from './locations.ts';
import { MonitorRepository, type StoredMonitor } from './repository.ts';
import { assignedProbe, choosesAgent } from './select.ts';
import { UptimeCache } from './uptime.ts';

/** The agents as the registry knows them. */
export interface AgentDirectory {
  list(): readonly Agent[];
  get(id: string): Agent | undefined;
}

export interface MonitorServiceDeps {
  meta: MetaDb;
  store: Store;
  agents: AgentDirectory;
  alerts?: MonitorAlerts | undefined;
  /** Where agent changes are announced (registrations, label changes, forgetting). */
  live?: LiveHub | undefined;
  log: Logger;
  now?: () => number;
}

interface Entry extends StoredMonitor {
  /** Agents the selector chooses now (the locations), with their latest result. */
  locations: Map<string, LocationResult>;
  /** Lower-case name, target and kind, for `q`. */
  text: string;
  /** Lower-case name, for sorting. */
  nameKey: string;
  /** The status alerting last saw, to feed it only what it should judge. */
  fed: MonitorStatus | undefined;
  /** Rises with every change of the monitor, so its alert rule is rebuilt only when it changed. */
  revision: number;
}

export interface ListQuery {
  q: string;
  status?: MonitorStatus | undefined;
  sort: 'name' | 'status' | 'uptime' | 'latency' | 'cert';
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
}

/** How long rule changes wait for more before alerting rebuilds its rules. */
const RULES_DEBOUNCE_MS = 100;

const STATUS_ORDER: Record<MonitorStatus, number> = { down: 0, partial: 1, pending: 2, up: 3, paused: 4 };

export class MonitorService {
  readonly #deps: MonitorServiceDeps;
  readonly #repo: MonitorRepository;
  readonly #now: () => number;
  readonly #monitors = new Map<string, Entry>();
  /** Per agent, the monitors that choose it: what it is sent and whose samples from it count. */
  readonly #byAgent = new Map<string, Set<string>>();
  /** Each agent's trusted labels as last seen, to notice a change. */
  readonly #agentLabels = new Map<string, string>();
  readonly assignments: AssignmentSender;
  readonly uptime: UptimeCache;
  readonly #timers: NodeJS.Timeout[] = [];
  #unlisten: (() => void) | undefined;
  #rules = new Map<string, { key: string; rule: ReturnType<typeof monitorRule> }>();
  #rulesTimer: NodeJS.Timeout | undefined;
  #revisions = 0;
  readonly counters = {
    /** probe_* samples with a monitor label from an agent that is not one of its locations (or no such monitor): not counted. */
    unassignedSamples: 0,
  };

  constructor(deps: MonitorServiceDeps) {
    this.#deps = deps;
    this.#repo = new MonitorRepository(deps.meta);
    this.#now = deps.now ?? Date.now;
    this.assignments = new AssignmentSender((agentId) => this.probesFor(agentId), this.#now);
    this.uptime = new UptimeCache({
      store: deps.store,
      isLocation: (m, a) => this.#monitors.get(m)?.locations.has(a) ?? false,
      log: deps.log,
      now: this.#now,
    });
  }

  async start(): Promise<void> {
    const agents = this.#deps.agents.list();
    for (const m of await this.#repo.list()) this.#put(m, undefined, agents);
    this.#applyRules();
    // The hub tells the dashboards of every agent change; the same news moves locations and assignments.
    this.#unlisten = this.#deps.live?.add({
      agents: new Set(),
      send: (msg) => {
        if (msg.type === 'agent') this.agentChanged(msg.agent.id, msg.agent);
        else if (msg.type === 'agent_removed') this.agentChanged(msg.agentId, undefined);
      },
    });
    this.uptime.start();
    if (this.#deps.alerts) {
      const t = setInterval(() => this.feedAlerts(), this.#deps.alerts.evaluationIntervalMs);
      t.unref();
      this.#timers.push(t);
    }
    this.#deps.log.info({ monitors: this.#monitors.size }, 'monitors loaded');
  }

  async stop(): Promise<void> {
    this.#unlisten?.();
    clearTimeout(this.#rulesTimer);
    this.assignments.stop();
    for (const t of this.#timers) clearInterval(t);
    await this.uptime.stop();
  }

  get size(): number {
    return this.#monitors.size;
  }

  // --- changes ---

  async create(spec: MonitorSpec, by: string): Promise<Monitor> {
    this.#checkChannels(spec);
    const now = this.#now();
    const m: StoredMonitor = { id: timeOrderedId(now), spec, createdBy: by, createdMs: now, updatedMs: now };
    await this.#repo.insert(m);
    this.#changed(this.#put(m));
    return this.#view(this.#entry(m.id));
  }

  async update(id: string, spec: MonitorSpec): Promise<Monitor> {
    const old = this.#entry(id);
    this.#checkChannels(spec);
    const now = this.#now();
    if (!(await this.#repo.update(id, spec, now))) throw notFound(`monitor ${id}`);
    const { locations: _, text: __, nameKey: _n, fed: ___, revision: ____, ...stored } = old;
    const before = new Set(old.locations.keys());
    const e = this.#put({ ...stored, spec, updatedMs: now }, old.locations);
    // A changed probe is a new check: results of the old one say nothing about it.
    if (JSON.stringify(old.spec.probe) !== JSON.stringify(spec.probe))
      for (const k of e.locations.keys()) e.locations.set(k, emptyResult());
    this.#changed(e, before);
    return this.#view(e);
  }

  async remove(id: string): Promise<void> {
    const e = this.#entry(id);
    if (!(await this.#repo.delete(id))) throw notFound(`monitor ${id}`);
    this.#monitors.delete(id);
    for (const agentId of e.locations.keys()) this.#byAgent.get(agentId)?.delete(id);
    this.#syncRules();
    for (const agentId of e.locations.keys()) this.assignments.refresh(agentId);
  }

  /** Channels are alert channel ids; each must exist, named by its place in the list when not. */
  #checkChannels(spec: MonitorSpec): void {
    if (spec.channels.length === 0) return;
    const alerts = this.#deps.alerts;
    if (!alerts)
      throw new ApiError(400, 'bad_request', 'body channels: alerting is off on this server (alerts.enabled); leave channels empty');
    const known = alerts.channels();
    spec.channels.forEach((c, i) => {
      if (!known.has(c)) throw new ApiError(400, 'bad_request', `body channels.${i}: no alert channel has the id "${c}"`);
    });
  }

  #entry(id: string): Entry {
    const e = this.#monitors.get(id);
    if (!e) throw notFound(`monitor ${id}`);
    return e;
  }

  /** Puts a monitor in memory with its locations chosen from the agents now known; results of kept locations stay. */
  #put(m: StoredMonitor, previous?: Map<string, LocationResult>, agents = this.#deps.agents.list()): Entry {
    const locations = new Map<string, LocationResult>();
    for (const a of agents) {
      if (choosesAgent(m.spec.agents, a)) locations.set(a.id, previous?.get(a.id) ?? emptyResult());
    }
    const e: Entry = {
      ...m,
      locations,
      text: `${m.spec.name}\n${m.spec.probe.target}\n${m.spec.probe.kind}`.toLowerCase(),
      nameKey: m.spec.name.toLowerCase(),
      fed: undefined,
      revision: ++this.#revisions,
    };
    this.#monitors.set(m.id, e);
    for (const agentId of previous?.keys() ?? []) if (!locations.has(agentId)) this.#byAgent.get(agentId)?.delete(m.id);
    for (const agentId of locations.keys()) this.#agentSet(agentId).add(m.id);
    return e;
  }

  #agentSet(agentId: string): Set<string> {
    let s = this.#byAgent.get(agentId);
    if (!s) {
      s = new Set();
      this.#byAgent.set(agentId, s);
    }
    return s;
  }

  /** After a create or update: rules, and the assignments of every agent that was or is a location. */
  #changed(e: Entry, before: Set<string> = new Set()): void {
    this.#syncRules();
    for (const agentId of new Set([...before, ...e.locations.keys()])) this.assignments.refresh(agentId);
  }

  /**
   * An agent registered or its labels changed (`agent`), or it was forgotten (undefined): its
   * locations are chosen again, and it is sent its new set if that changed.
   */
  agentChanged(agentId: string, agent: Agent | undefined): void {
    const sig = agent ? JSON.stringify(agent.trustedLabels) : undefined;
    if (sig !== undefined && this.#agentLabels.get(agentId) === sig && this.#byAgent.has(agentId)) return;
    if (sig === undefined) this.#agentLabels.delete(agentId);
    else this.#agentLabels.set(agentId, sig);
    const now = agent ? new Set<string>() : undefined;
    for (const e of this.#monitors.values()) {
      const chosen = agent !== undefined && choosesAgent(e.spec.agents, agent);
      if (chosen) {
        now?.add(e.id);
        if (!e.locations.has(agentId)) e.locations.set(agentId, emptyResult());
      } else e.locations.delete(agentId);
    }
    if (now) this.#byAgent.set(agentId, now);
    else this.#byAgent.delete(agentId);
    this.assignments.refresh(agentId);
  }

  // --- what agents run and send back ---

  /** The probes of the monitors that choose the agent and are not paused, in the agent config's shape. */
  probesFor(agentId: string): Record<string, unknown>[] {
    if (!this.#byAgent.has(agentId)) this.agentChanged(agentId, this.#deps.agents.get(agentId));
    const out: Record<string, unknown>[] = [];
    for (const id of this.#byAgent.get(agentId) ?? []) {
      const e = this.#monitors.get(id);
      if (e && !e.spec.paused) out.push(assignedProbe(id, e.spec));
    }
    return out;
  }

  /**
   * The ingest hook: probe_* samples carrying a `monitor` label update that monitor's result for
   * this agent, if the agent is one of its locations; from any other agent they are not counted.
   */
  observe(agentId: string, samples: readonly Sample[]): void {
    const touched = new Set<Entry>();
    for (const s of samples) {
      const id = s.labels[MONITOR_LABEL];
      if (id === undefined || !MONITOR_SERIES.has(s.name)) continue;
      const r = this.#monitors.get(id)?.locations.get(agentId);
      if (!r) {
        this.counters.unassignedSamples++;
        continue;
      }
      if (applySample(r, s)) touched.add(this.#monitors.get(id) as Entry);
    }
    // A change of up/down reaches alerting now rather than at the next feed.
    if (touched.size) this.feedAlerts(touched);
  }

  // --- alerts ---

  /**
   * Hands alerting the rules of every monitor, soon: changes in quick succession (a script making
   * thousands of monitors) share one rebuild, and each monitor's rule is built again only when the
   * monitor or the names of its channels changed.
   */
  #syncRules(): void {
    if (!this.#deps.alerts || this.#rulesTimer) return;
    this.#rulesTimer = setTimeout(() => {
      this.#rulesTimer = undefined;
      this.#applyRules();
    }, RULES_DEBOUNCE_MS);
  }

  #applyRules(): void {
    const alerts = this.#deps.alerts;
    if (!alerts) return;
    const names = alerts.channels();
    const built = new Map<string, { key: string; rule: ReturnType<typeof monitorRule> }>();
    for (const e of this.#monitors.values()) {
      if (e.spec.paused) continue;
      const key = `${e.revision}\u0000${e.spec.channels.map((c) => names.get(c) ?? '').join('\u0000')}`;
      const old = this.#rules.get(e.id);
      built.set(e.id, old && old.key === key ? old : { key, rule: monitorRule(e.id, e.spec, names) });
    }
    this.#rules = built;
    alerts.setRules([...built.values()].map((b) => b.rule));
  }

  /** Tells alerting whether each monitor (or those given) is down; a pending monitor is not judged. */
  feedAlerts(only?: Iterable<Entry>): void {
    const alerts = this.#deps.alerts;
    if (!alerts) return;
    const now = this.#now();
    for (const e of only ?? this.#monitors.values()) {
      const t = this.#tally(e, now);
      e.fed = t.status;
      if (t.status === 'pending' || t.status === 'paused') continue;
      alerts.observe(monitorSeriesAgent(e.id), [downSample(e.id, t.status === 'down', now)]);
    }
  }

  /** The server's /metrics families for monitors. */
  metricFamilies(): MetricFamily[] {
    const now = this.#now();
    const byStatus = Object.fromEntries(MONITOR_STATUSES.map((s) => [s, 0])) as Record<MonitorStatus, number>;
    for (const e of this.#monitors.values()) byStatus[this.#tally(e, now).status]++;
    return [
      {
        name: 'falconet_monitors',
        help: 'Monitors by status.',
        type: 'gauge',
        metrics: MONITOR_STATUSES.map((status) => ({ labels: { status }, value: byStatus[status] })),
      },
      {
        name: 'falconet_monitors_unassigned_samples_total',
        help: 'probe_* samples with a monitor label from an agent that is not a location of that monitor: not counted.',
        type: 'counter',
        metrics: [{ labels: {}, value: this.counters.unassignedSamples }],
      },
      {
        name: 'falconet_monitors_assignments_sent_total',
        help: 'Probe assignments sent to agents.',
        type: 'counter',
        metrics: [{ labels: {}, value: this.assignments.sent }],
      },
      {
        name: 'falconet_monitors_uptime_refresh_seconds',
        help: 'How long the last refresh of the uptime figures took, by span (day: 24h, month: 30d).',
        type: 'gauge',
        metrics: (['day', 'month'] as const).map((span) => ({ labels: { span }, value: this.uptime.last[span].tookMs / 1000 })),
      },
    ];
  }

  // --- what REST shows ---

  #tally(e: Entry, now: number): Tally {
    return tally(e.locations.values(), e.spec.alert_failing_locations, e.spec.paused, now, staleAfterMs(e.spec.probe.interval));
  }

  #view(e: Entry, now = this.#now()): Monitor {
    const t = this.#tally(e, now);
    return {
      id: e.id,
      spec: e.spec,
      status: t.status,
      locationCount: e.locations.size,
      failingLocations: t.failing,
      uptime24h: this.uptime.get(e.id, 'day'),
      uptime30d: this.uptime.get(e.id, 'month'),
      latencyMs: t.latencyMs,
      certExpiryMs: t.certExpiryMs,
      lastCheckMs: t.lastCheckMs,
      createdMs: e.createdMs,
      updatedMs: e.updatedMs,
    };
  }

  /**
   * One page of the list. Every monitor's status is tallied (the counts and the status filter need
   * it), rows are sorted on one key each, and only the page's rows become full views.
   */
  list(q: ListQuery): { items: Monitor[]; total: number; counts: Record<MonitorStatus, number> } {
    const now = this.#now();
    const words = q.q.toLowerCase().split(/\s+/).filter(Boolean);
    const counts = Object.fromEntries(MONITOR_STATUSES.map((s) => [s, 0])) as Record<MonitorStatus, number>;
    const rows: Row[] = [];
    for (const e of this.#monitors.values()) {
      if (words.length && !words.every((w) => e.text.includes(w))) continue;
      const t = this.#tally(e, now);
      counts[t.status]++;
      if (q.status && t.status !== q.status) continue;
      rows.push({ e, t, key: this.#sortKey(q.sort, e, t), name: e.nameKey });
    }
    const dir = q.order === 'desc' ? -1 : 1;
    rows.sort((a, b) => {
      // Monitors without the figure go last whichever the order.
      if (a.key === null || b.key === null) return a.key === b.key ? byName(a, b) : a.key === null ? 1 : -1;
      const c = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      return c === 0 ? byName(a, b) : c * dir;
    });
    return { items: rows.slice(q.offset, q.offset + q.limit).map((r) => this.#view(r.e, now)), total: rows.length, counts };
  }

  #sortKey(sort: ListQuery['sort'], e: Entry, t: Tally): string | number | null {
    switch (sort) {
      case 'name':
        return e.nameKey;
      case 'status':
        return STATUS_ORDER[t.status];
      case 'uptime':
        return this.uptime.get(e.id, 'day');
      case 'latency':
        return t.latencyMs;
      case 'cert':
        return t.certExpiryMs;
    }
  }

  get(id: string): MonitorDetail {
    const e = this.#entry(id);
    const now = this.#now();
    const stale = staleAfterMs(e.spec.probe.interval);
    return {
      ...this.#view(e, now),
      locations: [...e.locations].map(([agentId, r]) => {
        const fresh = r.lastCheckMs !== null && now - r.lastCheckMs <= stale;
        return {
          agentId,
          hostname: this.#deps.agents.get(agentId)?.hostname ?? agentId,
          up: fresh ? r.up : null,
          latencyMs: r.latencyMs,
          lastCheckMs: r.lastCheckMs,
        };
      }),
    };
  }

  /** Per location, latency and success over time from the store (rollups for long ranges). */
  async history(id: string, fromMs: number, toMs: number, stepMs: number | undefined): Promise<MonitorHistory> {
    const e = this.#entry(id);
    if (toMs <= fromMs) throw new ApiError(400, 'bad_request', 'query to: must be after from');
    // About 300 points per location unless asked otherwise, never finer than 10 s.
    const step = stepMs ?? Math.max(10_000, Math.ceil((toMs - fromMs) / 300 / 1000) * 1000);
    const labels = { [MONITOR_LABEL]: id };
    const locations = await Promise.all(
      [...e.locations.keys()].map(async (agentId) => {
        const q = { agentId, labels, fromMs, toMs, stepMs: step, agg: 'avg' as const };
        const [dur, ok] = await Promise.all([
          this.#deps.store.querySeries({ ...q, name: 'probe_duration_seconds' }),
          this.#deps.store.querySeries({ ...q, name: 'probe_success' }),
        ]);
        const points = new Map<number, [number, number | null, number | null]>();
        const at = (t: number) => {
          let p = points.get(t);
          if (!p) {
            p = [t, null, null];
            points.set(t, p);
          }
          return p;
        };
        for (const s of dur) for (const [t, v] of s.points) at(t)[1] = v * 1000;
        for (const s of ok) for (const [t, v] of s.points) at(t)[2] = v;
        return {
          agentId,
          hostname: this.#deps.agents.get(agentId)?.hostname ?? agentId,
          points: [...points.values()].sort((a, b) => a[0] - b[0]),
        };
      }),
    );
    return { locations };
  }
}

interface Row {
  e: Entry;
  t: Tally;
  key: string | number | null;
  name: string;
}

/** By lower-case name, then id: plain code-unit order, which sorting 5,000 rows a request can afford (localeCompare cannot). */
const byName = (a: Row, b: Row) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.e.id < b.e.id ? -1 : a.e.id > b.e.id ? 1 : 0);
