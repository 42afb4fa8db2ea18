import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import {
  type Agent,
  type TrafficCorrection,
  type TrafficCycle,
  type TrafficFleet,
  TrafficPlan,
  type TrafficPlanInput,
  type TrafficReport,
} from '@falconet/protocol/api';
import { notFound } from '../api/errors.ts';
import type { Store } from '../store/types.ts';
import { type CycleRule, cycleAt, daysBetween, increasesIn } from './cycle.ts';

export const RX = 'node_network_receive_bytes_total';
export const TX = 'node_network_transmit_bytes_total';

/** A plan from the server config, for the agents it selects. */
export interface ConfiguredPlan extends TrafficPlanInput {
  /** Agent ids or host names; none = every agent (subject to host_labels). */
  hosts?: string[];
  /** Exact values the agent's labels must have. */
  host_labels?: Record<string, string>;
}

interface Saved {
  /** Plans set over the API, by agent id; they win over the config's. */
  plans: Record<string, TrafficPlanInput>;
  /** Corrections by agent id then cycle start (ms, as a string key). */
  corrections: Record<string, Record<string, { rxOffset: number; txOffset: number; rxBytes: number; txBytes: number; atMs: number }>>;
}

/** Counters are read per minute, as the 1 m rollups (which outlive the raw tier) keep them. */
const STEP_MS = 60_000;
/** How far before a cycle's start a sample is looked for, so the first interval inside it is counted. */
const LOOKBACK_MS = 86_400_000;

export interface TrafficAccountingOptions {
  store: Store;
  agents: () => Agent[];
  /** Plans from the server config, first match wins. */
  plans?: ConfiguredPlan[];
  /** Where API-set plans and corrections are kept (a JSON file); none = memory only. */
  dataDir?: string;
  /** The clock (tests move it). */
  now?: () => number;
}

/**
 * Monthly traffic per host from the stored interface counters: billing cycles, quota use, daily
 * figures and manual corrections. Everything is computed from the samples in the store, so agent
 * restarts, counter resets and server outages are judged from what was recorded, not from live events.
 */
export class TrafficAccounting {
  readonly #store: Store;
  readonly #agents: () => Agent[];
  readonly #configured: { plan: TrafficPlan; hosts: string[]; labels: Record<string, string> }[];
  readonly #file: string | undefined;
  readonly #now: () => number;
  #saved: Saved = { plans: {}, corrections: {} };
  /** The plan of a host no plan names (defaults only), parsed once. */
  readonly #defaultPlan = TrafficPlan.parse({});

  constructor(o: TrafficAccountingOptions) {
    this.#store = o.store;
    this.#agents = o.agents;
    this.#now = o.now ?? Date.now;
    this.#configured = (o.plans ?? []).map(({ hosts, host_labels, ...plan }, i) => {
      const parsed = TrafficPlan.safeParse(plan);
      if (!parsed.success) throw new Error(`traffic.plans[${i}]: ${parsed.error.issues.map((x) => x.message).join('; ')}`);
      return { plan: parsed.data, hosts: hosts ?? [], labels: host_labels ?? {} };
    });
    this.#file = o.dataDir ? join(o.dataDir, 'traffic.json') : undefined;
    if (this.#file) {
      try {
        const raw = JSON.parse(readFileSync(this.#file, 'utf8')) as Partial<Saved>;
        this.#saved = { plans: raw.plans ?? {}, corrections: raw.corrections ?? {} };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${this.#file}: ${(e as Error).message}`);
      }
    }
  }

  /** The agent a host parameter names: its id, or its host name. */
  agent(host: string): Agent {
    const all = this.#agents();
    const a = all.find((x) => x.id === host) ?? all.find((x) => x.hostname === host);
    if (!a) throw notFound(`host ${host}`);
    return a;
  }

  planOf(a: Agent): TrafficPlan {
    const own = this.#saved.plans[a.id];
    if (own) return TrafficPlan.parse(own);
    for (const c of this.#configured) {
      if (c.hosts.length && !c.hosts.includes(a.id) && !c.hosts.includes(a.hostname)) continue;
      if (Object.entries(c.labels).some(([k, v]) => a.labels[k] !== v)) continue;
      return c.plan;
    }
    return this.#defaultPlan;
  }

  async setPlan(host: string, plan: TrafficPlanInput): Promise<TrafficPlan> {
    const a = this.agent(host);
    const parsed = TrafficPlan.parse(plan);
    this.#saved.plans[a.id] = parsed;
    await this.#persist();
    return parsed;
  }

  async clearPlan(host: string): Promise<void> {
    const a = this.agent(host);
    delete this.#saved.plans[a.id];
    await this.#persist();
  }

  /** Makes the current cycle's totals read as the provider's from now on: the difference is kept as an offset. */
  async correct(host: string, c: TrafficCorrection): Promise<TrafficCycle> {
    const a = this.agent(host);
    const now = this.#now();
    const plan = this.planOf(a);
    const cycle = cycleAt(ruleOf(plan), now);
    const measured = await this.#measure(a, plan, cycle.startMs, now, []);
    const byCycle = this.#saved.corrections[a.id] ?? {};
    this.#saved.corrections[a.id] = byCycle;
    const prior = byCycle[String(cycle.startMs)];
    const rxBytes = c.rx_bytes ?? measured.rx + (prior?.rxOffset ?? 0);
    const txBytes = c.tx_bytes ?? measured.tx + (prior?.txOffset ?? 0);
    byCycle[String(cycle.startMs)] = { rxOffset: rxBytes - measured.rx, txOffset: txBytes - measured.tx, rxBytes, txBytes, atMs: now };
    await this.#persist();
    const [out] = (await this.report(a.id, now, 1)).cycles;
    return out as TrafficCycle;
  }

  async clearCorrection(host: string): Promise<void> {
    const a = this.agent(host);
    const cycle = cycleAt(ruleOf(this.planOf(a)), this.#now());
    delete this.#saved.corrections[a.id]?.[String(cycle.startMs)];
    await this.#persist();
  }

  /** `cycles` billing cycles, the one holding `atMs` (default now) first, each with its days. */
  report(host: string, atMs?: number, cycles = 1): Promise<TrafficReport> {
    return this.#report(this.agent(host), atMs, cycles);
  }

  async #report(a: Agent, atMs?: number, cycles = 1, plan = this.planOf(a)): Promise<TrafficReport> {
    const rule = ruleOf(plan);
    const now = this.#now();
    const out: TrafficCycle[] = [];
    let at = Math.min(atMs ?? now, now);
    let interfaces: string[] = [];
    for (let i = 0; i < cycles; i++) {
      const { startMs, endMs } = cycleAt(rule, at);
      const days = daysBetween(plan.time_zone, startMs, endMs);
      // The first day starts at local midnight, possibly before the cycle: count from the reset instead.
      const edges = days.map((d, k) => (k === 0 ? startMs : d.startMs));
      edges.push(endMs);
      const used: string[] = [];
      const m = await this.#measure(a, plan, startMs, Math.min(endMs, now), edges, used);
      if (i === 0) interfaces = used;
      const corr = this.#saved.corrections[a.id]?.[String(startMs)];
      const rx = m.rx + (corr?.rxOffset ?? 0);
      const tx = m.tx + (corr?.txOffset ?? 0);
      const usedBytes =
        plan.quota_direction === 'in'
          ? rx
          : plan.quota_direction === 'out'
            ? tx
            : plan.quota_direction === 'sum'
              ? rx + tx
              : Math.max(rx, tx);
      out.push({
        startMs,
        endMs,
        measuredRxBytes: m.rx,
        measuredTxBytes: m.tx,
        rxBytes: rx,
        txBytes: tx,
        correction: corr ? { rxBytes: corr.rxBytes, txBytes: corr.txBytes, atMs: corr.atMs } : null,
        usedBytes,
        quotaBytes: plan.quota_bytes,
        usedPercent: plan.quota_bytes > 0 ? (usedBytes / plan.quota_bytes) * 100 : null,
        days: days
          .map((d, k) => ({ date: d.date, startMs: edges[k] as number, rxBytes: m.rxDays[k] ?? 0, txBytes: m.txDays[k] ?? 0 }))
          .filter((d) => d.startMs <= now),
      });
      at = startMs - 1;
    }
    return { agent: a.id, hostname: a.hostname, plan, interfaces, cycles: out };
  }

  /**
   * The current cycle of every agent, for a fleet table; with `withQuota`, of the agents whose plan
   * has a quota only (all the alert feed needs).
   */
  async fleet(opts: { withQuota?: boolean } = {}): Promise<TrafficFleet> {
    const hosts = [];
    // The agent list once: looking each host up again in it made a fleet of n hosts cost n².
    for (const a of this.#agents()) {
      const plan = this.planOf(a);
      if (opts.withQuota && !(plan.quota_bytes > 0)) continue;
      const [c] = (await this.#report(a, undefined, 1, plan)).cycles;
      // A host's cycle is read from the store without a pause; between hosts, ingest and requests
      // get their turn (thousands of hosts are seconds of reads, which held acks back).
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!c) continue;
      const { startMs, endMs, rxBytes, txBytes, usedBytes, quotaBytes, usedPercent } = c;
      hosts.push({ agent: a.id, hostname: a.hostname, startMs, endMs, rxBytes, txBytes, usedBytes, quotaBytes, usedPercent });
    }
    return { hosts };
  }

  /**
   * Receive and transmit growth in [fromMs, toMs), in total and per [edges[k], edges[k+1]). Each
   * minute is read as its first (min) and last value, so growth inside a series' first minute
   * counts; a counter reset inside a minute loses only that minute's growth before the reset.
   */
  async #measure(a: Agent, plan: TrafficPlan, fromMs: number, toMs: number, edges: number[], used: string[] = []) {
    const exclude = new RegExp(plan.exclude);
    const counts = (device: string) => (plan.interfaces.length ? plan.interfaces.includes(device) : !exclude.test(device));
    // Up to now the last minute is still filling: let its growth count to the interval that holds it.
    const now = this.#now();
    const until = toMs >= now ? now + STEP_MS : toMs;
    const limited = edges.map((e) => Math.min(e, until));
    const one = async (name: string) => {
      const q = { agentId: a.id, name, fromMs: fromMs - LOOKBACK_MS, toMs: Math.min(toMs, now), stepMs: STEP_MS };
      const [firsts, lasts] = await Promise.all([
        this.#store.querySeries({ ...q, agg: 'min' }),
        this.#store.querySeries({ ...q, agg: 'last' }),
      ]);
      const mins = new Map(firsts.map((s) => [JSON.stringify(s.labels), new Map(s.points)]));
      let total = 0;
      const days = new Array<number>(Math.max(0, edges.length - 1)).fill(0);
      for (const s of lasts) {
        const device = s.labels.device ?? '';
        if (!counts(device)) continue;
        if (!used.includes(device)) used.push(device);
        const step = s.stepMs ?? STEP_MS;
        const minOf = mins.get(JSON.stringify(s.labels));
        const pts: [number, number][] = [];
        for (const [t, last] of s.points) {
          const first = minOf?.get(t);
          if (first !== undefined && Number.isFinite(first) && first <= last) pts.push([t, first]);
          pts.push([t + step - 1, last]);
        }
        total += increasesIn(pts, [fromMs, until])[0] ?? 0;
        increasesIn(pts, limited).forEach((v, k) => {
          days[k] = (days[k] as number) + v;
        });
      }
      return { total, days };
    };
    const [rx, tx] = await Promise.all([one(RX), one(TX)]);
    used.sort();
    return { rx: rx.total, tx: tx.total, rxDays: rx.days, txDays: tx.days };
  }

  async #persist(): Promise<void> {
    if (!this.#file) return;
    const tmp = `${this.#file}.tmp`;
    await writeFile(tmp, JSON.stringify(this.#saved), { mode: 0o600 });
    await rename(tmp, this.#file);
  }
}

export function ruleOf(plan: TrafficPlan): CycleRule {
  const [h, m] = plan.reset_time.split(':').map(Number) as [number, number];
  return { resetDay: plan.reset_day, resetMinute: h * 60 + m, timeZone: plan.time_zone };
}

/** The series the traffic feed gives the alert evaluator, per agent with a quota: a threshold rule alerts on it. */
export const QUOTA_USED_PERCENT = 'falconet_traffic_quota_used_percent';

/** Each quota'd host's use of its current cycle as alert samples (hosts without a quota give none). */
export function quotaSamples(fleet: TrafficFleet, nowMs: number): { agentId: string; samples: Sample[] }[] {
  return fleet.hosts
    .filter((h) => h.usedPercent !== null)
    .map((h) => ({
      agentId: h.agent,
      samples: [{ name: QUOTA_USED_PERCENT, labels: {}, value: h.usedPercent as number, timestampMs: nowMs }],
    }));
}
