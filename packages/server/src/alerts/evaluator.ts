/**
 * The AlertEvaluator: every interval, every rule against the in-memory windows of the series it
 * selects, moving each alert through pending -> firing -> resolved. Rules are indexed by metric
 * name and, within a name, by host; each series remembers which rules take it, so a cycle costs
 * one aggregate per (series, rule) pair and nothing for names no rule reads.
 */

import type { Labels } from '@falconet/protocol';
import type { AlertHistoryState, AlertState } from '@falconet/protocol/api';
import { isPushAgentId } from '../ingest/push.ts';
import { type AgentLineCount, senderKey } from '../logs/count.ts';
import type { LogFilter } from '../logs/query.ts';
import { formatSelector, matchesAll } from './matchers.ts';
import { type AlertInstance, alertFingerprint, type CompiledRule, compare } from './rule.ts';
import { linearFit, type NameInterest, type SeriesWindow, type SeriesWindows } from './windows.ts';

export interface AgentFacts {
  id: string;
  hostname: string;
  labels: Labels;
  status: 'online' | 'offline';
  lastSeenMs: number;
}

interface AgentEntry {
  facts: AgentFacts;
  /** Changes when the agent's host name or labels change, so its series are bound again. */
  version: number;
  onlineSinceMs: number;
}

/** A change of one alert's state, for history and notification. */
export interface AlertTransition {
  rule: CompiledRule;
  alert: AlertInstance;
  from: AlertState | 'inactive';
  to: AlertHistoryState;
  atMs: number;
  /** Why a firing alert resolved: the condition cleared, its data stopped, or its rule went away. */
  reason?: 'cleared' | 'no_data' | 'rule_removed' | 'rule_disabled';
  /** Extra figures for messages (disk_full: hours until the threshold). */
  details?: Record<string, number>;
}

export interface EvaluatorOptions {
  intervalMs: number;
  /** A series not heard from for this long has no data. */
  staleMs: number;
  /** After start: offline agents and missing series are not judged yet (agents reconnect, windows warm). */
  startupGraceMs: number;
  now?: () => number;
  /** Cooperative slices: yield to the event loop after this much work. */
  sliceMs?: number;
  /** Counts matching log lines per agent in [fromMs, toMs] (the log store); log_lines rules need it. */
  countLogs?: ((filter: LogFilter, fromMs: number, toMs: number) => Promise<Map<string, AgentLineCount>>) | undefined;
  /**
   * In a cluster, whether this node evaluates what an alert is about: an agent id, or for what
   * has none (a syslog sender, a fleet-wide log rule) `sender:` and its key. Absent: everything.
   */
  owns?: ((ownerKey: string) => boolean) | undefined;
}

/** What decides which node of a cluster evaluates an alert: its agent, else its sender key. */
export function ownerKey(agentId: string, key: string): string {
  return agentId || `sender:${key}`;
}

export interface CycleStats {
  cycle: number;
  startedMs: number;
  /** Wall time of the whole cycle, including yields to ingest. */
  wallMs: number;
  /** Time spent evaluating, without the yields. */
  busyMs: number;
  rules: number;
  series: number;
  pairs: number;
  transitions: number;
}

interface NameIndex {
  version: number;
  rules: CompiledRule[];
  byHost: Map<string, CompiledRule[]>;
  open: CompiledRule[];
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class AlertEvaluator {
  readonly windows: SeriesWindows;
  readonly #opts: Required<Omit<EvaluatorOptions, 'countLogs' | 'owns'>> & Pick<EvaluatorOptions, 'countLogs' | 'owns'>;
  #rules: CompiledRule[] = [];
  #byName = new Map<string, NameIndex>();
  #agentRules: CompiledRule[] = [];
  #logRules: CompiledRule[] = [];
  /** log_lines counts that failed (the store threw); their alerts were kept as they were. */
  logCountErrors = 0;
  /** Fingerprints of alerts this node let go in its last cycle (another node evaluates them): not to be sent. */
  released: string[] = [];
  #versionSeq = 0;
  readonly #agents = new Map<string, AgentEntry>();
  readonly #startedMs: number;
  #cycle = 0;
  #running = false;
  last: CycleStats | undefined;
  /** Cycles that started late because the one before was still running. */
  overruns = 0;

  constructor(windows: SeriesWindows, opts: EvaluatorOptions) {
    this.windows = windows;
    this.#opts = { now: Date.now, sliceMs: 25, ...opts };
    this.#startedMs = this.#opts.now();
  }

  get rules(): readonly CompiledRule[] {
    return this.#rules;
  }

  get running(): boolean {
    return this.#running;
  }

  rule(id: string): CompiledRule | undefined {
    return this.#rules.find((r) => r.id === id);
  }

  /** Every pending and firing alert. */
  *alerts(): Iterable<[CompiledRule, AlertInstance]> {
    for (const r of this.#rules) for (const a of r.instances.values()) yield [r, a];
  }

  /**
   * Replaces the rule set. Alerts of a rule that stays (same id) carry over; those of a rule that
   * went away resolve, returned as transitions.
   */
  setRules(rules: CompiledRule[]): AlertTransition[] {
    const now = this.#opts.now();
    const next = new Map(rules.map((r) => [r.id, r]));
    const out: AlertTransition[] = [];
    for (const old of this.#rules) {
      const successor = next.get(old.id);
      if (successor?.spec.enabled) {
        if (successor !== old) for (const [fp, a] of old.instances) successor.instances.set(fp, a);
        continue;
      }
      const reason = successor ? 'rule_disabled' : 'rule_removed';
      for (const a of old.instances.values()) {
        if (a.state === 'firing') out.push({ rule: old, alert: a, from: 'firing', to: 'resolved', atMs: now, reason });
        else out.push({ rule: old, alert: a, from: 'pending', to: 'inactive', atMs: now, reason });
      }
      old.instances.clear();
    }
    this.#rules = rules;
    const previous = this.#byName;
    this.#byName = new Map();
    this.#agentRules = [];
    this.#logRules = [];
    const interests = new Map<string, NameInterest>();
    for (const r of rules) {
      if (!r.spec.enabled) continue;
      if (r.kind === 'log_lines') {
        this.#logRules.push(r);
        continue;
      }
      if (!r.metric) {
        this.#agentRules.push(r);
        continue;
      }
      if (r.kind === 'no_data') this.#agentRules.push(r);
      let idx = this.#byName.get(r.metric);
      if (!idx) {
        idx = { version: 0, rules: [], byHost: new Map(), open: [] };
        this.#byName.set(r.metric, idx);
      }
      idx.rules.push(r);
      if (r.kind === 'no_data') continue;
      if (r.hosts) {
        for (const h of r.hosts) {
          const list = idx.byHost.get(h);
          if (list) list.push(r);
          else idx.byHost.set(h, [r]);
        }
      } else idx.open.push(r);
    }
    for (const [name, idx] of this.#byName) {
      const before = previous.get(name);
      const same = before && before.rules.length === idx.rules.length && before.rules.every((r, i) => r === idx.rules[i]);
      idx.version = same ? before.version : ++this.#versionSeq;
      interests.set(name, interestOf(idx.rules));
    }
    this.windows.setInterest(interests);
    return out;
  }

  /** Puts alerts back after a restart (from the database); their rules must be set first. */
  /** Takes the agent's alerts out of every rule, with no transition (its agent was forgotten); returns them. */
  forgetAgent(agentId: string): AlertInstance[] {
    const gone: AlertInstance[] = [];
    for (const r of this.#rules) {
      for (const [key, a] of r.instances) {
        if (a.agentId !== agentId) continue;
        r.instances.delete(key);
        gone.push(a);
      }
    }
    return gone;
  }

  restore(instances: AlertInstance[], holdUntilMs?: number): number {
    let n = 0;
    for (const a of instances) {
      const r = this.rule(a.ruleId);
      if (!r) continue;
      r.instances.set(a.key, { ...a, cycle: -1, ...(holdUntilMs !== undefined ? { holdUntilMs } : {}) });
      n++;
    }
    return n;
  }

  /**
   * Takes the registry's view of the agents: host names and labels for selectors, online status.
   * A pushed host (`push:web-1`) goes by its id, never by the host name it was pushed with, so pushed
   * data cannot select, fire or resolve a rule as the agent whose host name it claims.
   */
  updateAgents(list: readonly AgentFacts[]): void {
    const now = this.#opts.now();
    const seen = new Set<string>();
    for (const listed of list) {
      const f = isPushAgentId(listed.id) ? { ...listed, hostname: listed.id } : listed;
      seen.add(f.id);
      const e = this.#agents.get(f.id);
      if (!e) {
        this.#agents.set(f.id, { facts: f, version: ++this.#versionSeq, onlineSinceMs: f.status === 'online' ? now : 0 });
        continue;
      }
      // The registry hands out the same labels object until the agent registers again.
      if (e.facts.hostname !== f.hostname || (e.facts.labels !== f.labels && !sameLabels(e.facts.labels, f.labels))) {
        e.version = ++this.#versionSeq;
      }
      if (f.status === 'online' && e.facts.status !== 'online') e.onlineSinceMs = now;
      if (f.status !== 'online') e.onlineSinceMs = 0;
      e.facts = f;
    }
    for (const id of this.#agents.keys()) if (!seen.has(id)) this.#agents.delete(id);
  }

  #bind(sw: SeriesWindow): void {
    const idx = this.#byName.get(sw.name);
    const agent = this.#agents.get(sw.agentId);
    sw.rulesVersion = idx?.version ?? 0;
    sw.agentVersion = agent?.version ?? 0;
    if (!idx) {
      sw.rules = [];
      return;
    }
    const hostname = agent?.facts.hostname ?? sw.agentId;
    const labels = agent?.facts.labels ?? {};
    const out: CompiledRule[] = [];
    const consider = (r: CompiledRule) => {
      if (r.takesSeries(sw.labels) && r.takesAgent(sw.agentId, hostname, labels) && !out.includes(r)) out.push(r);
    };
    for (const r of idx.open) consider(r);
    const byId = idx.byHost.get(sw.agentId);
    if (byId) for (const r of byId) consider(r);
    if (hostname !== sw.agentId) {
      const byName = idx.byHost.get(hostname);
      if (byName) for (const r of byName) consider(r);
    }
    sw.rules = out;
  }

  /** One evaluation of every rule; resolves with the transitions it made. */
  async runCycle(): Promise<AlertTransition[]> {
    if (this.#running) {
      this.overruns++;
      return [];
    }
    this.#running = true;
    try {
      return await this.#cycleOnce();
    } finally {
      this.#running = false;
    }
  }

  async #cycleOnce(): Promise<AlertTransition[]> {
    const { now: clock, staleMs, sliceMs } = this.#opts;
    const cycle = ++this.#cycle;
    const startedMs = clock();
    // Samples from here on belong to this cycle; those of the one before are the news it judges.
    const news = this.windows.epoch++;
    const t0 = performance.now();
    let sliceStart = t0;
    let busy = 0;
    let pairs = 0;
    let series = 0;
    const out: AlertTransition[] = [];
    const maybeYield = async () => {
      const t = performance.now();
      if (t - sliceStart < sliceMs) return;
      busy += t - sliceStart;
      await yieldToEventLoop();
      sliceStart = performance.now();
    };

    for (const nw of this.windows.names) {
      const idx = this.#byName.get(nw.name);
      if (!idx) continue;
      let k = 0;
      const list = nw.list;
      for (let n = 0; n < list.length; n++) {
        const sw = list[n] as SeriesWindow;
        if ((++k & 255) === 0) await maybeYield();
        const agent = this.#agents.get(sw.agentId);
        // In a cluster the agents given are the ones this node evaluates: another's samples left here wait to go stale.
        if (!agent && this.#opts.owns) continue;
        if (sw.rulesVersion !== idx.version || sw.agentVersion !== (agent?.version ?? 0)) this.#bind(sw);
        const rules = sw.rules as CompiledRule[];
        if (rules.length === 0) continue;
        series++;
        const now = clock();
        if (now - sw.receivedMs > staleMs) continue;
        for (const r of rules) {
          if (r.kind === 'no_data') continue;
          pairs++;
          if (r.kind === 'disk_full') {
            this.#evalDiskFull(r, sw, agent, now, sw.epoch === news ? sw.firstReceivedMs : now, cycle, out);
            continue;
          }
          const v = sw.aggregate(r.aggregation, r.windowMs);
          if (Number.isNaN(v)) continue;
          const since = sw.epoch === news ? sw.firstReceivedMs : now;
          this.#touch(r, sw.key, sw.agentId, compare(v, r.op, r.threshold), v, now, since, cycle, out, () =>
            alertLabels(r, sw.agentId, agent?.facts, sw.labels),
          );
        }
      }
    }

    const now = clock();
    const graceOver = now - this.#startedMs >= this.#opts.startupGraceMs;
    for (const r of this.#agentRules) {
      await maybeYield();
      if (r.kind === 'agent_offline' && graceOver) this.#evalOffline(r, now, cycle, out);
      else if (r.kind === 'no_data') this.#evalNoData(r, now, cycle, out);
    }
    for (const r of this.#logRules) await this.#evalLogLines(r, cycle, out);

    // An alert its evaluation did not reach has no data: its series went stale or stopped matching.
    for (const r of this.#rules) {
      if (r.instances.size === 0) continue;
      for (const [fp, a] of r.instances) {
        if (a.cycle === cycle) continue;
        if (this.#opts.owns && !this.#opts.owns(ownerKey(a.agentId, a.key))) {
          // Another node of the cluster evaluates it now: it leaves this one without a word.
          r.instances.delete(fp);
          this.released.push(a.fingerprint);
          continue;
        }
        if (!graceOver || (a.holdUntilMs !== undefined && now < a.holdUntilMs)) continue;
        r.instances.delete(fp);
        if (a.state === 'firing') out.push({ rule: r, alert: a, from: 'firing', to: 'resolved', atMs: now, reason: 'no_data' });
        else out.push({ rule: r, alert: a, from: 'pending', to: 'inactive', atMs: now, reason: 'no_data' });
      }
    }
    const end = performance.now();
    busy += end - sliceStart;
    this.last = {
      cycle,
      startedMs,
      wallMs: end - t0,
      busyMs: busy,
      rules: this.#rules.length,
      series,
      pairs,
      transitions: out.length,
    };
    return out;
  }

  #evalDiskFull(
    r: CompiledRule,
    sw: SeriesWindow,
    agent: AgentEntry | undefined,
    now: number,
    since: number,
    cycle: number,
    out: AlertTransition[],
  ): void {
    let fit = sw.fitCache?.cycle === cycle && sw.fitCache.lookbackMs === r.lookbackMs ? sw.fitCache.fit : undefined;
    if (!fit && sw.long) {
      fit = linearFit(sw.long, r.lookbackMs);
      sw.fitCache = { cycle, lookbackMs: r.lookbackMs, fit };
    }
    // A fit over a sliver of the lookback says little: wait for a quarter of it.
    if (!fit || fit.span < r.lookbackMs / 4) {
      const a = r.instances.get(sw.key);
      if (a) a.cycle = cycle;
      return;
    }
    const predicted = fit.at + fit.slope * r.withinMs;
    const breach = fit.slope < 0 && predicted <= r.threshold;
    const hoursLeft = fit.slope < 0 ? Math.max(0, (r.threshold - fit.at) / fit.slope / 3_600_000) : Number.POSITIVE_INFINITY;
    const len = out.length;
    this.#touch(r, sw.key, sw.agentId, breach, predicted, now, since, cycle, out, () =>
      alertLabels(r, sw.agentId, agent?.facts, sw.labels),
    );
    for (let i = len; i < out.length; i++) (out[i] as AlertTransition).details = { hours_left: hoursLeft, current: fit.at };
  }

  /**
   * A log_lines rule: the store counts matching lines in [now - window, now] per agent, once for
   * the rule; per host each selected agent is judged on its own count (0 when it logged none), or
   * the fleet on the sum. Lines of senders the registry does not know (syslog) count under their id.
   */
  async #evalLogLines(r: CompiledRule, cycle: number, out: AlertTransition[]): Promise<void> {
    const countLogs = this.#opts.countLogs;
    if (!countLogs || !r.logFilter) return;
    const now = this.#opts.now();
    let counts: Map<string, AgentLineCount>;
    try {
      counts = await countLogs(r.logFilter, now - r.windowMs, now);
    } catch {
      // A store that cannot answer says nothing about the condition: its alerts stay as they are.
      this.logCountErrors++;
      for (const a of r.instances.values()) a.cycle = cycle;
      return;
    }
    const facts = (c: AgentLineCount): AgentFacts =>
      (c.agentId ? this.#agents.get(c.agentId)?.facts : undefined) ?? {
        id: c.agentId,
        hostname: c.host,
        labels: {},
        status: 'online',
        lastSeenMs: now,
      };
    if (r.fleet) {
      if (this.#opts.owns && !this.#opts.owns(ownerKey('', 'fleet'))) return;
      let total = 0;
      for (const c of counts.values()) {
        const f = facts(c);
        if (r.takesAgent(f.id, f.hostname, f.labels)) total += c.count;
      }
      this.#touch(r, 'fleet', '', compare(total, r.op, r.threshold), total, now, now, cycle, out, () => fleetLabels(r));
      return;
    }
    const judged = new Set<string>();
    const owns = this.#opts.owns;
    const judge = (f: AgentFacts) => {
      const key = senderKey(f.id, f.hostname);
      if (judged.has(key) || !r.takesAgent(f.id, f.hostname, f.labels)) return;
      if (owns && !owns(ownerKey(f.id, key))) return;
      judged.add(key);
      const n = counts.get(key)?.count ?? 0;
      this.#touch(r, key, f.id, compare(n, r.op, r.threshold), n, now, now, cycle, out, () => {
        const made = alertLabels(r, f.id, f, {});
        // A syslog sender is no agent: its alert says only the host it sent from.
        if (!f.id) delete made.labels.agent;
        return made;
      });
    };
    for (const e of this.#agents.values()) judge(e.facts);
    for (const c of counts.values()) judge(facts(c));
  }

  #evalOffline(r: CompiledRule, now: number, cycle: number, out: AlertTransition[]): void {
    for (const e of this.#agents.values()) {
      const f = e.facts;
      // A pushed host has no stream to lose: it is never an agent that went offline.
      if (isPushAgentId(f.id) || !r.takesAgent(f.id, f.hostname, f.labels)) continue;
      const offline = f.status === 'offline';
      const silentS = Math.max(0, (now - f.lastSeenMs) / 1000);
      this.#touch(r, f.id, f.id, offline, offline ? silentS : 0, now, offline ? Math.min(now, f.lastSeenMs) : now, cycle, out, () =>
        alertLabels(r, f.id, f, {}),
      );
    }
  }

  #evalNoData(r: CompiledRule, now: number, cycle: number, out: AlertTransition[]): void {
    const nw = r.metric ? this.windows.byName(r.metric) : undefined;
    for (const e of this.#agents.values()) {
      const f = e.facts;
      if (isPushAgentId(f.id) || !r.takesAgent(f.id, f.hostname, f.labels)) continue;
      const a = r.instances.get(f.id);
      // Offline agents are the agent_offline rule's business; a fresh connection has not had its window yet.
      if (f.status !== 'online' || now - e.onlineSinceMs < r.windowMs) {
        if (a) a.cycle = cycle;
        continue;
      }
      let lastMs = 0;
      for (const sw of nw?.ofAgent(f.id) ?? []) if (sw.receivedMs > lastMs && r.takesSeries(sw.labels)) lastMs = sw.receivedMs;
      const missing = now - lastMs > r.windowMs;
      const since = lastMs > 0 ? lastMs + r.windowMs : e.onlineSinceMs + r.windowMs;
      this.#touch(
        r,
        f.id,
        f.id,
        missing,
        missing ? (now - (lastMs || e.onlineSinceMs)) / 1000 : 0,
        now,
        Math.min(now, since),
        cycle,
        out,
        () => alertLabels(r, f.id, f, {}),
      );
    }
  }

  /**
   * One evaluation of one alert. `sinceMs` is the earliest the condition can have begun (the first
   * sample since the last cycle): a new pending alert counts its for-duration from then, not from
   * this later evaluation, so it fires within for + one interval of the breach arriving.
   */
  #touch(
    r: CompiledRule,
    key: string,
    agentId: string,
    breach: boolean,
    value: number,
    now: number,
    sinceMs: number,
    cycle: number,
    out: AlertTransition[],
    labels: () => { labels: Record<string, string>; series: string },
  ): void {
    let a = r.instances.get(key);
    if (!breach) {
      if (!a) return;
      r.instances.delete(key);
      a.value = value;
      a.lastEvalMs = now;
      if (a.state === 'firing') out.push({ rule: r, alert: a, from: 'firing', to: 'resolved', atMs: now, reason: 'cleared' });
      else out.push({ rule: r, alert: a, from: 'pending', to: 'inactive', atMs: now, reason: 'cleared' });
      return;
    }
    if (!a) {
      const made = labels();
      a = {
        ruleId: r.id,
        key,
        fingerprint: alertFingerprint(r.id, key),
        state: 'pending',
        labels: made.labels,
        series: made.series,
        agentId,
        value,
        activeSinceMs: Math.min(now, sinceMs),
        firedAtMs: 0,
        notifiedMs: 0,
        lastEvalMs: now,
        cycle,
      };
      r.instances.set(key, a);
      if (r.forMs > 0 && now - a.activeSinceMs < r.forMs) {
        out.push({ rule: r, alert: a, from: 'inactive', to: 'pending', atMs: now });
        return;
      }
      a.state = 'firing';
      a.firedAtMs = now;
      out.push({ rule: r, alert: a, from: 'inactive', to: 'firing', atMs: now });
      return;
    }
    a.value = value;
    a.lastEvalMs = now;
    a.cycle = cycle;
    if (a.state === 'pending' && now - a.activeSinceMs >= r.forMs) {
      a.state = 'firing';
      a.firedAtMs = now;
      out.push({ rule: r, alert: a, from: 'pending', to: 'firing', atMs: now });
    }
  }
}

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * An alert's labels: the agent's labels, the series' labels over them, then agent, host,
 * alertname and severity, and the rule's own labels last.
 */
export function alertLabels(
  r: CompiledRule,
  agentId: string,
  agent: AgentFacts | undefined,
  series: Labels,
): { labels: Record<string, string>; series: string } {
  const out: Record<string, string> = { ...agent?.labels, ...series };
  out.agent = agentId;
  // A pushed series' own host label names a host it claims, not one it is: its alerts say push:<host>.
  if (isPushAgentId(agentId)) out.host = agentId;
  else out.host ??= agent?.hostname ?? agentId;
  out.alertname = r.name;
  out.severity = r.spec.severity;
  if (r.spec.labels) Object.assign(out, r.spec.labels);
  const names = Object.keys(series).sort();
  return {
    labels: out,
    series: names.length ? formatSelector(names.map((name) => ({ name, op: '=', value: series[name] as string }))) : '',
  };
}

/** A fleet-wide alert's labels: no agent or host, only the rule's. */
function fleetLabels(r: CompiledRule): { labels: Record<string, string>; series: string } {
  const out: Record<string, string> = { alertname: r.name, severity: r.spec.severity };
  if (r.spec.labels) Object.assign(out, r.spec.labels);
  return { labels: out, series: '' };
}

/** What the windows must keep of one metric name for the rules that read it. */
function interestOf(rules: CompiledRule[]): NameInterest {
  let retainMs = 0;
  let longRetainMs = 0;
  let longBucketMs = 0;
  let everySeries = false;
  for (const r of rules) {
    retainMs = Math.max(retainMs, r.retainMs);
    if (r.kind === 'disk_full') {
      longRetainMs = Math.max(longRetainMs, r.lookbackMs);
      const bucket = Math.max(1000, Math.floor(r.lookbackMs / 120));
      longBucketMs = longBucketMs === 0 ? bucket : Math.min(longBucketMs, bucket);
    }
    if (r.seriesMatchers.length === 0) everySeries = true;
  }
  if (everySeries) return { retainMs, longBucketMs, longRetainMs, accept: null };
  // Thousands of per-host rules share a handful of selectors: each distinct one is tested once.
  const distinct = new Map<string, CompiledRule['seriesMatchers']>();
  for (const r of rules) distinct.set(JSON.stringify(r.seriesMatchers.map((m) => [m.name, m.op, m.value])), r.seriesMatchers);
  const sets = [...distinct.values()];
  const accept = (labels: Labels) => sets.some((m) => matchesAll(m, labels));
  return { retainMs, longBucketMs, longRetainMs, accept };
}
