/**
 * The AlertService wires alerting into the server: the ingest hook feeds the windows, a timer
 * runs the evaluator every interval, transitions go to history and to the dispatcher, a second
 * timer sends what is due. Definitions come from the catalog (database and rules file) and are
 * re-read when another server or the file changes them.
 */

import type { Sample } from '@falconet/protocol';
import type { Alert } from '@falconet/protocol/api';
import { ConfigError } from '@falconet/protocol/config';
import type { Metric, MetricFamily } from '@falconet/protocol/exposition';
import type { Logger } from 'pino';
import { timeOrderedId } from '../auth/ids.ts';
import type { MetaDb } from '../db/index.ts';
import { countLines } from '../logs/count.ts';
import type { LogStore } from '../logs/types.ts';
import type { Store } from '../store/types.ts';
import { AlertCatalog } from './catalog.ts';
import { outcomeOf } from './channels/index.ts';
import type { AlertsConfig } from './config.ts';
import { type ChannelRuntime, channelRuntime, DeliveryQueue, type DeliveryRecord } from './delivery.ts';
import { AlertDispatcher } from './dispatcher.ts';
import { type AgentFacts, AlertEvaluator, type AlertTransition } from './evaluator.ts';
import { buildNotification } from './notification.ts';
import { previewRule } from './preview.ts';
import { AlertRepository, type HistoryEntry } from './repository.ts';
import { type AlertInstance, CompiledRule, type RuleDefaults } from './rule.ts';
import { Silence, SilenceSet } from './silences.ts';
import type { RuleSpec } from './spec.ts';
import { SeriesWindows } from './windows.ts';

export interface AgentSource {
  list(): readonly AgentFacts[];
}

export interface AlertServiceDeps {
  config: AlertsConfig;
  meta: MetaDb;
  store: Store;
  /** Where log_lines rules count lines; without it they never fire. */
  logs?: LogStore | undefined;
  agents: AgentSource;
  /**
   * In a cluster, whether this node evaluates an agent's rules, or a sender's (ownerKey of
   * evaluator.ts): each alert belongs to one node at a time, so each notifies once. Absent: all.
   */
  owns?: (agentId: string) => boolean;
  log: Logger;
  /** Where people open the dashboard, for links in messages. */
  externalUrl: () => string;
  now?: () => number;
}

const DISPATCH_TICK_MS = 1000;
const RELOAD_CHECK_MS = 5000;

export class AlertService {
  readonly config: AlertsConfig;
  readonly windows = new SeriesWindows();
  readonly evaluator: AlertEvaluator;
  readonly queue: DeliveryQueue;
  readonly dispatcher: AlertDispatcher;
  readonly repo: AlertRepository;
  readonly catalog: AlertCatalog;
  readonly #deps: AlertServiceDeps;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #defaults: RuleDefaults;
  #compiled = new Map<string, { json: string; rule: CompiledRule }>();
  /** Rules other modules keep (monitors/alerting.ts), by their source; not in the catalog nor over REST. */
  readonly #external = new Map<string, { id: string; spec: RuleSpec }[]>();
  #channels = new Map<string, ChannelRuntime>();
  #silences = new SilenceSet([]);
  #timers: NodeJS.Timeout[] = [];
  #writes: Promise<void> = Promise.resolve();
  #toSave = new Map<string, AlertInstance>();
  #dbSignature = '';
  #warm = { total: 0, done: 0, running: false, queue: new Set<string>() };
  #stopped = false;
  /** When recent cycles started: shows (and tests check) that an alert fired at the first cycle that could fire it. */
  readonly #cycleStarts: number[] = [];
  readonly counters = {
    cycles: 0,
    transitions: { pending: 0, firing: 0, resolved: 0, inactive: 0 },
    persistErrors: 0,
    fileErrors: 0,
    /** Channel updates refused for keeping a stored secret while changing the destination. */
    secretRequired: 0,
  };

  constructor(deps: AlertServiceDeps) {
    this.#deps = deps;
    this.config = deps.config;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    const c = deps.config;
    this.#defaults = { groupWaitMs: c.group_wait, groupIntervalMs: c.group_interval, repeatIntervalMs: c.repeat_interval };
    this.repo = new AlertRepository(deps.meta);
    this.catalog = new AlertCatalog(this.repo, { rulesFile: c.rules_file, now: this.#now });
    this.evaluator = new AlertEvaluator(this.windows, {
      intervalMs: c.evaluation_interval,
      staleMs: c.stale_after,
      startupGraceMs: c.startup_grace,
      now: this.#now,
      countLogs: deps.logs ? (filter, fromMs, toMs) => countLines(deps.logs as LogStore, filter, fromMs, toMs) : undefined,
      owns: deps.owns,
    });
    this.queue = new DeliveryQueue({
      log: deps.log,
      now: this.#now,
      onRecord: (rec) => this.#persist(() => this.repo.recordDelivery({ ...rec })),
    });
    this.dispatcher = new AlertDispatcher({
      channel: (name) => this.#channels.get(name),
      queue: this.queue,
      silences: () => this.#silences,
      defaultChannels: () => c.default_channels,
      externalUrl: deps.externalUrl,
      log: deps.log,
      now: this.#now,
      onNotified: (a) => this.#toSave.set(`${a.ruleId}\u0000${a.key}`, a),
    });
  }

  /** Loads definitions (a bad rules file stops the start, naming file:line:col), restores alerts, starts the timers. */
  async start(): Promise<void> {
    await this.catalog.loadDatabase();
    this.catalog.loadFileIfChanged();
    this.#dbSignature = await this.repo.signature();
    this.#apply();
    const restored = await this.repo.instances();
    const n = this.evaluator.restore(restored);
    // Restored firing alerts rejoin their groups as already sent (if they were), so a restart repeats nothing.
    this.dispatcher.handle(
      [...this.evaluator.alerts()]
        .filter(([, a]) => a.state === 'firing')
        .map(([rule, alert]) => ({ rule, alert, from: 'firing' as const, to: 'firing' as const, atMs: this.#now() })),
    );
    this.#log.info(
      { rules: this.evaluator.rules.length, channels: this.#channels.size, silences: this.#silences.list.length, restoredAlerts: n },
      'alerting started',
    );
    const every = (msValue: number, fn: () => unknown) => {
      const t = setInterval(fn, msValue);
      t.unref();
      this.#timers.push(t);
    };
    every(this.config.evaluation_interval, () =>
      this.runCycle().catch((err: unknown) => this.#log.error({ err }, 'alert evaluation cycle failed; the next one runs as usual')),
    );
    every(DISPATCH_TICK_MS, () => this.tick());
    every(RELOAD_CHECK_MS, () => void this.reload());
    every(60_000, () => this.windows.gc(this.#now(), Math.max(this.config.stale_after * 2, this.#maxRetainMs())));
    every(3_600_000, () => this.#persist(() => this.repo.prune(this.#now() - this.config.history_retention)));
    if (this.config.warm_from_store) this.#scheduleWarm();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.queue.close();
    for (const ch of this.#channels.values()) ch.sender.close?.();
    if (this.#toSave.size > 0) {
      const upserts = [...this.#toSave.values()];
      this.#toSave.clear();
      this.#persist(() => this.repo.saveCycle(upserts, [], []));
    }
    await this.#writes;
  }

  /** The ingest hook: samples of one report, after the store made them durable. */
  observe(agentId: string, samples: readonly Sample[]): void {
    this.windows.observe(agentId, samples, this.#now());
  }

  /**
   * Forgets an agent's alerts: out of evaluation, their groups and the database, with nothing sent
   * (an admin removed the agent; a resolved message would claim a recovery nobody saw). Resolves
   * with how many alerts went. History stays.
   */
  async forgetAgent(agentId: string): Promise<number> {
    this.windows.forgetAgent(agentId);
    const gone = this.evaluator.forgetAgent(agentId);
    this.dispatcher.forget(new Set(gone.map((a) => a.fingerprint)));
    for (const a of gone) this.#toSave.delete(`${a.ruleId}\u0000${a.key}`);
    await this.#writes;
    await this.repo.deleteInstancesOf(agentId);
    return gone.length;
  }

  /** The agents this node evaluated in its last cycle (in a cluster), to see which it gained or lost. */
  #owned: Set<string> | undefined;

  /**
   * The agents of this node's cycle. In a cluster: the alerts of an agent another node took over
   * leave this node silently (that node goes on with them from the shared database, nothing is
   * resolved or sent twice); those of an agent this node takes over are read from there, as
   * already sent, and kept from resolving for want of data until its samples arrive here.
   */
  async #agentsOfCycle(): Promise<ReturnType<AgentSource['list']>> {
    const all = this.#deps.agents.list();
    const owns = this.#deps.owns;
    if (!owns) return all;
    const mine = all.filter((a) => owns(a.id));
    const now = new Set(mine.map((a) => a.id));
    const before = this.#owned;
    this.#owned = now;
    if (!before) {
      // Started with every stored alert restored: the ones of agents not this node's go.
      const known = new Set(all.map((a) => a.id));
      const foreign = new Set<string>();
      for (const [, a] of this.evaluator.alerts()) if (!now.has(a.agentId) && known.has(a.agentId)) foreign.add(a.agentId);
      for (const id of foreign) this.#release(id);
      return mine;
    }
    for (const id of before) if (!now.has(id)) this.#release(id);
    const gained = [...now].filter((id) => !before.has(id));
    if (gained.length > 0) {
      let taken: AlertInstance[];
      try {
        taken = await this.repo.instancesOf(gained);
      } catch (err) {
        // The database is away: these agents are taken over at a later cycle, once their alerts can be read.
        for (const id of gained) now.delete(id);
        this.#log.warn(
          { err: (err as Error).message, agents: gained.length },
          'cannot read the alerts of agents to take over; trying again next cycle',
        );
        return mine.filter((a) => now.has(a.id));
      }
      this.evaluator.restore(taken, this.#now() + 2 * this.config.stale_after);
      this.dispatcher.handle(
        taken
          .filter((a) => a.state === 'firing')
          .flatMap((alert) => {
            const rule = this.evaluator.rule(alert.ruleId);
            return rule ? [{ rule, alert, from: 'firing' as const, to: 'firing' as const, atMs: this.#now() }] : [];
          }),
      );
      if (taken.length)
        this.#log.info({ agents: gained.length, alerts: taken.length }, 'took over the alerts of agents now evaluated here');
    }
    return mine;
  }

  /** Drops an agent's alerts from this node without a word: another node evaluates them now. */
  #release(agentId: string): void {
    this.windows.forgetAgent(agentId);
    const gone = this.evaluator.forgetAgent(agentId);
    this.dispatcher.forget(new Set(gone.map((a) => a.fingerprint)));
  }

  /** One evaluation now: agents from the registry, every rule, then history and notifications. */
  async runCycle(): Promise<AlertTransition[]> {
    if (this.#stopped) return [];
    this.evaluator.updateAgents(await this.#agentsOfCycle());
    this.evaluator.released = [];
    const transitions = await this.evaluator.runCycle();
    if (this.evaluator.released.length > 0) this.dispatcher.forget(new Set(this.evaluator.released));
    this.counters.cycles++;
    if (this.evaluator.last) {
      this.#cycleStarts.push(this.evaluator.last.startedMs);
      if (this.#cycleStarts.length > 100) this.#cycleStarts.shift();
    }
    this.#take(transitions);
    const last = this.evaluator.last;
    if (last && last.wallMs > this.config.evaluation_interval) {
      this.#log.warn(
        { cycleMs: Math.round(last.wallMs), busyMs: Math.round(last.busyMs), rules: last.rules, series: last.series },
        'alert evaluation took longer than its interval',
      );
    }
    return transitions;
  }

  /** Sends what is due, and records which alerts went out, so a restart does not send them again. */
  tick(): void {
    this.dispatcher.tick();
    if (this.#toSave.size === 0) return;
    const upserts = [...this.#toSave.values()];
    this.#toSave.clear();
    this.#persist(() => this.repo.saveCycle(upserts, [], []));
  }

  /** Resolves once every database write queued so far is done. */
  async flushed(): Promise<void> {
    await this.#writes;
  }

  #take(transitions: AlertTransition[]): void {
    if (transitions.length === 0) return;
    this.dispatcher.handle(transitions);
    const history: HistoryEntry[] = [];
    const removals: { ruleId: string; key: string }[] = [];
    for (const t of transitions) {
      this.counters.transitions[t.to]++;
      const k = `${t.alert.ruleId}\u0000${t.alert.key}`;
      if (t.to === 'resolved' || t.to === 'inactive') {
        this.#toSave.delete(k);
        removals.push({ ruleId: t.alert.ruleId, key: t.alert.key });
      } else this.#toSave.set(k, t.alert);
      history.push({
        id: timeOrderedId(t.atMs),
        tsMs: t.atMs,
        ruleId: t.rule.id,
        ruleName: t.rule.name,
        fingerprint: t.alert.fingerprint,
        agentId: t.alert.agentId,
        host: t.alert.labels.host ?? '',
        severity: t.rule.spec.severity,
        from: t.from,
        to: t.to,
        reason: t.reason ?? '',
        value: t.alert.value,
        labels: t.alert.labels,
      });
    }
    this.#logTransitions(transitions);
    const upserts = [...this.#toSave.values()];
    this.#toSave.clear();
    this.#persist(() => this.repo.saveCycle(upserts, removals, history));
  }

  #logTransitions(ts: AlertTransition[]): void {
    const interesting = ts.filter((t) => t.to === 'firing' || t.to === 'resolved');
    // One line per alert while few change; a summary per rule when a fleet changes at once.
    if (interesting.length <= 20) {
      for (const t of interesting) {
        this.#log.info(
          { rule: t.rule.name, host: t.alert.labels.host, series: t.alert.series || undefined, value: t.alert.value, reason: t.reason },
          `alert ${t.to}: ${t.rule.name} on ${t.alert.labels.host}`,
        );
      }
      return;
    }
    const byRule = new Map<string, { firing: number; resolved: number }>();
    for (const t of interesting) {
      const c = byRule.get(t.rule.name) ?? { firing: 0, resolved: 0 };
      c[t.to as 'firing' | 'resolved']++;
      byRule.set(t.rule.name, c);
    }
    for (const [rule, c] of byRule) this.#log.info({ rule, ...c }, `alerts changed: ${rule}: ${c.firing} firing, ${c.resolved} resolved`);
  }

  /** Database writes go one after another; a failure is logged and counted, never thrown at the evaluator. */
  #persist(write: () => Promise<void>): void {
    this.#writes = this.#writes.then(write).catch((err: unknown) => {
      this.counters.persistErrors++;
      this.#log.error({ err }, 'alerting could not write to the database');
    });
  }

  /** Compiles what the catalog holds and hands it to the evaluator, the dispatcher and the silences. */
  #apply(): void {
    const compiled = new Map<string, { json: string; rule: CompiledRule }>();
    const external = [...this.#external].flatMap(([source, rules]) => rules.map((r) => ({ ...r, source })));
    for (const rec of [...this.catalog.rules, ...external]) {
      const json = JSON.stringify([rec.spec, rec.source]);
      const old = this.#compiled.get(rec.id);
      // An unchanged rule keeps its compiled object: the index keeps its bindings.
      compiled.set(rec.id, old && old.json === json ? old : { json, rule: new CompiledRule(rec.id, rec.spec, rec.source, this.#defaults) });
    }
    this.#compiled = compiled;
    const gone = this.evaluator.setRules([...compiled.values()].map((c) => c.rule));
    this.#take(gone);

    const channels = new Map<string, ChannelRuntime>();
    for (const rec of this.catalog.channels) {
      const old = [...this.#channels.values()].find((c) => c.id === rec.id);
      if (old && JSON.stringify(old.spec) === JSON.stringify(rec.spec)) {
        channels.set(rec.spec.name, old);
        continue;
      }
      old?.sender.close?.();
      channels.set(rec.spec.name, channelRuntime(rec, this.config.delivery, this.#now));
    }
    for (const old of this.#channels.values()) if (!channels.has(old.name)) old.sender.close?.();
    this.#channels = channels;
    const missing = this.config.default_channels.filter((n) => !channels.has(n));
    if (missing.length) this.#log.warn({ missing }, 'alerts.default_channels names channels that do not exist; their alerts are not sent');

    const now = this.#now();
    this.#silences = new SilenceSet(
      this.catalog.silences
        .map((s) => new Silence(s.id, s.spec, { source: s.source, createdBy: s.createdBy, createdMs: s.createdMs }))
        .filter((s) => !s.expiredAt(now)),
    );
    if (this.config.warm_from_store && this.#timers.length > 0) this.#scheduleWarm();
  }

  /**
   * Sets the rules a module keeps under `source` (the whole set), in force at once. They alert,
   * route and record history like any rule; they never fall back to alerts.default_channels.
   */
  setExternalRules(source: string, rules: { id: string; spec: RuleSpec }[]): void {
    this.#external.set(source, rules);
    this.#apply();
  }

  /** After a change made over REST: the new definitions take effect at once. */
  async changed(): Promise<void> {
    this.#apply();
    this.#dbSignature = await this.repo.signature();
  }

  /** Re-reads the rules file if it changed, and the database's definitions if another server changed them. */
  async reload(): Promise<void> {
    if (this.#stopped) return;
    let dirty = false;
    try {
      dirty = this.catalog.loadFileIfChanged();
      if (dirty) this.#log.info({ file: this.catalog.rulesFile }, 'rules file changed; reloaded');
    } catch (err) {
      this.counters.fileErrors++;
      this.#log.error({ err: err instanceof ConfigError ? err.problems : String(err) }, 'rules file not reloaded; the rules in force stay');
    }
    try {
      const sig = await this.repo.signature();
      if (sig !== this.#dbSignature) {
        await this.catalog.loadDatabase();
        this.#dbSignature = sig;
        dirty = true;
      }
    } catch (err) {
      this.#log.error({ err }, 'could not check the alert definitions in the database');
    }
    if (dirty) this.#apply();
  }

  /** A draft rule evaluated once against the store, for the editor (preview.ts). */
  preview(spec: RuleSpec) {
    return previewRule(spec, { store: this.#deps.store, logs: this.#deps.logs, agents: () => this.#deps.agents.list(), now: this.#now });
  }

  #maxRetainMs(): number {
    let m = 0;
    for (const nw of this.windows.names) m = Math.max(m, nw.interest.retainMs, nw.interest.longRetainMs);
    return m;
  }

  /**
   * Fills the windows of names no series arrived for yet from the store: after a restart, or for a
   * rule on a metric not read before. Runs in the background, one query at a time.
   */
  #scheduleWarm(): void {
    for (const nw of this.windows.names) if (nw.size === 0) this.#warm.queue.add(nw.name);
    if (this.#warm.running || this.#warm.queue.size === 0) return;
    this.#warm.running = true;
    void this.#runWarm().finally(() => {
      this.#warm.running = false;
    });
  }

  async #runWarm(): Promise<void> {
    const store = this.#deps.store;
    const started = this.#now();
    let lastLog = started;
    while (this.#warm.queue.size > 0 && !this.#stopped) {
      const name = this.#warm.queue.values().next().value as string;
      this.#warm.queue.delete(name);
      const agents = this.#deps.agents.list();
      this.#warm.total += agents.length;
      for (const a of agents) {
        if (this.#stopped) return;
        const nw = this.windows.byName(name);
        if (!nw) break;
        const now = this.#now();
        try {
          const i = nw.interest;
          if (i.retainMs > 0) {
            for (const s of await store.querySeries({ agentId: a.id, name, fromMs: now - i.retainMs, toMs: now })) {
              this.windows.warm(a.id, name, s.labels, s.points, 'recent', now);
            }
          }
          if (i.longBucketMs > 0) {
            const q = { agentId: a.id, name, fromMs: now - i.longRetainMs, toMs: now, stepMs: i.longBucketMs, agg: 'last' as const };
            for (const s of await store.querySeries(q)) this.windows.warm(a.id, name, s.labels, s.points, 'long', now);
          }
        } catch (err) {
          this.#log.warn({ err, agent: a.id, name }, 'could not warm an alert window from the store');
        }
        this.#warm.done++;
        if (now - lastLog > 5000) {
          lastLog = now;
          this.#log.info({ done: this.#warm.done, total: this.#warm.total }, 'warming alert windows from the store');
        }
      }
    }
    if (this.#warm.total > 0) {
      this.#log.info({ queries: this.#warm.done, ms: this.#now() - started, series: this.windows.seriesCount }, 'alert windows warmed');
    }
  }

  // --- what REST shows ---

  channel(name: string): ChannelRuntime | undefined {
    return this.#channels.get(name);
  }

  get silenceSet(): SilenceSet {
    return this.#silences;
  }

  alerts(): Alert[] {
    const now = this.#now();
    const out: Alert[] = [];
    for (const [r, a] of this.evaluator.alerts()) {
      out.push({
        fingerprint: a.fingerprint,
        ruleId: r.id,
        rule: r.name,
        kind: r.kind,
        severity: r.spec.severity,
        state: a.state,
        labels: a.labels,
        series: a.series,
        host: a.labels.host ?? '',
        agent: a.agentId,
        value: Number.isFinite(a.value) ? a.value : 0,
        activeSinceMs: a.activeSinceMs,
        firedAtMs: a.firedAtMs,
        notifiedMs: a.notifiedMs,
        lastEvalMs: a.lastEvalMs,
        silencedBy: this.#silences.muting(a.labels, now).map((s) => s.id),
      });
    }
    return out;
  }

  ruleCounts(id: string): { pending: number; firing: number } {
    const r = this.evaluator.rule(id);
    let pending = 0;
    let firing = 0;
    for (const a of r?.instances.values() ?? []) {
      if (a.state === 'firing') firing++;
      else pending++;
    }
    return { pending, firing };
  }

  status() {
    const last = this.evaluator.last;
    return {
      enabled: true,
      evaluationIntervalMs: this.config.evaluation_interval,
      rules: this.evaluator.rules.length,
      series: this.windows.seriesCount,
      lastCycle: last ?? null,
      recentCycleStartsMs: [...this.#cycleStarts],
      cycles: this.counters.cycles,
      overruns: this.evaluator.overruns,
      warming: { done: this.#warm.done, total: this.#warm.total, running: this.#warm.running },
      rulesFile: this.catalog.rulesFile || null,
      groups: this.dispatcher.groups().length,
      pendingDeliveries: this.queue.pending,
    };
  }

  /**
   * Sends a test message to one channel now, once, and says how it went in a fixed phrase
   * (`delivered`, `failed: HTTP 502`, `failed: connection refused`); what the remote side
   * answered goes to the server log only.
   */
  async testChannel(name: string): Promise<DeliveryRecord & { message: string }> {
    const ch = this.#channels.get(name);
    if (!ch) throw new Error(`channel ${name} not found`);
    const now = this.#now();
    const alert = {
      status: 'firing' as const,
      fingerprint: 'test',
      ruleId: 'test',
      rule: 'Falconet test notification',
      severity: 'info',
      host: 'falconet',
      agent: 'falconet',
      labels: { alertname: 'Falconet test notification', severity: 'info', host: 'falconet' },
      annotations: {},
      value: 1,
      summary: `a test message for channel ${name}`,
      activeSinceMs: now,
      firedAtMs: now,
      resolvedAtMs: 0,
      startsAt: new Date(now).toISOString(),
      endsAt: '',
      duration: '0s',
    };
    const n = buildNotification(
      {
        id: timeOrderedId(now),
        channel: name,
        groupKey: `${name}:test`,
        groupLabels: { alertname: alert.rule },
        repeat: false,
        externalUrl: this.#deps.externalUrl(),
      },
      [alert],
      [],
      { title: ch.title, text: ch.text, maxAlerts: ch.maxAlerts, escape: ch.sender.escape },
      now,
    );
    const rec: DeliveryRecord = {
      id: n.id,
      channel: name,
      groupKey: n.groupKey,
      kind: 'test',
      status: 'sending',
      title: n.title,
      alerts: 1,
      attempts: 1,
      error: '',
      createdMs: now,
      finishedMs: 0,
    };
    try {
      await ch.sender.send(n, AbortSignal.timeout(ch.timeoutMs));
      rec.status = 'delivered';
    } catch (err) {
      rec.status = 'failed';
      rec.error = outcomeOf(err);
      this.#log.warn({ channel: name, outcome: rec.error, err: (err as Error).message.slice(0, 1000) }, `test message to ${name} failed`);
    }
    rec.finishedMs = this.#now();
    this.#persist(() => this.repo.recordDelivery(rec));
    return { ...rec, message: rec.status === 'delivered' ? 'delivered' : `failed: ${rec.error}` };
  }

  /** The server's /metrics families for alerting. */
  metricFamilies(): MetricFamily[] {
    const last = this.evaluator.last;
    const byState: Record<string, number> = { pending: 0, firing: 0 };
    for (const [, a] of this.evaluator.alerts()) byState[a.state] = (byState[a.state] ?? 0) + 1;
    const kinds = new Map<string, number>();
    for (const r of this.evaluator.rules) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
    const health = this.queue.allHealth;
    const per = (f: (h: (typeof health)[number]) => Metric[]) => health.flatMap(f);
    return [
      {
        name: 'falconet_alert_rules',
        help: 'Alert rules loaded, by kind.',
        type: 'gauge',
        metrics: [...kinds].map(([kind, value]) => ({ labels: { kind }, value })),
      },
      {
        name: 'falconet_alerts',
        help: 'Alerts pending and firing.',
        type: 'gauge',
        metrics: Object.entries(byState).map(([state, value]) => ({ labels: { state }, value })),
      },
      {
        name: 'falconet_alert_evaluations_total',
        help: 'Evaluation cycles run.',
        type: 'counter',
        metrics: [{ labels: {}, value: this.counters.cycles }],
      },
      {
        name: 'falconet_alert_evaluation_overruns_total',
        help: 'Evaluation cycles skipped because the previous one was still running.',
        type: 'counter',
        metrics: [{ labels: {}, value: this.evaluator.overruns }],
      },
      {
        name: 'falconet_alert_evaluation_seconds',
        help: 'Wall time of the last evaluation cycle (busy = without yields to ingest).',
        type: 'gauge',
        metrics: last
          ? [
              { labels: { time: 'wall' }, value: last.wallMs / 1000 },
              { labels: { time: 'busy' }, value: last.busyMs / 1000 },
            ]
          : [],
      },
      {
        name: 'falconet_alert_series',
        help: 'Series held in memory for alert rules.',
        type: 'gauge',
        metrics: [{ labels: {}, value: this.windows.seriesCount }],
      },
      {
        name: 'falconet_alert_transitions_total',
        help: 'Alert state changes, by the state entered.',
        type: 'counter',
        metrics: Object.entries(this.counters.transitions).map(([to, value]) => ({ labels: { to }, value })),
      },
      {
        name: 'falconet_alert_notifications_total',
        help: 'Notifications by channel and outcome (delivered, failed after every attempt, dropped from a full queue).',
        type: 'counter',
        metrics: per((h) => [
          { labels: { channel: h.channel, outcome: 'delivered' }, value: h.delivered },
          { labels: { channel: h.channel, outcome: 'failed' }, value: h.failed },
          { labels: { channel: h.channel, outcome: 'dropped' }, value: h.dropped },
        ]),
      },
      {
        name: 'falconet_alert_notification_attempts_total',
        help: 'Delivery attempts by channel, retries included.',
        type: 'counter',
        metrics: per((h) => [{ labels: { channel: h.channel }, value: h.attempts }]),
      },
      {
        name: 'falconet_alert_notification_retries_total',
        help: 'Delivery attempts that were retries after a failure.',
        type: 'counter',
        metrics: per((h) => [{ labels: { channel: h.channel }, value: h.retries }]),
      },
      {
        name: 'falconet_alert_channel_consecutive_failures',
        help: 'Failed attempts in a row per channel; 0 after a success.',
        type: 'gauge',
        metrics: per((h) => [{ labels: { channel: h.channel }, value: h.consecutiveFailures }]),
      },
      {
        name: 'falconet_alert_notifications_queued',
        help: 'Notifications waiting for their channel.',
        type: 'gauge',
        metrics: per((h) => [{ labels: { channel: h.channel }, value: h.queued }]),
      },
      {
        name: 'falconet_alert_channel_changes_refused_total',
        help: 'Channel updates refused, by reason (secret_required: the destination changed while a stored secret was sent back masked).',
        type: 'counter',
        metrics: [{ labels: { reason: 'secret_required' }, value: this.counters.secretRequired }],
      },
      {
        name: 'falconet_alert_rules_file_errors_total',
        help: 'Reloads of the rules file refused because it was invalid.',
        type: 'counter',
        metrics: [{ labels: {}, value: this.counters.fileErrors }],
      },
    ];
  }
}
