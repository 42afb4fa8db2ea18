import type { pb, Sample } from '@falconet/protocol';
import type { Agent, AgentStatus } from '@falconet/protocol/api';
import { effectiveTrustedLabels, type Labels } from './agents/labels.ts';
import type { AgentRepository } from './db/agents.ts';
import type { LiveHub } from './live/hub.ts';
import type { AgentRecord } from './store/types.ts';

/** A report refused because its sequence jumped too far (or the stored one is implausible). */
type SequenceRefusal = NonNullable<Agent['sequenceRefused']>;

/** Which sample names make up the at-a-glance summary kept with each agent. */
const SUMMARY_NAMES = new Set([
  'falconet_cpu_usage_percent',
  'falconet_memory_used_percent',
  'falconet_swap_used_percent',
  'falconet_disk_used_percent',
  'falconet_network_receive_bytes_per_second',
  'falconet_network_transmit_bytes_per_second',
  'falconet_disk_read_bytes_per_second',
  'falconet_disk_written_bytes_per_second',
  'falconet_uptime_seconds',
  'falconet_cpu_count',
  'node_load1',
  'node_memory_MemTotal_bytes',
]);

interface Live {
  record: AgentRecord;
  /** Open streams for this agent (a reconnect can overlap the old stream briefly). */
  streams: number;
  status: AgentStatus;
  sequenceRefused?: SequenceRefusal;
  /** The node of the cluster that holds the agent's stream, as it last told us, when not this one. */
  remote?: { node: string; status: AgentStatus; heardMs: number };
}

/**
 * Which agents exist and whether they are online: online while a stream is open and the
 * agent has been heard from within `offlineAfterIntervals` report intervals.
 */
export class AgentRegistry {
  readonly #agents = new Map<string, Live>();
  readonly #serverLabels = new Map<string, Labels>();
  readonly #repo: AgentRepository;
  readonly #live: LiveHub;
  readonly #offlineAfterIntervals: number;
  #sweep: NodeJS.Timeout | undefined;
  #persist: NodeJS.Timeout | undefined;
  readonly #now: () => number;
  /** Agents whose summary changed since it was last written to the metadata database. */
  readonly #dirty = new Set<string>();
  readonly #persistEveryMs: number;
  #persisting: Promise<void> | undefined;

  constructor(
    agents: AgentRepository,
    live: LiveHub,
    opts: { offlineAfterIntervals?: number; now?: () => number; persistEveryMs?: number } = {},
  ) {
    this.#repo = agents;
    this.#live = live;
    this.#offlineAfterIntervals = opts.offlineAfterIntervals ?? 3;
    this.#now = opts.now ?? Date.now;
    this.#persistEveryMs = opts.persistEveryMs ?? 10_000;
  }

  async load(): Promise<void> {
    for (const [id, labels] of await this.#repo.serverLabels()) this.#serverLabels.set(id, labels);
    for (const record of await this.#repo.list()) {
      this.#agents.set(record.id, { record, streams: 0, status: 'offline' });
    }
    this.#sweep = setInterval(() => this.sweep(), 1000);
    this.#sweep.unref();
    this.#persist = setInterval(() => void this.persist().catch(() => undefined), this.#persistEveryMs);
    this.#persist.unref();
  }

  stop(): void {
    clearInterval(this.#sweep);
    clearInterval(this.#persist);
  }

  /** Stops the timers and writes what is not written yet. */
  async close(): Promise<void> {
    this.stop();
    await this.persist();
  }

  /**
   * Writes changed summaries in batches, one transaction each: a report must not cost a disk
   * sync of its own on the event loop that acknowledges every agent (at 500 reports/s it cannot).
   */
  persist(): Promise<void> {
    this.#persisting ??= (async () => {
      try {
        while (this.#dirty.size) {
          const ids = [...this.#dirty].slice(0, 500);
          for (const id of ids) this.#dirty.delete(id);
          const records = ids.map((id) => this.#agents.get(id)?.record).filter((r): r is AgentRecord => r !== undefined);
          await this.#repo.upsertMany(records);
          // Let acknowledgements through between batches.
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        this.#persisting = undefined;
      }
    })();
    return this.#persisting;
  }

  view(a: Live): Agent {
    const serverLabels = this.#serverLabels.get(a.record.id) ?? {};
    return {
      ...a.record,
      tokenLabels: a.record.tokenLabels ?? {},
      status: a.status,
      connected: a.streams > 0,
      trustedLabels: effectiveTrustedLabels(a.record.tokenLabels, serverLabels),
      serverLabels,
      sequenceRefused: a.sequenceRefused ?? null,
    };
  }

  list(): Agent[] {
    return [...this.#agents.values()].map((a) => this.view(a));
  }

  has(id: string): boolean {
    return this.#agents.has(id);
  }

  get(id: string): Agent | undefined {
    const a = this.#agents.get(id);
    return a && this.view(a);
  }

  /** The hostname `id` is known under, in memory or in the metadata database (records are written in batches). */
  async hostnameOf(id: string): Promise<string | undefined> {
    return this.#agents.get(id)?.record.hostname ?? (await this.#repo.hostnameOf(id));
  }

  /** Sets the agent's server-side labels (the whole set); written before it takes effect. */
  async setServerLabels(agentId: string, labels: Labels, by: string): Promise<Agent | undefined> {
    const a = this.#agents.get(agentId);
    if (!a) return undefined;
    await this.#repo.setServerLabels(agentId, labels, by, this.#now());
    this.#serverLabels.set(agentId, labels);
    const view = this.view(a);
    this.#live.agentChanged(view);
    return view;
  }

  /**
   * Forgets an agent: its record and server-side labels leave the metadata database and the
   * fleet list, and every dashboard is told. Returns what it was; undefined when unknown.
   */
  async forget(agentId: string): Promise<Agent | undefined> {
    const a = this.#agents.get(agentId);
    if (!a) return undefined;
    const view = this.view(a);
    this.#dirty.delete(agentId);
    // A batch being written may hold its record: it lands first, then the delete.
    await this.#persisting?.catch(() => undefined);
    await this.#repo.delete(agentId);
    this.#agents.delete(agentId);
    this.#serverLabels.delete(agentId);
    this.#dirty.delete(agentId);
    this.#live.agentRemoved(agentId);
    return view;
  }

  /** The agent's reports are being refused for their sequence; shown until one is stored or it is reset. */
  sequenceRefused(agentId: string, r: { seq: number; lastSeq: number }): void {
    const a = this.#agents.get(agentId);
    if (!a) return;
    a.sequenceRefused = { ...r, atMs: this.#now() };
    this.#live.agentChanged(this.view(a));
  }

  /** An operator reset the agent's sequence state. */
  sequenceReset(agentId: string): void {
    const a = this.#agents.get(agentId);
    if (!a?.sequenceRefused) return;
    a.sequenceRefused = undefined;
    this.#live.agentChanged(this.view(a));
  }

  async connected(reg: pb.Register, opts: { tokenLabels?: Labels } = {}): Promise<void> {
    const now = this.#now();
    const prev = this.#agents.get(reg.agentId);
    const record: AgentRecord = {
      id: reg.agentId,
      hostname: reg.hostname,
      ips: reg.ips,
      primaryIp: reg.primaryIp,
      os: reg.os,
      kernel: reg.kernel,
      arch: reg.arch,
      platform: reg.platform,
      version: reg.version,
      labels: reg.labels,
      tokenLabels: opts.tokenLabels ?? {},
      bootTimeMs: reg.bootTimeMs,
      intervalMs: reg.intervalMs || 10_000,
      firstSeenMs: prev?.record.firstSeenMs ?? now,
      lastSeenMs: now,
      summary: prev?.record.summary ?? {},
    };
    const live: Live = {
      record,
      streams: (prev?.streams ?? 0) + 1,
      status: 'online',
      ...(prev?.sequenceRefused ? { sequenceRefused: prev.sequenceRefused } : {}),
    };
    this.#agents.set(record.id, live);
    // Written with the next batch: thousands of agents reconnecting at once must not cost a sync each.
    this.#dirty.add(record.id);
    this.#live.agentChanged(this.view(live));
  }

  disconnected(agentId: string): void {
    const a = this.#agents.get(agentId);
    if (!a) return;
    a.streams = Math.max(0, a.streams - 1);
    if (a.streams === 0) this.#setStatus(a, 'offline');
  }

  /** Records that the agent was heard from (a report stored, or a heartbeat), and its latest summary values. */
  async seen(agentId: string, samples?: readonly Sample[]): Promise<void> {
    const a = this.#agents.get(agentId);
    if (!a) return;
    a.record.lastSeenMs = this.#now();
    // A stored report: its sequence was taken.
    if (samples) a.sequenceRefused = undefined;
    let changed = false;
    for (const s of samples ?? []) {
      if (SUMMARY_NAMES.has(s.name) && Object.keys(s.labels).length === 0) {
        a.record.summary[s.name] = s.value;
        changed = true;
      }
    }
    if (changed) this.#dirty.add(agentId);
    if (a.status !== 'online' && a.streams > 0) a.status = 'online';
    this.#live.agentChanged(this.view(a));
  }

  sweep(): void {
    const now = this.#now();
    for (const a of this.#agents.values()) {
      const silentFor = now - a.record.lastSeenMs;
      const within = (ms: number) => ms <= this.#offlineAfterIntervals * a.record.intervalMs;
      const here = a.streams > 0 && within(silentFor);
      // Held by another node: online while that node says so and keeps saying it.
      const there = a.remote !== undefined && a.remote.status === 'online' && within(now - a.remote.heardMs);
      this.#setStatus(a, here || there ? 'online' : 'offline');
    }
  }

  /**
   * An agent as another node of the cluster sees it (cluster/live.ts): kept here so this node lists
   * it with its status and summary. Not written to the metadata database (the holding node does
   * that) and not relayed again. An agent with a stream on this node keeps what this node knows.
   */
  remote(agent: Agent, node: string): void {
    const a = this.#agents.get(agent.id);
    if (a && a.streams > 0) return;
    const { status, connected: _c, trustedLabels: _t, serverLabels, sequenceRefused, ...record } = agent;
    const live: Live = a ?? { record, streams: 0, status };
    live.record = { ...record, firstSeenMs: Math.min(record.firstSeenMs, a?.record.firstSeenMs ?? record.firstSeenMs) };
    live.status = status;
    this.#serverLabels.set(agent.id, serverLabels);
    live.remote = { node, status, heardMs: this.#now() };
    if (sequenceRefused) live.sequenceRefused = sequenceRefused;
    else delete live.sequenceRefused;
    this.#agents.set(agent.id, live);
  }

  /** The node of the cluster holding the agent's stream, when this one does not and another says it does (lately). */
  holderOf(agentId: string): string | undefined {
    const a = this.#agents.get(agentId);
    if (!a || a.streams > 0 || a.status !== 'online' || a.remote?.status !== 'online') return undefined;
    return a.remote.node;
  }

  /** Whether the agent has a stream open on this server. */
  heldHere(agentId: string): boolean {
    return (this.#agents.get(agentId)?.streams ?? 0) > 0;
  }

  /** Another node forgot the agent (an admin deleted it there): this node's list drops it too. */
  remoteRemoved(agentId: string): void {
    const a = this.#agents.get(agentId);
    if (!a || a.streams > 0) return;
    this.#agents.delete(agentId);
    this.#serverLabels.delete(agentId);
    this.#dirty.delete(agentId);
  }

  #setStatus(a: Live, status: AgentStatus): void {
    if (a.status === status) return;
    a.status = status;
    this.#live.agentChanged(this.view(a));
  }
}
