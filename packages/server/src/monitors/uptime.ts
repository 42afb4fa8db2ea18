/**
 * Uptime over 24 hours and 30 days: the share of stored probe_success samples that were 1, per
 * monitor, counting only the agents that are its locations. Read from the store's rollup tiers for
 * every monitor at once (two grouped queries per span) and cached, the 24-hour figure refreshed
 * every minute and the 30-day one every ten: a list request never scans the store.
 */
import { MONITOR_LABEL } from '@falconet/protocol/api';
import type { Logger } from 'pino';
import type { Store } from '../store/types.ts';

export const SPANS = { day: 86_400_000, month: 30 * 86_400_000 } as const;
export type Span = keyof typeof SPANS;

export interface UptimeOptions {
  store: Store;
  /** Whether the agent is now a location of the monitor: other agents' samples do not count. */
  isLocation: (monitorId: string, agentId: string) => boolean;
  log: Logger;
  now?: () => number;
  refreshMs?: Record<Span, number>;
}

export class UptimeCache {
  readonly #o: UptimeOptions;
  readonly #now: () => number;
  readonly #figures: Record<Span, Map<string, number>> = { day: new Map(), month: new Map() };
  readonly #timers: NodeJS.Timeout[] = [];
  #running: Promise<void> = Promise.resolve();
  /** When each span was last computed, and how long that took, for /metrics and the docs. */
  readonly last: Record<Span, { atMs: number; tookMs: number }> = { day: { atMs: 0, tookMs: 0 }, month: { atMs: 0, tookMs: 0 } };

  constructor(o: UptimeOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    const every = o(this.#o.refreshMs);
    for (const span of ['day', 'month'] as const) {
      const t = setInterval(() => void this.refresh(span), every[span]);
      t.unref();
      this.#timers.push(t);
    }
    void this.refresh('day').then(() => this.refresh('month'));
  }

  stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
    return this.#running;
  }

  get(monitorId: string, span: Span): number | null {
    return this.#figures[span].get(monitorId) ?? null;
  }

  /** Recomputes one span for every monitor; one refresh at a time, failures logged and the old figures kept. */
  refresh(span: Span): Promise<void> {
    this.#running = this.#running.then(() =>
      this.#compute(span).catch((err: unknown) => this.#o.log.warn({ err, span }, 'monitor uptime not refreshed')),
    );
    return this.#running;
  }

  async #compute(span: Span): Promise<void> {
    const started = performance.now();
    const toMs = this.#now();
    const fromMs = toMs - SPANS[span];
    const q = { name: 'probe_success', fromMs, toMs, stepMs: SPANS[span], by: [MONITOR_LABEL, 'agent'] };
    const [sums, counts] = await Promise.all([
      this.#o.store.queryAggregate({ ...q, agg: 'sum', across: 'sum' }),
      this.#o.store.queryAggregate({ ...q, agg: 'count', across: 'sum' }),
    ]);
    const total = (points: [number, number][]) => points.reduce((a, [, v]) => a + v, 0);
    const acc = new Map<string, { ok: number; n: number }>();
    const key = (g: Record<string, string>) => `${g[MONITOR_LABEL]}\u0000${g.agent}`;
    const okBy = new Map(sums.map((r) => [key(r.group), total(r.points)]));
    for (const r of counts) {
      const monitor = r.group[MONITOR_LABEL] ?? '';
      const agent = r.group.agent ?? '';
      if (!monitor || !this.#o.isLocation(monitor, agent)) continue;
      const a = acc.get(monitor) ?? { ok: 0, n: 0 };
      a.n += total(r.points);
      a.ok += okBy.get(key(r.group)) ?? 0;
      acc.set(monitor, a);
    }
    const figures = new Map<string, number>();
    for (const [m, a] of acc) if (a.n > 0) figures.set(m, a.ok / a.n);
    this.#figures[span] = figures;
    this.last[span] = { atMs: toMs, tookMs: performance.now() - started };
  }
}

const o = (r: Record<Span, number> | undefined): Record<Span, number> => r ?? { day: 60_000, month: 600_000 };
