import type { Sample } from '@falconet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { SampleLedger } from '../../../testing/ledger.ts';
import { tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { retentionReference } from '../src/store/embedded/maintenance.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 10, 0, 0, 0);
const RETENTION = { raw: 2 * DAY, '1m': 4 * DAY, '1h': 30 * DAY };

/** Two days of two series at 5 min ending at T0, values that say which sample they are. */
function history(): Sample[] {
  const out: Sample[] = [];
  for (let t = T0 - 2 * DAY + 5 * 60_000; t <= T0; t += 5 * 60_000) {
    for (const cpu of ['0', '1']) out.push({ name: 'cpu_seconds', labels: { cpu }, value: t / 1000 + Number(cpu) / 7, timestampMs: t });
  }
  return out;
}

async function ledgerOf(store: EmbeddedStore, fromMs: number, toMs: number): Promise<SampleLedger> {
  const ledger = new SampleLedger();
  for (const s of await store.querySeries({ agentId: 'a', name: 'cpu_seconds', fromMs, toMs })) {
    for (const [t, v] of s.points) ledger.add(s.name, s.labels, t, v);
  }
  return ledger;
}

describe('embedded store: retention and a server clock that jumps', () => {
  const stores: EmbeddedStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('counts retention back from the newest sample held, never past the wall clock', () => {
    expect(retentionReference([{ maxTs: 100 }, { maxTs: 300 }], [{ n: 2, maxTs: 250 }], 10_000)).toBe(300);
    expect(
      retentionReference(
        [{ maxTs: 100 }],
        [
          { n: 1, maxTs: 900 },
          { n: 0, maxTs: 5000 },
        ],
        10_000,
      ),
    ).toBe(900);
    // A clock behind the data: the clock (it keeps more, never less).
    expect(retentionReference([{ maxTs: 100 }], [], 50)).toBe(50);
    expect(retentionReference([], [], 777)).toBe(777);
  });

  it('a clock 400 days ahead, across a restart too, deletes and hides nothing; a clock 3 h behind neither; both go on taking reports', async () => {
    let now = T0 + 60_000;
    const dir = tempDir('falconet-store-jump-');
    const open = async () => {
      const s = await EmbeddedStore.open({ dir, now: () => now, retention: RETENTION, headMaxSamples: 2_000, compactFanIn: 3 });
      stores.push(s);
      return s;
    };
    let store = await open();
    const samples = history();
    const expected = new SampleLedger();
    for (const s of samples) expected.add(s.name, s.labels, s.timestampMs, s.value);
    await store.appendReport('a', 1, samples);
    await store.compactAll();
    const all = () => ledgerOf(store, T0 - 3 * DAY, T0 + DAY);
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    const rawBefore = (await store.stats()).bytes.raw ?? 0;

    // Forward 400 days: retention runs (flush applies it) and the 1 s maintenance ticks run too.
    now = T0 + 400 * DAY;
    await store.flush();
    await store.compactAll();
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    expect((await store.stats()).bytes.raw ?? 0).toBe(rawBefore);
    // A report from an agent whose clock is right is taken, not dropped as past retention.
    const late: Sample = { name: 'cpu_seconds', labels: { cpu: '0' }, value: 42.5, timestampMs: T0 + 5 * 60_000 };
    expect(await store.appendReport('a', 2, [late])).toEqual({ duplicate: false });
    expected.add(late.name, late.labels, late.timestampMs, late.value);
    expect((await all()).toJSON()).toEqual(expected.toJSON());

    // Restarted with the clock still 400 days ahead: the same.
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    store = await open();
    await store.flush();
    expect((await all()).toJSON()).toEqual(expected.toJSON());

    // Back to 3 h behind the data: nothing lost, no duplicate taken, reports go on.
    now = T0 - 3 * HOUR;
    await store.flush();
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    expect(await store.appendReport('a', 2, [late])).toEqual({ duplicate: true });
    const behind: Sample = { name: 'cpu_seconds', labels: { cpu: '1' }, value: 7.25, timestampMs: T0 - 3 * HOUR - 30_000 };
    expect(await store.appendReport('a', 3, [behind])).toEqual({ duplicate: false });
    expected.add(behind.name, behind.labels, behind.timestampMs, behind.value);
    expect((await all()).toJSON()).toEqual(expected.toJSON());
    const got = await all();
    process.stderr.write(`store-clock-jump: ${got.count} samples (checksum ${got.checksum}) kept through +400 d, a restart, and -3 h\n`);

    // Retention itself still works: data from an agent three days on ages the first day out.
    now = T0 + 3 * DAY;
    expect(
      await store.appendReport('a', 4, [{ name: 'cpu_seconds', labels: { cpu: '0' }, value: 1, timestampMs: T0 + 3 * DAY - 1000 }]),
    ).toEqual({ duplicate: false });
    await store.flush();
    const raw = await ledgerOf(store, T0 - 3 * DAY, T0 + 4 * DAY);
    expect(raw.count).toBeLessThan(expected.count);
  });
});
