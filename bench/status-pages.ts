/**
 * What a public status page costs to compute: 90 days of daily uptime per host and per monitor,
 * from the store's rollups as the server does it, beside the same answers computed from the raw
 * samples (the reference: what it would cost without the rollup tiers). Both sides give the same
 * days (checked); the ratio is rollups / raw.
 *
 * History is written straight into an embedded store with raw retention beyond 90 days (a server
 * keeps raw samples 15 days by default, so the raw side only exists here): per host a report
 * every 20 s for 90 days with a few gaps, per monitor two locations with a result every 60 s;
 * then sealed into parts and rollups.
 *
 * - host_days_ms, host_days_raw_ms, host_days_ratio: one host's 90 days (median over hosts and runs).
 * - monitor_days_ms, monitor_days_raw_ms, monitor_days_ratio: one monitor's 90 days.
 * - page_compute_cold_ms: a whole page (every host and monitor, its incidents) computed with no
 *   history kept: a server's first view of it (after that the history is read again hourly, behind
 *   the answers).
 * - page_compute_ms: the same as the public route does it once a minute: hosts' completed days
 *   from the hour-old history, today's bar and the monitors read now.
 * - page_cached_ms: the public view within its minute (what every other visitor gets).
 *
 *   npm run bench -- status-pages [--quick]
 */
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import type { Agent } from '@falconet/protocol/api';
import { StatusPageSpec } from '@falconet/protocol/api';
import { migrateMetaDb, openMetaDb } from '../packages/server/src/db/index.ts';
import { StatusPageRepository } from '../packages/server/src/status-pages/repository.ts';
import { StatusPageService } from '../packages/server/src/status-pages/service.ts';
import {
  DAY_MS,
  firstDayMs,
  hostDays,
  monitorDays,
  PRESENCE_METRIC,
  PROBE_SUCCESS,
  presenceBucketMs,
  presenceDays,
} from '../packages/server/src/status-pages/uptime.ts';
import { EmbeddedStore } from '../packages/server/src/store/embedded/engine.ts';
import { tempDir } from '../testing/processes.ts';
import { emit, median, progress, quick } from './lib.ts';

const BENCH = 'status-pages';
const HOSTS = quick ? 3 : 10;
const MONITORS = quick ? 3 : 10;
const DAYS = quick ? 30 : 90;
const RUNS = quick ? 3 : 5;
const NOW = Date.now();
const START = firstDayMs(NOW) + (90 - DAYS) * DAY_MS;

const dir = tempDir('falconet-bench-status-');
const store = await EmbeddedStore.open({ dir: join(dir, 'samples'), retention: { raw: 100 * DAY_MS } });
const seqs = new Map<string, number>();
async function append(agentId: string, samples: Sample[]): Promise<void> {
  for (let i = 0; i < samples.length; i += 20_000) {
    const seq = (seqs.get(agentId) ?? 0) + 1;
    seqs.set(agentId, seq);
    await store.appendReport(agentId, seq, samples.slice(i, i + 20_000));
  }
}

progress(`writing ${HOSTS} hosts and ${MONITORS} monitors (2 locations each) over ${DAYS} days`);
const hostIds = Array.from({ length: HOSTS }, (_, i) => `host-${i}`);
for (const [h, id] of hostIds.entries()) {
  // A gap of h hours on every tenth day: the days differ, so a wrong answer shows.
  const samples: Sample[] = [];
  for (let t = START; t < NOW; t += 20_000) {
    const day = Math.floor((t - START) / DAY_MS);
    if (day % 10 === 0 && t - (START + day * DAY_MS) < h * 3_600_000) continue;
    samples.push({ name: PRESENCE_METRIC, labels: { version: '1.0.0' }, value: 1, timestampMs: t });
  }
  await append(id, samples);
}
const monitorIds = Array.from({ length: MONITORS }, (_, i) => `mon-${i}`);
for (const [m, id] of monitorIds.entries()) {
  for (const loc of ['loc-a', 'loc-b']) {
    const samples: Sample[] = [];
    for (let t = START; t < NOW; t += 60_000) {
      const fails = loc === 'loc-b' && Math.floor(t / 3_600_000) % (m + 5) === 0;
      samples.push({ name: PROBE_SUCCESS, labels: { monitor: id }, value: fails ? 0 : 1, timestampMs: t });
    }
    await append(loc, samples);
  }
}
progress('sealing parts and rollups');
await store.flush();
await store.compactAll();

const host = (id: string) => ({ id, firstSeenMs: START, intervalMs: 10_000 });
const OFFLINE_AFTER = 3;

/** The reference: one host's days from its raw samples, bucketed here. */
async function hostDaysRaw(id: string): Promise<(number | null)[]> {
  const step = presenceBucketMs(10_000, OFFLINE_AFTER);
  const series = await store.querySeries({ agentId: id, name: PRESENCE_METRIC, fromMs: firstDayMs(NOW), toMs: NOW });
  const present = new Set<number>();
  for (const s of series) for (const [t] of s.points) present.add(Math.floor(t / step) * step);
  return presenceDays(present, step, START, NOW);
}

/** The reference: one monitor's days from the raw probe_success of each location, mean per location then across. */
async function monitorDaysRaw(id: string): Promise<(number | null)[]> {
  const from = firstDayMs(NOW);
  const sums = new Map<string, { sum: Float64Array; n: Float64Array }>();
  for (const loc of ['loc-a', 'loc-b']) {
    for (const s of await store.querySeries({ agentId: loc, name: PROBE_SUCCESS, labels: { monitor: id }, fromMs: from, toMs: NOW })) {
      const acc = { sum: new Float64Array(90), n: new Float64Array(90) };
      for (const [t, v] of s.points) {
        const d = Math.floor((t - from) / DAY_MS);
        acc.sum[d] = (acc.sum[d] as number) + v;
        acc.n[d] = (acc.n[d] as number) + 1;
      }
      sums.set(loc, acc);
    }
  }
  return Array.from({ length: 90 }, (_, d) => {
    const means = [...sums.values()].filter((a) => (a.n[d] as number) > 0).map((a) => (a.sum[d] as number) / (a.n[d] as number));
    return means.length ? means.reduce((a, b) => a + b, 0) / means.length : null;
  });
}

const same = (a: (number | null)[], b: (number | null)[]) =>
  a.length === b.length && a.every((v, i) => (v === null ? b[i] === null : b[i] !== null && Math.abs(v - (b[i] as number)) < 1e-9));

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

async function compare(
  what: string,
  ids: string[],
  fast: (id: string) => Promise<(number | null)[]>,
  raw: (id: string) => Promise<(number | null)[]>,
) {
  const fastMs: number[] = [];
  const rawMs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const id of ids) {
      const [a, fa] = await timed(() => fast(id));
      const [b, ra] = await timed(() => raw(id));
      if (!same(fa, ra)) throw new Error(`${what} ${id}: rollups and raw samples disagree:\n${JSON.stringify(fa)}\n${JSON.stringify(ra)}`);
      fastMs.push(a);
      rawMs.push(b);
    }
  }
  const f = median(fastMs);
  const r = median(rawMs);
  const extra = { days: DAYS, runs: RUNS };
  emit({ bench: BENCH, metric: `${what}_days_ms`, value: round(f), unit: 'ms', ...extra });
  emit({ bench: BENCH, metric: `${what}_days_raw_ms`, value: round(r), unit: 'ms', ref: 'the same days from raw samples', ...extra });
  emit({
    bench: BENCH,
    metric: `${what}_days_ratio`,
    value: round(f / r, 3),
    unit: 'ratio',
    ref: 'the same days from raw samples',
    ...extra,
  });
}
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

progress('hosts');
await compare('host', hostIds, (id) => hostDays(store, host(id), NOW, OFFLINE_AFTER), hostDaysRaw);
progress('monitors');
await compare('monitor', monitorIds, (id) => monitorDays(store, id, NOW), monitorDaysRaw);

progress('a whole page');
const meta = openMetaDb({ url: '', dataDir: join(dir, 'meta') });
await migrateMetaDb(meta);
const agents = new Map(hostIds.map((id) => [id, { ...host(id), hostname: id, status: 'online', summary: {} } as unknown as Agent]));
let clock = NOW;
const repo = new StatusPageRepository(meta);
const service = () =>
  new StatusPageService({
    repo,
    store,
    agents,
    monitors: { get: async (id) => ({ name: id, status: 'up', latencyMs: null }) },
    offlineAfterIntervals: OFFLINE_AFTER,
    now: () => clock,
  });
let pages = service();
const page = await pages.create(StatusPageSpec.parse({ slug: 'bench', title: 'Bench', hosts: hostIds, monitors: monitorIds }), 'bench');
const coldMs: number[] = [];
const computeMs: number[] = [];
for (let r = 0; r < RUNS; r++) {
  // A service that has kept nothing yet: a server's first view of the page.
  pages = service();
  coldMs.push((await timed(() => pages.compute(page)))[0]);
  clock += 60_000;
  computeMs.push((await timed(() => pages.compute(page)))[0]);
}
const pageFigures = { unit: 'ms', hosts: HOSTS, monitors: MONITORS, days: DAYS };
emit({ bench: BENCH, metric: 'page_compute_cold_ms', value: round(median(coldMs)), ...pageFigures });
emit({ bench: BENCH, metric: 'page_compute_ms', value: round(median(computeMs)), ...pageFigures });
clock += 60_000;
await pages.publicView('bench');
const cachedMs: number[] = [];
for (let r = 0; r < 1000; r++) cachedMs.push((await timed(() => pages.publicView('bench')))[0]);
emit({ bench: BENCH, metric: 'page_cached_ms', value: round(median(cachedMs), 4), unit: 'ms', hosts: HOSTS, monitors: MONITORS });

await meta.close();
await store.close();
