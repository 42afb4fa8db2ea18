/**
 * Status pages: the repository on both metadata engines, the daily uptime computed from a real
 * embedded store's series (hosts from their reports, monitors from probe_success), and the
 * service's checks and one-minute cache.
 */
import type { Sample } from '@falconet/protocol';
import type { Agent, StatusPageSpecInput } from '@falconet/protocol/api';
import { StatusPageSpec } from '@falconet/protocol/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDatabase } from '../../../testing/postgres.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { ApiError } from '../src/api/errors.ts';
import type { MetaDb } from '../src/db/index.ts';
import { StatusPageRepository } from '../src/status-pages/repository.ts';
import { type MonitorDirectory, StatusPageService } from '../src/status-pages/service.ts';
import { DAY_MS, firstDayMs, hostDays, monitorDays, PRESENCE_METRIC, presenceBucketMs } from '../src/status-pages/uptime.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { PostgresStore } from '../src/store/postgres/engine.ts';
import type { Store } from '../src/store/types.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

const MIN = 60_000;
/** Noon UTC: today has had 12 hours. */
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const TODAY = Math.floor(NOW / DAY_MS) * DAY_MS;

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const agentOf = (id: string, hostname: string, firstSeenMs: number, status: 'online' | 'offline' = 'online') =>
  ({
    id,
    hostname,
    firstSeenMs,
    intervalMs: 10_000,
    status,
    summary: { falconet_cpu_usage_percent: 12.345, falconet_memory_used_percent: 45.67 },
    ips: ['10.9.8.7'],
    labels: { secret: 'label' },
  }) as unknown as Agent;

const STORES = ['embedded', 'postgres'] as const;

async function openStore(engine: (typeof STORES)[number] = 'embedded') {
  // Raw retention beyond 90 days, so the test can write a whole page's history as reports.
  const retention = { raw: 100 * DAY_MS };
  let store: Store;
  if (engine === 'embedded') {
    store = await EmbeddedStore.open({ dir: tempDir('falconet-status-'), now: () => NOW, retention });
    closers.push(() => store.close());
  } else {
    const db = await createTempDatabase('falconet_status');
    store = await PostgresStore.open({ url: db.url, now: () => NOW, retention, maintenanceIntervalMs: 0 });
    closers.push(async () => {
      await store.close();
      await db.drop();
    });
  }
  const seqs = new Map<string, number>();
  const append = async (agentId: string, samples: Sample[]) => {
    for (let i = 0; i < samples.length; i += 5000) {
      const seq = (seqs.get(agentId) ?? 0) + 1;
      seqs.set(agentId, seq);
      await store.appendReport(agentId, seq, samples.slice(i, i + 5000));
    }
  };
  return { store, append };
}

/** A report every 20 s from `fromMs` to `toMs`, skipping [gapFrom, gapTo). */
function presence(fromMs: number, toMs: number, gaps: [number, number][] = []): Sample[] {
  const out: Sample[] = [];
  for (let t = fromMs; t <= toMs; t += 20_000) {
    if (gaps.some(([a, b]) => t >= a && t < b)) continue;
    out.push({ name: PRESENCE_METRIC, labels: { version: '1.0.0' }, value: 1, timestampMs: t });
  }
  return out;
}

function probes(monitor: string, fromMs: number, toMs: number, success: (t: number) => number): Sample[] {
  const out: Sample[] = [];
  for (let t = fromMs; t <= toMs; t += MIN) {
    out.push({ name: 'probe_success', labels: { monitor, probe: `monitor.${monitor}` }, value: success(t), timestampMs: t });
    out.push({ name: 'probe_duration_seconds', labels: { monitor, probe: `monitor.${monitor}` }, value: 0.025, timestampMs: t });
  }
  return out;
}

describe.each(STORES)('daily uptime from the %s store', (engine) => {
  it('counts a host up in each bucket it reported in, from when it was first seen', async () => {
    const { store, append } = await openStore(engine);
    const firstSeen = TODAY - 10 * DAY_MS + 6 * 3_600_000;
    const gapDay = TODAY - 3 * DAY_MS;
    await append('a1', presence(firstSeen, NOW - 1000, [[gapDay, gapDay + 6 * 3_600_000]]));
    await store.flush();
    const days = await hostDays(store, { id: 'a1', firstSeenMs: firstSeen, intervalMs: 10_000 }, NOW, 3);
    expect(days).toHaveLength(90);
    expect(firstDayMs(NOW)).toBe(TODAY - 89 * DAY_MS);
    // Before it was first seen: no value, not 0 %.
    expect(days.slice(0, 79).every((d) => d === null)).toBe(true);
    // Its first day counts from its first report (06:00), and it has reported in every minute since.
    expect(days[79]).toBe(1);
    expect(days[86]).toBe(0.75);
    expect(days[88]).toBe(1);
    // Today, up to now: the minute under way does not count against it.
    expect(days[89]).toBe(1);
  }, 30_000);

  it('a silent agent loses the buckets it missed, as wide as the dashboard’s offline rule', async () => {
    const { store, append } = await openStore(engine);
    expect(presenceBucketMs(10_000, 3)).toBe(MIN);
    expect(presenceBucketMs(60_000, 3)).toBe(3 * MIN);
    const firstSeen = TODAY - DAY_MS;
    // Yesterday: one report every 10 minutes only, so 1 bucket of 1 minute in 10 is up.
    const sparse: Sample[] = [];
    for (let t = firstSeen; t < TODAY; t += 10 * MIN) sparse.push({ name: PRESENCE_METRIC, labels: {}, value: 1, timestampMs: t });
    await append('a2', sparse);
    const days = await hostDays(store, { id: 'a2', firstSeenMs: firstSeen, intervalMs: 10_000 }, NOW, 3);
    expect(days[88]).toBeCloseTo(0.1, 5);
    expect(days[89]).toBe(0);
  });

  it('takes a monitor’s day as the mean probe_success over its locations, and no other monitor’s', async () => {
    const { store, append } = await openStore(engine);
    const from = TODAY - 5 * DAY_MS;
    const badDay = TODAY - 2 * DAY_MS;
    // Location 1 always succeeds; location 2 fails the whole of one day.
    await append(
      'loc1',
      probes('m1', from, NOW - 1000, () => 1),
    );
    await append(
      'loc2',
      probes('m1', from, NOW - 1000, (t) => (t >= badDay && t < badDay + DAY_MS ? 0 : 1)),
    );
    await append(
      'loc2',
      probes('m2', from, NOW - 1000, () => 0),
    );
    const days = await monitorDays(store, 'm1', NOW);
    expect(days.slice(0, 84).every((d) => d === null)).toBe(true);
    expect(days[84]).toBe(1);
    expect(days[87]).toBe(0.5);
    expect(days[89]).toBe(1);
    expect((await monitorDays(store, 'm2', NOW))[89]).toBe(0);
  });
});

describe('the contract', () => {
  it('refuses bad slugs, repeated items and names for items not on the page, naming where', () => {
    const bad = (spec: unknown) => StatusPageSpec.safeParse(spec).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(bad({ slug: 'Has Space', title: 't' })).toEqual([
      'slug: a slug is lowercase letters and digits, words joined by single hyphens',
    ]);
    expect(bad({ slug: 'ok', title: 't', hosts: ['a', 'a'] })).toEqual(['hosts.1: a is listed twice']);
    expect(bad({ slug: 'ok', title: 't', display_names: { x: 'X' } })).toEqual([
      'display_names.x: x is neither a host nor a monitor of this page',
    ]);
    expect(bad({ slug: 'ok', title: 't', extra: 1 })?.[0]).toMatch(/extra/);
    expect(StatusPageSpec.parse({ slug: 'a-1', title: 'T' })).toMatchObject({
      language: 'en',
      show_values: false,
      hosts: [],
      monitors: [],
    });
  });
});

describe.each(ENGINES)('status pages on %s', (engine) => {
  const opener = metaDbOpener(engine);

  async function setup(monitors?: MonitorDirectory) {
    const meta: MetaDb = await opener.open();
    closers.push(() => meta.close());
    const { store, append } = await openStore();
    const agents = new Map([
      ['a1', agentOf('a1', 'web-1', TODAY - 3 * DAY_MS)],
      ['a2', agentOf('a2', 'db-secret-host', TODAY - 3 * DAY_MS, 'offline')],
    ]);
    const clock = { now: NOW };
    const pages = new StatusPageService({
      repo: new StatusPageRepository(meta),
      store,
      agents,
      monitors,
      offlineAfterIntervals: 3,
      now: () => clock.now,
    });
    return { pages, store, append, clock };
  }
  const spec = (s: StatusPageSpecInput) => StatusPageSpec.parse(s);

  it('keeps pages and incidents, refuses a taken slug and unknown hosts or monitors', async () => {
    const { pages } = await setup({ get: async (id) => (id === 'm1' ? { name: 'API', status: 'up', latencyMs: 3 } : undefined) });
    const p = await pages.create(spec({ slug: 'public', title: 'Our status', hosts: ['a1'], monitors: ['m1'] }), 'alice');
    expect((await pages.list()).map((x) => x.spec.slug)).toEqual(['public']);
    await expect(pages.create(spec({ slug: 'public', title: 'Again' }), 'alice')).rejects.toMatchObject({ status: 409 });
    await expect(pages.create(spec({ slug: 'x', title: 'X', hosts: ['nope'] }), 'alice')).rejects.toThrow(
      'body hosts.0: no agent has the id "nope"',
    );
    await expect(pages.create(spec({ slug: 'x', title: 'X', monitors: ['m9'] }), 'alice')).rejects.toThrow(
      'body monitors.0: no monitor has the id "m9"',
    );
    const renamed = await pages.update(p.id, spec({ ...p.spec, slug: 'renamed' }));
    expect(renamed.spec.slug).toBe('renamed');
    // Its own slug is no conflict.
    await pages.update(p.id, spec({ ...renamed.spec, title: 'Still mine' }));

    const i = await pages.openIncident(
      p.id,
      { title: 'API slow', body: 'Looking <b>into</b> it', severity: 'major', resolvedMs: null },
      'alice',
    );
    expect(i.startedMs).toBe(NOW);
    const noted = await pages.addNote(p.id, i.id, { body: 'Fixed the cache', resolve: true }, 'bob');
    expect(noted).toMatchObject({ resolvedMs: NOW, updates: [{ atMs: NOW, body: 'Fixed the cache' }] });
    await expect(
      pages.editIncident(p.id, i.id, { title: 'x', body: '', severity: 'minor', startedMs: NOW, resolvedMs: NOW - 1 }, 'bob'),
    ).rejects.toThrow(ApiError);
    expect((await pages.incidents(p.id)).map((x) => x.title)).toEqual(['API slow']);
    await expect(pages.incidents('nope')).rejects.toMatchObject({ status: 404 });
    await pages.delete(p.id);
    expect(await pages.list()).toEqual([]);
    await expect(pages.addNote(p.id, i.id, { body: 'late', resolve: false }, 'bob')).rejects.toMatchObject({ status: 404 });
  });

  it('reads a host’s completed days again once an hour, behind the answer, and today’s bar with every view', async () => {
    const { pages, append, clock } = await setup();
    await append('a1', presence(TODAY - 2 * DAY_MS, NOW - 1000));
    const p = await pages.create(spec({ slug: 'h', title: 'H', hosts: ['a1'] }), 'alice');
    const days = async () => (await pages.compute(p)).items[0]?.days ?? [];
    // First seen three days ago, silent that day.
    expect((await days()).slice(86)).toEqual([0, 1, 1, 1]);
    // Its spooled reports of that day arrive late.
    await append('a1', presence(TODAY - 3 * DAY_MS, TODAY - 2 * DAY_MS - 1));
    clock.now = NOW + 30 * MIN;
    const halfHour = await days();
    expect(halfHour[86]).toBe(0);
    // Today's bar is read now: the half hour since the last report is down.
    expect(halfHour[89]).toBeCloseTo(720 / 750, 5);
    // An hour on, the old history still answers while it is read again behind it.
    clock.now = NOW + 61 * MIN;
    expect((await days())[86]).toBe(0);
    await eventually(async () => (await days())[86] === 1);
  });

  it('refuses monitors on a server without them', async () => {
    const { pages } = await setup();
    await expect(pages.create(spec({ slug: 'm', title: 'M', monitors: ['m1'] }), 'alice')).rejects.toThrow(
      'body monitors: this server has no monitors',
    );
  });

  it('shows only the chosen items, under the names chosen, and keeps the view a minute', async () => {
    const { pages, append, clock } = await setup({ get: async () => ({ name: 'Checkout API', status: 'degraded', latencyMs: 25 }) });
    await append('a1', presence(TODAY - 3 * DAY_MS, NOW - 1000));
    await append('a2', presence(TODAY - 3 * DAY_MS, NOW - 1000));
    await append(
      'loc1',
      probes('m1', TODAY - DAY_MS, NOW - 1000, () => 1),
    );
    await append(
      'loc2',
      probes('m1', TODAY - DAY_MS, NOW - 1000, (t) => (t > NOW - 2 * MIN ? 0 : 1)),
    );
    const p = await pages.create(
      spec({ slug: 'shop', title: 'Shop', hosts: ['a1'], monitors: ['m1'], display_names: { a1: 'Web' }, show_values: true }),
      'alice',
    );
    await pages.openIncident(
      p.id,
      { title: 'Old', body: '', severity: 'minor', startedMs: NOW - 120 * DAY_MS, resolvedMs: NOW - 119 * DAY_MS },
      'a',
    );
    await pages.openIncident(p.id, { title: 'Recent', body: 'b', severity: 'minor', startedMs: NOW - DAY_MS, resolvedMs: null }, 'a');
    const view = await pages.publicView('shop');
    expect(view).toBeDefined();
    expect(view?.items).toEqual([
      expect.objectContaining({ kind: 'host', name: 'Web', status: 'up', uptime: 1, cpuPercent: 12.3, memoryPercent: 45.7 }),
      expect.objectContaining({ kind: 'monitor', name: 'Checkout API', status: 'degraded', latencyMs: 25 }),
    ]);
    expect(view?.status).toBe('degraded');
    expect(view?.incidents.map((i) => i.title)).toEqual(['Recent']);
    const text = JSON.stringify(view);
    for (const hidden of ['a1', 'a2', 'db-secret-host', 'web-1', '10.9.8.7', 'secret', 'loc1', 'm1']) expect(text).not.toContain(hidden);
    expect(await pages.publicView('nope')).toBeUndefined();

    // Within the minute the same answer, even after new data; after it, computed again.
    clock.now = NOW + 30_000;
    expect((await pages.publicView('shop'))?.generatedMs).toBe(NOW);
    clock.now = NOW + 61_000;
    expect((await pages.publicView('shop'))?.generatedMs).toBe(NOW + 61_000);
    // A change is seen at once.
    await pages.update(p.id, spec({ ...p.spec, title: 'Shop 2' }));
    expect((await pages.publicView('shop'))?.title).toBe('Shop 2');
  });
});
