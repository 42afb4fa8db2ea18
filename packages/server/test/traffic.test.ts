import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Agent } from '@falconet/protocol/api';
import { TrafficPlan } from '@falconet/protocol/api';
import { afterEach, describe, expect, it } from 'vitest';
import { runServer, tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { RX, TrafficAccounting, TX } from '../src/traffic/accounting.ts';
import { cycleAt, increasesIn } from '../src/traffic/cycle.ts';

const MB = 1_000_000;
const MIN = 60_000;
const agent = { id: 'a1', hostname: 'web1', labels: { env: 'prod' } } as unknown as Agent;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** A store and accounting whose clock the test holds. */
async function setup(
  startMs: number,
  plans = [{ interfaces: ['eth0'], reset_day: 15, time_zone: 'UTC', quota_bytes: 100 * MB, quota_direction: 'sum' as const }],
) {
  const clock = { now: startMs };
  const now = () => clock.now;
  const dir = tempDir('falconet-traffic-');
  const store = await EmbeddedStore.open({ dir, now });
  closers.push(() => store.close());
  let seq = 0;
  const traffic = new TrafficAccounting({ store, agents: () => [agent], plans, dataDir: dir, now });
  /** One report of eth0's counters (and lo's, which must not count) at the clock's time. */
  const report = (rx: number, tx: number) =>
    store.appendReport(agent.id, ++seq, [
      { name: RX, labels: { device: 'eth0' }, value: rx, timestampMs: clock.now },
      { name: TX, labels: { device: 'eth0' }, value: tx, timestampMs: clock.now },
      { name: RX, labels: { device: 'lo' }, value: rx * 7, timestampMs: clock.now },
    ]);
  return { clock, store, traffic, report, dir };
}

describe('billing cycle calendar', () => {
  it('clamps the reset day to the end of a short month', () => {
    const rule = { resetDay: 31, resetMinute: 0, timeZone: 'UTC' };
    const c = cycleAt(rule, Date.UTC(2026, 2, 10));
    expect(new Date(c.startMs).toISOString()).toBe('2026-02-28T00:00:00.000Z');
    expect(new Date(c.endMs).toISOString()).toBe('2026-03-31T00:00:00.000Z');
  });
  it('starts a cycle at the reset time in the plan’s time zone', () => {
    const rule = { resetDay: 1, resetMinute: 8 * 60 + 30, timeZone: 'Asia/Shanghai' };
    const c = cycleAt(rule, Date.UTC(2026, 4, 31, 23));
    expect(new Date(c.startMs).toISOString()).toBe('2026-05-01T00:30:00.000Z');
    expect(new Date(c.endMs).toISOString()).toBe('2026-06-01T00:30:00.000Z');
    // Across a DST change: New York's reset at local midnight is 05:00Z in winter, 04:00Z in summer.
    const ny = cycleAt({ resetDay: 1, resetMinute: 0, timeZone: 'America/New_York' }, Date.UTC(2026, 2, 15));
    expect(new Date(ny.startMs).toISOString()).toBe('2026-03-01T05:00:00.000Z');
    expect(new Date(ny.endMs).toISOString()).toBe('2026-04-01T04:00:00.000Z');
  });
  it('counts a counter going down as a reset and spreads a gap over its intervals', () => {
    expect(
      increasesIn(
        [
          [0, 100],
          [10, 150],
          [20, 30],
          [30, 60],
        ],
        [0, 40],
      ),
    ).toEqual([50 + 30 + 30]);
    expect(
      increasesIn(
        [
          [0, 0],
          [100, 1000],
        ],
        [0, 25, 100],
      ),
    ).toEqual([250, 750]);
  });
  it('refuses a bad plan and names the field', () => {
    expect(TrafficPlan.safeParse({ time_zone: 'Mars/Olympus' }).error?.issues[0]?.message).toMatch(/time_zone/);
    expect(TrafficPlan.safeParse({ reset_day: 32 }).success).toBe(false);
    expect(TrafficPlan.safeParse({ reset_time: '24:00' }).error?.issues[0]?.message).toMatch(/reset_time/);
    expect(TrafficPlan.safeParse({ exclude: '(' }).error?.issues[0]?.message).toMatch(/exclude/);
    expect(TrafficPlan.safeParse({ quota_direction: 'both' }).success).toBe(false);
    expect(() => new TrafficAccounting({ store: {} as never, agents: () => [], plans: [{ reset_day: 0 }] })).toThrow(/traffic.plans\[0\]/);
  });
});

describe('traffic accounting on stored counters, with a clock the test moves', () => {
  it('survives an agent restart (counters going down) and a server outage gap', async () => {
    const t0 = Date.UTC(2026, 2, 1, 12);
    const { clock, traffic, report } = await setup(t0);
    // 10 minutes at 1 MB/min received, 0.5 MB/min sent.
    for (let i = 0; i <= 10; i++) {
      clock.now = t0 + i * MIN;
      await report(50 * MB + i * MB, 20 * MB + i * 0.5 * MB);
    }
    // The agent (and the machine) restart: counters start again from a small value.
    clock.now = t0 + 11 * MIN;
    await report(2 * MB, 1 * MB);
    // A server outage: nothing stored for three hours; the counters kept going meanwhile.
    clock.now = t0 + 3 * 60 * MIN;
    await report(32 * MB, 11 * MB);
    const [c] = (await traffic.report('web1')).cycles;
    expect(c?.measuredRxBytes).toBeCloseTo(10 * MB + 2 * MB + 30 * MB, -2);
    expect(c?.measuredTxBytes).toBeCloseTo(5 * MB + 1 * MB + 10 * MB, -2);
    expect(c?.usedBytes).toBeCloseTo(58 * MB, -2);
    expect(c?.usedPercent).toBeCloseTo(58, 3);
    // lo is not counted (its bytes are seven times eth0's).
    expect((await traffic.report('a1')).interfaces).toEqual(['eth0']);
    const today = c?.days.find((d) => d.date === '2026-03-01');
    expect(today?.rxBytes).toBeCloseTo(42 * MB, -2);
    const fleet = await traffic.fleet();
    expect(fleet.hosts).toHaveLength(1);
    expect(fleet.hosts[0]).toMatchObject({ agent: 'a1', hostname: 'web1', quotaBytes: 100 * MB });
    expect(fleet.hosts[0]?.usedBytes).toBeCloseTo(58 * MB, -2);
    // The alert feed reads only hosts whose plan has a quota: a plan without one is skipped.
    expect((await traffic.fleet({ withQuota: true })).hosts.map((h) => h.agent)).toEqual(['a1']);
    await traffic.setPlan('web1', { interfaces: ['eth0'], quota_bytes: 0 });
    expect((await traffic.fleet({ withQuota: true })).hosts).toEqual([]);
    expect((await traffic.fleet()).hosts.map((h) => h.agent)).toEqual(['a1']);
  });

  it('starts a new cycle at the reset day and keeps the last one in the report', async () => {
    const t0 = Date.UTC(2026, 2, 14, 23);
    const { clock, traffic, report } = await setup(t0);
    await report(0, 0);
    clock.now = t0 + 30 * MIN;
    await report(40 * MB, 10 * MB);
    let [c] = (await traffic.report('web1')).cycles;
    expect(new Date(c?.startMs ?? 0).toISOString()).toBe('2026-02-15T00:00:00.000Z');
    expect(c?.usedBytes).toBeCloseTo(50 * MB, -2);
    // Past midnight on the 15th: the new cycle holds only what came after the reset.
    clock.now = t0 + 60 * MIN;
    await report(40 * MB, 10 * MB);
    clock.now = t0 + 90 * MIN;
    await report(43 * MB, 11 * MB);
    const r = await traffic.report('web1', undefined, 2);
    [c] = r.cycles;
    expect(new Date(c?.startMs ?? 0).toISOString()).toBe('2026-03-15T00:00:00.000Z');
    expect(c?.usedBytes).toBeCloseTo(4 * MB, -2);
    expect(c?.days.map((d) => d.date)).toEqual(['2026-03-15']);
    expect(r.cycles[1]?.usedBytes).toBeCloseTo(50 * MB, -2);
  });

  it('keeps a manual correction as an offset for its cycle only, across a restart of the server', async () => {
    const t0 = Date.UTC(2026, 2, 20);
    const { clock, traffic, report, store, dir } = await setup(t0);
    await report(0, 0);
    clock.now = t0 + 10 * MIN;
    await report(5 * MB, 5 * MB);
    // The provider says 30 MB out so far this cycle.
    const corrected = await traffic.correct('web1', { tx_bytes: 30 * MB });
    expect(corrected.txBytes).toBeCloseTo(30 * MB, -2);
    expect(corrected.rxBytes).toBeCloseTo(5 * MB, -2);
    expect(corrected.measuredTxBytes).toBeCloseTo(5 * MB, -2);
    clock.now = t0 + 20 * MIN;
    await report(6 * MB, 8 * MB);
    // A new server process reads the correction back from data_dir.
    const again = new TrafficAccounting({
      store,
      agents: () => [agent],
      plans: [{ interfaces: ['eth0'], reset_day: 15 }],
      dataDir: dir,
      now: () => clock.now,
    });
    let [c] = (await again.report('web1')).cycles;
    expect(c?.txBytes).toBeCloseTo(33 * MB, -2);
    expect(c?.correction?.txBytes).toBe(30 * MB);
    // Next cycle: no offset.
    clock.now = Date.UTC(2026, 3, 15, 0, 30);
    await report(7 * MB, 9 * MB);
    [c] = (await again.report('web1')).cycles;
    expect(c?.correction).toBeNull();
    expect(c?.txBytes).toBeLessThan(1 * MB);
    await expect(again.correct('nosuch', { tx_bytes: 1 })).rejects.toThrow(/host nosuch not found/);
  });
});

describe('traffic inside one minute', () => {
  it('counts growth in a series’ first minute and around a reset inside a minute', async () => {
    const t0 = Date.UTC(2026, 5, 1, 10);
    const { clock, traffic, report } = await setup(t0);
    // Samples every 10 s: 1 MB each; the counter resets (agent restart with a new device) at 40 s.
    const values = [0, 1, 2, 3, 0.5, 1.5, 2.5];
    for (const [i, v] of values.entries()) {
      clock.now = t0 + i * 10_000;
      await report(v * MB, 0);
    }
    const [c] = (await traffic.report('web1')).cycles;
    // True growth: 3 MB, then 0.5 from zero, then 2 MB. Read per minute (first and last) the reset
    // minute loses what came before the reset inside it: 0.5 + 2 = 2.5 MB here, never more than the truth.
    expect(c?.measuredRxBytes).toBeCloseTo(2.5 * MB, -2);
    clock.now = t0 + 70_000;
    await report(3.5 * MB, 0);
    const [d] = (await traffic.report('web1')).cycles;
    expect(d?.measuredRxBytes).toBeCloseTo(3.5 * MB, -2);
  });
});

describe('traffic plans in the server config', () => {
  it('names the file, line and field of a bad plan', async () => {
    const file = join(tempDir('falconet-traffic-conf-'), 'falconet-server.yaml');
    writeFileSync(file, 'traffic:\n  plans:\n    - hosts: [web1]\n      time_zone: Mars/Base\n      reset_dya: 3\n');
    const { code, out } = await runServer(['check-config', '--config', file]);
    expect(code).not.toBe(0);
    const text = out.join('\n');
    expect(text).toContain(`${file}:4:18: traffic.plans.0.time_zone: time_zone: not an IANA time zone`);
    expect(text).toContain('unknown key "traffic.plans.0.reset_dya" (did you mean "reset_day"?)');
  }, 60_000);
});
