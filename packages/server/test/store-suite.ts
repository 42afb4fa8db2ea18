/**
 * The store contract, run against every engine (embedded and PostgreSQL): each engine's test
 * file calls `storeSuite` with a factory that opens a fresh store on a clock the test moves.
 */
import type { Sample } from '@falconet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/types.ts';

export interface StoreHarness {
  store: Store;
  /** Closes and opens the same store again. */
  reopen(): Promise<Store>;
  /** Makes flushed data reach its final layout (merges, rollups). */
  settle(): Promise<void>;
  /** Closes and opens the same store with a size cap. */
  reopenWithCap(maxBytes: number): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface StoreFactoryOptions {
  now: () => number;
  retention?: { raw?: number; '1m'?: number; '1h'?: number };
  maxBytes?: number;
}

export type StoreFactory = (opts: StoreFactoryOptions) => Promise<StoreHarness>;

/**
 * What an engine does beyond the common contract, declared by its test file; each absent one
 * means yes (the embedded and PostgreSQL engines have them all). A case that needs one an engine
 * lacks is not run for it (its test file names them), and where a weaker promise holds, it is checked instead.
 */
export interface StoreCapabilities {
  /** Per-tier retention and the size cap are the store's own, not its backend's (VictoriaMetrics' -retentionPeriod). */
  retention?: boolean;
  /** stats() counts the samples stored per tier. */
  sampleCounts?: boolean;
  /**
   * How exactly values come back: 0 bit for bit, signed zero included; otherwise within this
   * fraction of the largest magnitude in the series (VictoriaMetrics stores a block's values as
   * decimals sharing one exponent). NaN comes back as NaN either way.
   */
  floatPrecision?: number;
}

/**
 * A harness over an engine's opener: `open(cap)` opens the engine's store on the same data each
 * time (with `cap` as its size cap), so reopening is closing and opening again.
 */
export async function reopenableStore<S extends Store>(
  open: (maxBytes?: number) => Promise<S>,
  engine: { settle(store: S): Promise<void>; cleanup?(): Promise<void> },
): Promise<StoreHarness> {
  let store = await open();
  const reopen = async (cap?: number) => {
    await store.close();
    store = await open(cap);
    h.store = store;
    return store;
  };
  const h: StoreHarness = {
    store,
    reopen: () => reopen(),
    reopenWithCap: (cap) => reopen(cap),
    settle: () => engine.settle(store),
    async cleanup() {
      await store.close();
      await engine.cleanup?.();
    },
  };
  return h;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);

const sample = (name: string, labels: Record<string, string>, value: number, timestampMs: number): Sample => ({
  name,
  labels,
  value,
  timestampMs,
});

/** A case an engine takes part in only with a capability: not registered at all without it (the engine's test file says which). */
const caseIf = (applies: boolean): typeof it => (applies ? it : ((() => undefined) as unknown as typeof it));

export function storeSuite(engine: string, factory: StoreFactory, caps: StoreCapabilities = {}): void {
  const precision = caps.floatPrecision ?? 0;
  describe(`store contract: ${engine}`, { timeout: 60_000 }, () => {
    let now = T0;
    const clock = () => now;
    const open: StoreHarness[] = [];
    const make = async (opts: Omit<StoreFactoryOptions, 'now'> = {}) => {
      const h = await factory({ now: clock, ...opts });
      open.push(h);
      return h;
    };
    afterEach(async () => {
      for (const h of open.splice(0)) await h.cleanup();
      now = T0;
    });

    it('stores a report once per (agent, seq), durably, and keeps it across reopening', async () => {
      const h = await make();
      const s = (v: number, t: number) => sample('m', { cpu: '0' }, v, t);
      expect(await h.store.appendReport('a', 1, [s(1, T0 - 2000), s(2, T0 - 1000)])).toEqual({ duplicate: false });
      expect(await h.store.appendReport('a', 1, [s(9, T0)])).toEqual({ duplicate: true });
      expect(await h.store.appendReport('a', 2, [s(3, T0)])).toEqual({ duplicate: false });
      expect(await h.store.appendReport('a', 2, [s(9, T0)])).toEqual({ duplicate: true });
      expect(await h.store.lastSeq('a')).toBe(2);
      expect(await h.store.lastSeq('b')).toBe(0);
      const again = await h.reopen();
      expect(await again.lastSeq('a')).toBe(2);
      expect(await again.appendReport('a', 2, [s(9, T0)])).toEqual({ duplicate: true });
      const [series] = await again.querySeries({ agentId: 'a', name: 'm', fromMs: T0 - 10_000, toMs: T0 + 10_000 });
      expect(series?.points).toEqual([
        [T0 - 2000, 1],
        [T0 - 1000, 2],
        [T0, 3],
      ]);
    });

    it("forgets an agent's sequence on reset, durably, through the log and the tiers; its samples stay", async () => {
      const h = await make();
      const s = (v: number, t: number) => sample('m', {}, v, t);
      const poison = 2 ** 53 - 2;
      await h.store.appendReport('victim', 1, [s(1, T0 - 3000)]);
      await h.store.appendReport('victim', poison, [s(2, T0 - 2000)]);
      await h.store.appendReport('other', 7, [s(7, T0 - 2000)]);
      expect(await h.store.appendReport('victim', 2, [s(9, T0 - 1500)])).toEqual({ duplicate: true });
      expect(await h.store.resetSeq('victim')).toBe(poison);
      expect(await h.store.lastSeq('victim')).toBe(0);
      expect(await h.store.resetSeq('never-seen')).toBe(0);
      // Reopened with the reset still in the write-ahead log...
      let again = await h.reopen();
      expect(await again.lastSeq('victim')).toBe(0);
      expect(await again.lastSeq('other')).toBe(7);
      expect(await again.appendReport('victim', 3, [s(3, T0 - 1000)])).toEqual({ duplicate: false });
      // ...and after a flush into the tiers.
      await again.flush();
      expect(await again.resetSeq('victim')).toBe(3);
      await again.flush();
      again = await h.reopen();
      expect(await again.lastSeq('victim')).toBe(0);
      expect(await again.lastSeq('other')).toBe(7);
      expect(await again.appendReport('victim', 1, [s(4, T0 - 500)])).toEqual({ duplicate: false });
      const [series] = await again.querySeries({ agentId: 'victim', name: 'm', fromMs: T0 - 10_000, toMs: T0 });
      expect(series?.points.map((p) => p[1])).toEqual([1, 2, 3, 4]);
    });

    it("drops an agent's series from queries, names and stats at once and for good; other agents keep theirs", async () => {
      const h = await make();
      const base = T0 - 3 * HOUR;
      const report = (agent: string, k: number) => [
        sample('cpu', { core: '0' }, k, base + k * 60_000),
        sample('cpu', { core: '1' }, k + 0.5, base + k * 60_000),
        ...(agent === 'gone' ? [sample('gone_only', {}, k, base + k * 60_000)] : []),
      ];
      // Three hours a minute apart: several raw windows, rolled up and merged; the last reports in the head.
      for (let k = 0; k < 180; k++) {
        await h.store.appendReport('gone', k + 1, report('gone', k));
        await h.store.appendReport('kept', k + 1, report('kept', k));
        if (k === 120) {
          await h.store.flush();
          await h.settle();
        }
      }
      const range = { fromMs: base, toMs: T0 };
      const keptBefore = await h.store.querySeries({ agentId: 'kept', name: 'cpu', ...range });
      const keptHourly = await h.store.querySeries({ agentId: 'kept', name: 'cpu', ...range, stepMs: HOUR });
      const before = await h.store.stats();

      expect(await h.store.dropAgent('gone')).toBe(3);
      const check = async (store: Store) => {
        expect(await store.querySeries({ agentId: 'gone', name: 'cpu', ...range })).toEqual([]);
        expect(await store.querySeries({ agentId: 'gone', name: 'cpu', ...range, stepMs: HOUR })).toEqual([]);
        expect(await store.metricNames('gone')).toEqual([]);
        expect(await store.metricNames()).toEqual(['cpu']);
        expect((await store.stats()).series).toBe(before.series - 3);
        const fleet = await store.queryAggregate({ name: 'cpu', ...range, stepMs: HOUR, by: ['agent'] });
        expect(fleet.map((g) => g.group)).toEqual([{ agent: 'kept' }]);
        const top = await store.topK({ name: 'cpu', ...range, agg: 'max', k: 10 });
        expect(new Set(top.map((e) => e.agentId))).toEqual(new Set(['kept']));
        expect(await store.querySeries({ agentId: 'kept', name: 'cpu', ...range })).toEqual(keptBefore);
        expect(await store.querySeries({ agentId: 'kept', name: 'cpu', ...range, stepMs: HOUR })).toEqual(keptHourly);
        // Its sequence stays: reports it already sent are not taken again.
        expect(await store.lastSeq('gone')).toBe(180);
        expect(await store.appendReport('gone', 180, report('gone', 1))).toEqual({ duplicate: true });
      };
      await check(h.store);
      // Out of the tiers too, once flushed and settled: only the kept agent's samples are counted.
      await h.store.flush();
      await h.settle();
      await check(h.store);
      if (caps.sampleCounts !== false) {
        expect((await h.store.stats()).samples.raw).toBe(keptBefore.reduce((n, s) => n + s.points.length, 0));
      }
      await check(await h.reopen());

      // Its next report starts afresh: a new series with only the new point, kept across reopening.
      expect(await h.store.appendReport('gone', 181, [sample('cpu', { core: '0' }, 42, T0 - 1000)])).toEqual({ duplicate: false });
      const fresh = async (store: Store) => {
        const series = await store.querySeries({ agentId: 'gone', name: 'cpu', ...range });
        expect(series.map((s) => [s.labels, s.points])).toEqual([[{ core: '0' }, [[T0 - 1000, 42]]]]);
        expect(await store.metricNames('gone')).toEqual(['cpu']);
      };
      await fresh(h.store);
      await fresh(await h.reopen());
      await h.store.flush();
      await h.settle();
      await fresh(await h.reopen());
      expect(await h.store.dropAgent('never-seen')).toBe(0);
    });

    it('answers concurrent reports of many agents, each once, with its own ack', async () => {
      const h = await make();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          h.store.appendReport(`agent-${i % 50}`, 1 + Math.floor(i / 50), [sample('up', {}, i, T0 - 60_000 + i)]),
        ),
      );
      expect(results.every((r) => !r.duplicate)).toBe(true);
      for (let a = 0; a < 50; a++) expect(await h.store.lastSeq(`agent-${a}`)).toBe(4);
      const dup = await Promise.all([h.store.appendReport('agent-0', 4, []), h.store.appendReport('agent-0', 5, [])]);
      expect(dup).toEqual([{ duplicate: true }, { duplicate: false }]);
    });

    it('round-trips every float exactly, NaN and signed zero included', async () => {
      const h = await make();
      const values = [0, -0, 1.5, -2.25, 0.1 + 0.2, Math.PI, 1e-300, 5e-324, 1.7976931348623157e308, -1e300, 2 ** 53 + 2, Number.NaN];
      for (let i = 0; i < 200; i++) values.push(Math.random() * 10 ** Math.floor(Math.random() * 12));
      for (let i = 0; i < 100; i++) values.push(Math.round(Math.random() * 1e6) / 100);
      const start = T0 - values.length * 1000;
      await h.store.appendReport(
        'f',
        1,
        values.map((v, i) => sample('exact', {}, v, start + i * 1000)),
      );
      const largest = values.reduce((m, v) => (Number.isNaN(v) ? m : Math.max(m, Math.abs(v))), 0);
      const check = async (store: Store) => {
        const [s] = await store.querySeries({ agentId: 'f', name: 'exact', fromMs: start, toMs: T0 });
        expect(s?.points.length).toBe(values.length);
        s?.points.forEach(([t, v], i) => {
          expect(t).toBe(start + i * 1000);
          const want = values[i] as number;
          // PostgreSQL has no negative-zero-preserving guarantee for NaN payloads; NaN is NaN.
          if (Number.isNaN(want)) expect(Number.isNaN(v)).toBe(true);
          else if (precision === 0) expect(Object.is(v, want)).toBe(true);
          else expect(Math.abs(v - want)).toBeLessThanOrEqual(precision * largest);
        });
      };
      await check(h.store);
      await h.store.flush();
      await h.settle();
      await check(h.store);
      await check(await h.reopen());
    });

    it('downsamples with each aggregation, filters by labels and lists names', async () => {
      const h = await make();
      const samples: Sample[] = [];
      const base = T0 - HOUR;
      for (let i = 0; i < 60; i++) {
        samples.push(sample('cpu', { cpu: '0' }, i, base + i * 1000));
        samples.push(sample('cpu', { cpu: '1' }, 100 + i, base + i * 1000));
      }
      samples.push(sample('cpu', { cpu: '0' }, Number.NaN, base + 500));
      await h.store.appendReport('a', 1, samples);
      const q = (agg: 'avg' | 'min' | 'max' | 'last' | 'sum' | 'count' | 'p95') =>
        h.store.querySeries({ agentId: 'a', name: 'cpu', labels: { cpu: '0' }, fromMs: base, toMs: base + 59_000, stepMs: 30_000, agg });
      for (const pass of ['fresh', 'settled']) {
        if (pass === 'settled') {
          await h.store.flush();
          await h.settle();
        }
        expect((await q('avg'))[0]?.points).toEqual([
          [base, 14.5],
          [base + 30_000, 44.5],
        ]);
        expect((await q('min'))[0]?.points.map((p) => p[1])).toEqual([0, 30]);
        expect((await q('max'))[0]?.points.map((p) => p[1])).toEqual([29, 59]);
        expect((await q('last'))[0]?.points.map((p) => p[1])).toEqual([29, 59]);
        expect((await q('count'))[0]?.points.map((p) => p[1])).toEqual([30, 30]);
        expect((await q('sum'))[0]?.points.map((p) => p[1])).toEqual([435, 1335]);
        expect((await q('p95'))[0]?.points.map((p) => p[1])).toEqual([28, 58]);
        expect(await h.store.querySeries({ agentId: 'a', name: 'cpu', fromMs: base, toMs: base + 1 })).toHaveLength(2);
        expect(await h.store.querySeries({ agentId: 'a', name: 'cpu', labels: { cpu: '7' }, fromMs: base, toMs: T0 })).toEqual([]);
        expect(await h.store.metricNames('a')).toEqual(['cpu']);
        expect(await h.store.metricNames('nobody')).toEqual([]);
      }
    });

    it('serves long ranges from the 1 m and 1 h rollups with the same answers as raw', async () => {
      const h = await make();
      const start = T0 - 3 * DAY;
      let seq = 0;
      // Three days at 1 min for two agents: values known in closed form per hour.
      for (let d = 0; d < 3; d++) {
        for (const agent of ['r1', 'r2']) {
          const samples: Sample[] = [];
          for (let m = 0; m < 1440; m++) {
            const t = start + d * DAY + m * 60_000;
            samples.push(sample('load', {}, (m % 60) + (agent === 'r2' ? 100 : 0), t));
          }
          await h.store.appendReport(agent, ++seq, samples);
        }
      }
      await h.store.flush();
      await h.settle();
      const [hourly] = await h.store.querySeries({ agentId: 'r1', name: 'load', fromMs: start, toMs: T0 - 1, stepMs: HOUR, agg: 'avg' });
      expect(hourly?.points).toHaveLength(72);
      expect(hourly?.points.every(([, v]) => v === 29.5)).toBe(true);
      const [maxes] = await h.store.querySeries({ agentId: 'r1', name: 'load', fromMs: start, toMs: T0 - 1, stepMs: 6 * HOUR, agg: 'max' });
      expect(maxes?.points.map((p) => p[1])).toEqual(new Array(12).fill(59));
      const [lasts] = await h.store.querySeries({
        agentId: 'r1',
        name: 'load',
        fromMs: start,
        toMs: T0 - 1,
        stepMs: 5 * 60_000,
        agg: 'last',
      });
      expect(lasts?.points).toHaveLength(864);
      expect(lasts?.points.slice(0, 3).map((p) => p[1])).toEqual([4, 9, 14]);
      const [counts] = await h.store.querySeries({ agentId: 'r1', name: 'load', fromMs: start, toMs: T0 - 1, stepMs: DAY, agg: 'count' });
      expect(counts?.points.map((p) => p[1])).toEqual([1440, 1440, 1440]);

      const fleet = await h.store.queryAggregate({ name: 'load', fromMs: start, toMs: T0 - 1, stepMs: DAY, agg: 'avg', across: 'avg' });
      expect(fleet).toHaveLength(1);
      expect(fleet[0]?.series).toBe(2);
      expect(fleet[0]?.points.map((p) => p[1])).toEqual([79.5, 79.5, 79.5]);
      const sums = await h.store.queryAggregate({ name: 'load', fromMs: start, toMs: T0 - 1, stepMs: DAY, across: 'sum', by: ['agent'] });
      expect(sums.map((g) => [g.group.agent, g.points[0]?.[1]])).toEqual([
        ['r1', 29.5],
        ['r2', 129.5],
      ]);
    });

    it('aggregates across agents by sample labels and by agent labels, and ranks the top k', async () => {
      const h = await make();
      const t = T0 - 60_000;
      for (let a = 0; a < 10; a++) {
        await h.store.appendReport(`host-${a}`, 1, [
          sample('cpu_busy', { mode: 'user' }, a, t),
          sample('cpu_busy', { mode: 'system' }, a / 10, t),
          sample('cpu_busy', { mode: 'user' }, a + 1, t + 10_000),
        ]);
      }
      const rack = (agentId: string) => ({ rack: Number(agentId.split('-')[1]) % 2 ? 'odd' : 'even' });
      const byMode = await h.store.queryAggregate({
        name: 'cpu_busy',
        fromMs: t,
        toMs: t + 59_000,
        stepMs: 60_000,
        by: ['mode'],
        across: 'sum',
      });
      expect(byMode.map((g) => [g.group.mode, g.series, g.points[0]?.[1]])).toEqual([
        ['system', 10, 4.5],
        ['user', 10, 50],
      ]);
      const byRack = await h.store.queryAggregate({
        name: 'cpu_busy',
        labels: { mode: 'user' },
        fromMs: t,
        toMs: t + 59_000,
        stepMs: 60_000,
        by: ['rack'],
        across: 'max',
        agentLabels: rack,
      });
      expect(byRack.map((g) => [g.group.rack, g.points[0]?.[1]])).toEqual([
        ['even', 8.5],
        ['odd', 9.5],
      ]);
      const some = await h.store.queryAggregate({
        name: 'cpu_busy',
        agentIds: ['host-1', 'host-3'],
        labels: { mode: 'user' },
        fromMs: t,
        toMs: t + 59_000,
        stepMs: 60_000,
      });
      expect(some[0]?.points[0]?.[1]).toBe(2.5);
      const top = await h.store.topK({ name: 'cpu_busy', labels: { mode: 'user' }, fromMs: t, toMs: t + 59_000, agg: 'max', k: 3 });
      expect(top.map((e) => [e.agentId, e.value])).toEqual([
        ['host-9', 10],
        ['host-8', 9],
        ['host-7', 8],
      ]);
      const bottom = await h.store.topK({
        name: 'cpu_busy',
        labels: { mode: 'user' },
        fromMs: t,
        toMs: t + 59_000,
        agg: 'avg',
        k: 2,
        order: 'asc',
      });
      expect(bottom.map((e) => [e.agentId, e.value])).toEqual([
        ['host-0', 0.5],
        ['host-1', 1.5],
      ]);
    });

    caseIf(caps.retention !== false)('drops data past each tier retention as the clock moves forward', async () => {
      const h = await make({ retention: { raw: 2 * DAY, '1m': 4 * DAY, '1h': 30 * DAY } });
      let seq = 0;
      // A day of data at 10 min, five days ago is refused as already expired at ingest.
      const day = (startMs: number) => Array.from({ length: 144 }, (_, i) => sample('disk', {}, i, startMs + i * 600_000));
      await h.store.appendReport('old', ++seq, day(T0 - DAY));
      await h.store.flush();
      await h.settle();
      const all = () => h.store.querySeries({ agentId: 'old', name: 'disk', fromMs: T0 - 2 * DAY, toMs: T0 + 60 * DAY });
      expect((await all())[0]?.points).toHaveLength(144);
      // Data ages as time moves on with newer data coming in (the embedded store counts back from
      // its newest sample, never from a wall clock alone: store-clock-jump.test.ts).
      const fresh = () => h.store.appendReport('new', ++seq, [sample('up', {}, 1, now - 60_000)]);
      now = T0 + 3 * DAY;
      await fresh();
      await h.store.flush();
      // Raw is gone; the 1 m tier still answers a bucketed query.
      expect((await all())[0]?.points ?? []).toHaveLength(0);
      const perHour = () =>
        h.store.querySeries({ agentId: 'old', name: 'disk', fromMs: T0 - 2 * DAY, toMs: T0, stepMs: HOUR, agg: 'count' });
      expect((await perHour())[0]?.points).toHaveLength(24);
      now = T0 + 400 * DAY;
      await fresh();
      await h.store.flush();
      expect((await perHour())[0]?.points ?? []).toHaveLength(0);
      const stats = await h.store.stats();
      expect(stats.bytes.raw ?? 0).toBeLessThan(100_000);
      expect(await h.store.lastSeq('old')).toBe(1);
    });

    caseIf(caps.retention !== false)('keeps the total size under the cap by dropping the oldest windows first', async () => {
      const h = await make({ retention: { raw: 30 * DAY, '1m': 60 * DAY, '1h': 365 * DAY }, maxBytes: 0 });
      let seq = 0;
      for (let d = 10; d >= 1; d--) {
        const samples: Sample[] = [];
        for (let s = 0; s < 20; s++)
          for (let i = 0; i < 360; i++) samples.push(sample('net', { if: `eth${s}` }, Math.random(), T0 - d * DAY + i * 240_000));
        await h.store.appendReport('big', ++seq, samples);
      }
      await h.store.flush();
      await h.settle();
      const before = await h.store.stats();
      const oldest = async () => {
        const [s] = await h.store.querySeries({ agentId: 'big', name: 'net', labels: { if: 'eth0' }, fromMs: T0 - 11 * DAY, toMs: T0 });
        return s?.points[0]?.[0] ?? Number.POSITIVE_INFINITY;
      };
      expect(await oldest()).toBe(T0 - 10 * DAY);
      const total = Object.values(before.bytes).reduce((a, b) => a + b, 0);
      const capped = await h.reopenWithCap(Math.floor(total / 2));
      await capped.flush();
      const after = await capped.stats();
      expect(Object.values(after.bytes).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(Math.floor(total / 2));
      const [s] = await capped.querySeries({ agentId: 'big', name: 'net', labels: { if: 'eth0' }, fromMs: T0 - 11 * DAY, toMs: T0 });
      // The newest data survives, the oldest went.
      expect(s?.points.at(-1)?.[0]).toBe(T0 - DAY + 359 * 240_000);
      expect(s?.points[0]?.[0]).toBeGreaterThan(T0 - 10 * DAY);
    });
  });
}
