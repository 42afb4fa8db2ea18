import type { Sample } from '@falconet/protocol';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { SampleLedger } from '../../../testing/ledger.ts';
import { createTempDatabase, type TempDatabase } from '../../../testing/postgres.ts';
import { PostgresStore } from '../src/store/postgres/engine.ts';

// The PostgreSQL sample store under a server clock that jumps (issue 24), on the machine's real
// PostgreSQL, each test in a database of its own. The clock is the store's `now` option.
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const RETENTION = { raw: 2 * DAY, '1m': 4 * DAY, '1h': 30 * DAY };

/** Two days of two series at 5 min ending at T0, values that say which sample they are. */
function history(): Sample[] {
  const out: Sample[] = [];
  for (let t = T0 - 2 * DAY + 5 * MINUTE; t <= T0; t += 5 * MINUTE) {
    for (const cpu of ['0', '1']) out.push({ name: 'cpu_seconds', labels: { cpu }, value: t / 1000 + Number(cpu) / 7, timestampMs: t });
  }
  return out;
}

/** One sample per series and minute from `from` to `to` (inclusive), 10 s into the minute. */
function minutes(from: number, to: number): Sample[] {
  const out: Sample[] = [];
  for (let t = from; t <= to; t += MINUTE) {
    for (const cpu of ['0', '1']) out.push({ name: 'cpu_seconds', labels: { cpu }, value: t / 1000 + 0.5, timestampMs: t + 10_000 });
  }
  return out;
}

async function ledgerOf(store: PostgresStore, fromMs: number, toMs: number): Promise<SampleLedger> {
  const ledger = new SampleLedger();
  for (const s of await store.querySeries({ agentId: 'a', name: 'cpu_seconds', fromMs, toMs })) {
    for (const [t, v] of s.points) ledger.add(s.name, s.labels, t, v);
  }
  return ledger;
}

async function sql<T extends pg.QueryResultRow>(db: TempDatabase, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

const doneUntil = async (db: TempDatabase) =>
  Object.fromEntries(
    (await sql<{ tier: string; done_until: string }>(db, 'SELECT tier, done_until FROM ts_rollup_state')).map((r) => [
      r.tier,
      Number(r.done_until),
    ]),
  );

/** The 1 m rollup rows of cpu 0 from `from` on, as [bucket, count, last]. */
async function minuteRows(db: TempDatabase, from: number): Promise<[number, number, number][]> {
  const rows = await sql<{ ts: string; count: string; last: number }>(
    db,
    `SELECT m.ts, m.count, m.last FROM ts_1m m JOIN ts_series s ON s.id = m.series_id
     WHERE s.labels->>'cpu' = '0' AND m.ts >= $1 ORDER BY m.ts`,
    [from],
  );
  return rows.map((r) => [Number(r.ts), Number(r.count), r.last]);
}

describe('PostgreSQL store: retention and rollups under a server clock that jumps', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup() {
    const db = await createTempDatabase('falconet_pgclock');
    cleanup.push(() => db.drop());
    const clock = { now: T0 + MINUTE };
    const open = async () => {
      const s = await PostgresStore.open({ url: db.url, now: () => clock.now, retention: RETENTION, maintenanceIntervalMs: 0 });
      cleanup.push(() => s.close());
      return s;
    };
    return { db, clock, open };
  }

  it('+400 d across a reopen drops, hides and refuses nothing; back on time the new minutes roll up; -3 h does not crash', async () => {
    const { db, clock, open } = await setup();
    let store = await open();
    const samples = history();
    const expected = new SampleLedger();
    for (const s of samples) expected.add(s.name, s.labels, s.timestampMs, s.value);
    expect(await store.appendReport('a', 1, samples)).toEqual({ duplicate: false });
    await store.maintain();
    const all = () => ledgerOf(store, T0 - 3 * DAY, T0 + DAY);
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    const before = await store.stats();
    const rolledBefore = await doneUntil(db);

    // Reopened with the clock 400 days ahead; maintenance runs (twice: a pass must not prepare the next one's loss).
    await store.close();
    clock.now = T0 + 400 * DAY;
    store = await open();
    await store.maintain();
    await store.maintain();
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    const after = await store.stats();
    expect(after.samples).toEqual(before.samples);
    expect(after.parts).toBe(before.parts);
    // Rollups did not run into the empty future: their marks stay where the data ends.
    expect(await doneUntil(db)).toEqual(rolledBefore);
    expect(rolledBefore['1m']).toBeLessThanOrEqual(T0);
    // Queries do not hide the data as past retention: a 1 m step still reads 1 m buckets (not 1 h).
    const stepped = await store.querySeries({ agentId: 'a', name: 'cpu_seconds', fromMs: T0 - DAY, toMs: T0, stepMs: MINUTE, agg: 'max' });
    expect(stepped.map((s) => [s.stepMs, s.points.length])).toEqual([
      [MINUTE, 289],
      [MINUTE, 289],
    ]);
    // A sample from an agent whose clock is right is taken; one stamped past the server's clock + 1 h and
    // one older than the raw retention (counted from the newest sample) are refused and counted.
    const late: Sample = { name: 'cpu_seconds', labels: { cpu: '0' }, value: 42.5, timestampMs: T0 + 30_000 };
    const ahead: Sample = { ...late, timestampMs: T0 + 400 * DAY + 2 * HOUR };
    const stale: Sample = { ...late, timestampMs: T0 - 3 * DAY };
    expect(await store.appendReport('a', 2, [late, ahead, stale])).toEqual({ duplicate: false });
    expected.add(late.name, late.labels, late.timestampMs, late.value);
    expect((await store.stats()).outOfBounds).toBe((after.outOfBounds ?? 0) + 2);
    await store.maintain();
    expect((await all()).toJSON()).toEqual(expected.toJSON());

    // The clock is right again: new minutes come in and their 1 m rollups appear.
    clock.now = T0 + 10 * MINUTE;
    const fresh = minutes(T0 + MINUTE, T0 + 9 * MINUTE);
    expect(await store.appendReport('a', 3, fresh)).toEqual({ duplicate: false });
    for (const s of fresh) expected.add(s.name, s.labels, s.timestampMs, s.value);
    await store.maintain();
    // Rolled up to the minute before the newest sample (T0 + 9 m 10 s): buckets 1 m .. 7 m.
    expect(await minuteRows(db, T0 + MINUTE)).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((m) => [T0 + m * MINUTE, 1, (T0 + m * MINUTE) / 1000 + 0.5]),
    );
    expect((await doneUntil(db))['1m']).toBe(T0 + 8 * MINUTE);
    expect((await all()).toJSON()).toEqual(expected.toJSON());

    // Three hours behind the data: nothing lost, duplicates still refused, reports go on.
    clock.now = T0 - 3 * HOUR;
    await store.maintain();
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    expect(await store.appendReport('a', 3, fresh)).toEqual({ duplicate: true });
    const behind: Sample = { name: 'cpu_seconds', labels: { cpu: '1' }, value: 7.25, timestampMs: T0 - 3 * HOUR - 30_000 };
    // A sample stamped by a right clock is now more than an hour ahead of the server's: refused and counted.
    const refusedBefore = (await store.stats()).outOfBounds ?? 0;
    const onTime: Sample = { ...behind, timestampMs: T0 + 11 * MINUTE };
    expect(await store.appendReport('a', 4, [behind, onTime])).toEqual({ duplicate: false });
    expect((await store.stats()).outOfBounds).toBe(refusedBefore + 1);
    expected.add(behind.name, behind.labels, behind.timestampMs, behind.value);
    await store.maintain();
    const got = await all();
    expect(got.toJSON()).toEqual(expected.toJSON());
    process.stderr.write(`store-postgres-clock: ${got.count} samples (checksum ${got.checksum}) kept through +400 d, a reopen, and -3 h\n`);

    // Retention itself still works: data from an agent three days on ages the first day out.
    clock.now = T0 + 3 * DAY;
    const next: Sample = { name: 'cpu_seconds', labels: { cpu: '0' }, value: 1, timestampMs: T0 + 3 * DAY - 1000 };
    expect(await store.appendReport('a', 5, [next])).toEqual({ duplicate: false });
    await store.maintain();
    expect((await ledgerOf(store, T0 - 3 * DAY, T0 + 4 * DAY)).count).toBeLessThan(expected.count);
  }, 60_000);

  it('a rollup mark an earlier version left 400 days ahead is moved back, and the minutes after the data roll up', async () => {
    const { db, clock, open } = await setup();
    const store = await open();
    await store.appendReport('a', 1, history());
    await store.maintain();
    // What a server before this fix did under a clock 400 days ahead: rollups marked done up to that clock.
    await sql(db, 'UPDATE ts_rollup_state SET done_until = $1', [T0 + 400 * DAY]);
    clock.now = T0 + 6 * MINUTE;
    await store.appendReport('a', 2, minutes(T0 + MINUTE, T0 + 5 * MINUTE));
    await store.maintain();
    expect(await doneUntil(db)).toEqual({ '1m': T0 + 4 * MINUTE, '1h': T0 });
    expect(await minuteRows(db, T0 + MINUTE)).toEqual([1, 2, 3].map((m) => [T0 + m * MINUTE, 1, (T0 + m * MINUTE) / 1000 + 0.5]));
    // The retained range was computed again, so the buckets before the mark are still whole.
    expect((await minuteRows(db, T0 - DAY)).filter(([t]) => t <= T0)).toHaveLength(289);
    // A 1 m query of the new minutes reads them (rolled-up buckets, then raw past the mark).
    const [s0] = await store.querySeries({
      agentId: 'a',
      name: 'cpu_seconds',
      labels: { cpu: '0' },
      fromMs: T0 + MINUTE,
      toMs: T0 + 6 * MINUTE - 1,
      stepMs: MINUTE,
      agg: 'max',
    });
    expect(s0?.points).toEqual([1, 2, 3, 4, 5].map((m) => [T0 + m * MINUTE, (T0 + m * MINUTE) / 1000 + 0.5]));
    // And rollups go on from there.
    clock.now = T0 + 11 * MINUTE;
    await store.appendReport('a', 3, minutes(T0 + 6 * MINUTE, T0 + 10 * MINUTE));
    await store.maintain();
    expect((await doneUntil(db))['1m']).toBe(T0 + 9 * MINUTE);
    expect((await minuteRows(db, T0 + MINUTE)).map(([t]) => (t - T0) / MINUTE)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  }, 60_000);

  it('a database written before ts_newest existed: the newest sample is read once at open, and a clock +400 d drops nothing', async () => {
    const { db, clock, open } = await setup();
    let store = await open();
    await store.appendReport('a', 1, history());
    await store.maintain();
    const before = await store.stats();
    await store.close();
    await sql(db, 'DELETE FROM ts_newest');
    clock.now = T0 + 400 * DAY;
    store = await open();
    expect(await sql<{ ts: string }>(db, 'SELECT ts FROM ts_newest')).toEqual([{ ts: T0 }]);
    await store.maintain();
    expect((await store.stats()).samples).toEqual(before.samples);
  }, 60_000);
});
