/**
 * The samples store on VictoriaMetrics, against the machine's own victoria-metrics binary, each
 * instance on a free loopback port with a data directory of its own, stopped after. The flags:
 *   -retentionPeriod=100y         the suite's data is stamped in early 2026, whatever today is
 *   -search.disableCache          no query result is served from VictoriaMetrics' rollup cache...
 *   -search.latencyOffset=0       ...nor held back as too fresh; the store's reads (export, series and
 *                                 instant queries) need neither, these keep any query honest in tests.
 * The store itself calls /internal/force_flush before acknowledging a write, so what it acknowledged
 * is searchable at once, in tests and in production alike.
 */

import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { loadConfig } from '@falconet/protocol/config';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runServer, tempDir } from '../../../testing/processes.ts';
import { startVictoria as startVictoriaProcess, type Victoria } from '../../../testing/victoria.ts';
import { serverConfigSchema } from '../src/config.ts';
import { isDatabaseUnavailable } from '../src/db/health.ts';
import type { LabelMatcher } from '../src/promql/ast.ts';
import { StoreSeriesSource } from '../src/promql/store-source.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { openStore } from '../src/store/index.ts';
import { VictoriaStore } from '../src/store/victoria/engine.ts';
import { reopenableStore, storeSuite } from './store-suite.ts';

/** VictoriaMetrics with the flags these tests read their own writes with (see above). */
const startVictoria = (at?: { dir: string; port: number }) =>
  startVictoriaProcess({ ...at, flags: ['-search.disableCache', '-search.latencyOffset=0'] });

/** Every series gone: each suite case starts on an empty database. */
async function wipe(url: string): Promise<void> {
  const res = await fetch(`${url}/api/v1/admin/tsdb/delete_series?${new URLSearchParams({ 'match[]': '{__name__=~".+"}' })}`, {
    method: 'POST',
  });
  expect(res.status).toBe(204);
}

const T0 = Date.UTC(2026, 0, 10);
const sample = (name: string, labels: Record<string, string>, value: number, timestampMs: number): Sample => ({
  name,
  labels,
  value,
  timestampMs,
});

// One VictoriaMetrics for the contract; it has no tiers of its own (its -retentionPeriod governs, and
// it keeps no per-series sizes or counts), and stores values as decimals sharing an exponent per block.
const shared = await startVictoria();
afterAll(() => shared.proc.stop());

storeSuite(
  'victoriametrics',
  async () => {
    await wipe(shared.url);
    return await reopenableStore(() => VictoriaStore.open({ url: shared.url }), { settle: (store) => store.flush() });
  },
  { retention: false, sampleCounts: false, floatPrecision: 1e-12 },
);

describe('store on VictoriaMetrics', { timeout: 60_000 }, () => {
  let vm: Victoria;
  const stores: VictoriaStore[] = [];
  const open = async () => {
    const s = await VictoriaStore.open({ url: vm.url, timeoutMs: 5_000 });
    stores.push(s);
    return s;
  };
  beforeAll(async () => {
    vm = await startVictoria();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => undefined);
    if (vm.proc.child.exitCode !== null || vm.proc.child.signalCode !== null) vm = await startVictoria(vm);
    await wipe(vm.url);
  });
  afterAll(() => vm.proc.stop());

  it('keeps every agent’s last sequence across a restart of VictoriaMetrics and of the store: a duplicate is refused', async () => {
    let store = await open();
    expect(await store.appendReport('a', 1, [sample('up', {}, 1, T0)])).toEqual({ duplicate: false });
    expect(await store.appendReport('a', 2, [sample('up', {}, 2, T0 + 1000)])).toEqual({ duplicate: false });
    expect(await store.appendReport('b', 40, [])).toEqual({ duplicate: false });
    expect(await store.appendReport('c', 9, [sample('up', {}, 9, T0)])).toEqual({ duplicate: false });
    expect(await store.resetSeq('c')).toBe(9);
    await store.close();
    await vm.proc.stop();
    vm = await startVictoria(vm);

    store = await open();
    expect(await store.lastSeq('a')).toBe(2);
    expect(await store.lastSeq('b')).toBe(40);
    expect(await store.lastSeq('c')).toBe(0);
    expect(await store.appendReport('a', 2, [sample('up', {}, 99, T0 + 2000)])).toEqual({ duplicate: true });
    expect(await store.appendReport('b', 39, [])).toEqual({ duplicate: true });
    expect(await store.appendReport('c', 1, [sample('up', {}, 1, T0 + 5000)])).toEqual({ duplicate: false });
    expect(await store.appendReport('a', 3, [sample('up', {}, 3, T0 + 2000)])).toEqual({ duplicate: false });
    const [series] = await store.querySeries({ agentId: 'a', name: 'up', fromMs: T0, toMs: T0 + 10_000 });
    expect(series?.points).toEqual([
      [T0, 1],
      [T0 + 1000, 2],
      [T0 + 2000, 3],
    ]);
  });

  it('reads an agent’s last sequence again when asked (at each registration): another server of a cluster may have written since', async () => {
    const here = await open();
    const there = await open();
    expect(await here.lastSeq('moving')).toBe(0);
    for (let seq = 1; seq <= 3; seq++) await there.appendReport('moving', seq, [sample('up', {}, seq, T0 + seq * 1000)]);
    // The agent comes to this server and sends again what the other took without acknowledging.
    expect(await here.lastSeq('moving')).toBe(3);
    expect(await here.appendReport('moving', 3, [sample('up', {}, 3, T0 + 3000)])).toEqual({ duplicate: true });
    expect(await here.appendReport('moving', 4, [sample('up', {}, 4, T0 + 4000)])).toEqual({ duplicate: false });
    const [series] = await here.querySeries({ agentId: 'moving', name: 'up', fromMs: T0, toMs: T0 + 10_000 });
    expect(series?.points.map(([, v]) => v)).toEqual([1, 2, 3, 4]);
  });

  it('refuses to open when VictoriaMetrics is unreachable, naming the URL and the setting', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { config } = loadConfig(serverConfigSchema, {
      env: { FALCONET_STORE_ENGINE: 'victoriametrics', FALCONET_STORE_VICTORIAMETRICS_URL: url, FALCONET_DATA_DIR: tempDir() },
    });
    const err = await openStore(config).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'StartupError' });
    expect((err as Error).message).toBe(
      `samples store on VictoriaMetrics (store.victoriametrics.url ${url}): VictoriaMetrics at ${url} is unreachable (/health: ECONNREFUSED); start VictoriaMetrics there or fix the URL`,
    );
  });

  it('refuses a report while VictoriaMetrics is down, acknowledges nothing of it, and takes it once it is back', async () => {
    const store = await open();
    expect(await store.appendReport('a', 1, [sample('up', {}, 1, T0)])).toEqual({ duplicate: false });
    await vm.proc.stop();
    const err = await store.appendReport('a', 2, [sample('up', {}, 2, T0 + 1000)]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      new RegExp(`^reports not stored: VictoriaMetrics at ${vm.url} is unreachable \\(remote_write: (ECONNREFUSED|ECONNRESET)\\)$`),
    );
    // The server tells agents and API callers "unavailable, try again" (503), as for PostgreSQL.
    expect(isDatabaseUnavailable(err)).toBe(true);
    // The last sequence is read from VictoriaMetrics (an agent registering meanwhile is told to come back later).
    await expect(store.lastSeq('a')).rejects.toThrow(/unreachable/);
    await expect(store.resetSeq('a')).rejects.toThrow(/unreachable/);

    vm = await startVictoria(vm);
    expect(await store.lastSeq('a')).toBe(1);
    // The agent sends it again: the same sequence is new, not a duplicate.
    expect(await store.appendReport('a', 2, [sample('up', {}, 2, T0 + 1000)])).toEqual({ duplicate: false });
    expect(await store.appendReport('a', 2, [sample('up', {}, 2, T0 + 1000)])).toEqual({ duplicate: true });
    const [series] = await store.querySeries({ agentId: 'a', name: 'up', fromMs: T0, toMs: T0 + 10_000 });
    expect(series?.points).toEqual([
      [T0, 1],
      [T0 + 1000, 2],
    ]);
  });

  it('keeps counters exactly and gauges to within 1e-12 of their largest value (decimals sharing an exponent per block)', async () => {
    const store = await open();
    const gauge = Array.from({ length: 500 }, () => Math.random() * 100);
    const counter = Array.from({ length: 500 }, (_, i) => 2 ** 40 + i * 123_457);
    await store.appendReport('a', 1, [
      ...gauge.map((v, i) => sample('gauge', {}, v, T0 + i * 1000)),
      ...counter.map((v, i) => sample('counter', {}, v, T0 + i * 1000)),
    ]);
    const read = async (name: string) =>
      (await store.querySeries({ agentId: 'a', name, fromMs: T0, toMs: T0 + 500_000 }))[0]?.points.map((p) => p[1]);
    expect(await read('counter')).toEqual(counter);
    const got = (await read('gauge')) as number[];
    expect(got).toHaveLength(gauge.length);
    for (const [i, v] of got.entries()) expect(Math.abs(v - (gauge[i] as number))).toBeLessThanOrEqual(1e-12 * 100);
  });

  it('stores a report larger than one request allows in several, all of it', async () => {
    const store = await open();
    const samples: Sample[] = [];
    for (let c = 0; c < 60; c++) for (let i = 0; i < 2000; i++) samples.push(sample('big', { core: String(c) }, i, T0 + i * 1000));
    expect(await store.appendReport('a', 1, samples)).toEqual({ duplicate: false });
    const series = await store.querySeries({
      agentId: 'a',
      name: 'big',
      fromMs: T0,
      toMs: T0 + 2_000_000,
      stepMs: 10_000_000,
      agg: 'count',
    });
    expect(series).toHaveLength(60);
    expect(series.every((s) => s.points[0]?.[1] === 2000)).toBe(true);
    expect(await (await open()).lastSeq('a')).toBe(1);
  });

  it('says when the URL is not the base URL', async () => {
    const err = await VictoriaStore.open({ url: `${vm.url}/api/v1/write` }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(
      /answered \/health with HTTP 4\d\d.*; the URL must be VictoriaMetrics' base URL, without \/api\/v1\/write$/,
    );
  });

  it('keeps sample labels apart from its own: a sample label named falconet_agent or a metric named like the markers', async () => {
    const store = await open();
    const labels = { falconet_agent: 'evil', falconet_kind: 'seq', falconet_label_x: 'y', instance: 'h1' };
    await store.appendReport('a', 5, [sample('falconet_report_seq', labels, 1, T0), sample('m', labels, 2, T0)]);
    const again = await open();
    expect(await again.lastSeq('a')).toBe(5);
    expect(await again.lastSeq('evil')).toBe(0);
    expect(await again.metricNames('a')).toEqual(['falconet_report_seq', 'm']);
    expect(await again.metricNames('evil')).toEqual([]);
    const [s] = await again.querySeries({ agentId: 'a', name: 'm', labels: { falconet_agent: 'evil' }, fromMs: T0, toMs: T0 });
    expect(s).toEqual({ name: 'm', labels, points: [[T0, 2]] });
    const picked = await again.selectSeries({
      matchers: [
        { name: '__name__', op: '=', value: 'm', test: (v) => v === 'm' },
        { name: 'falconet_agent', op: '=', value: 'evil', test: (v) => v === 'evil' },
      ],
      fromMs: T0,
      toMs: T0,
    });
    expect(picked.map((p) => [p.agentId, p.name, p.labels, [...p.vs]])).toEqual([['a', 'm', labels, [2]]]);
  });

  it('fills an agent’s default labels before matching a selector (PromQL’s instance and job)', async () => {
    const store = await open();
    await store.appendReport('a', 1, [sample('up', {}, 1, T0), sample('up', { instance: 'own' }, 2, T0)]);
    await store.appendReport('b', 1, [sample('up', {}, 3, T0)]);
    const picked = await store.selectSeries({
      matchers: [
        { name: '__name__', op: '=', value: 'up', test: (v) => v === 'up' },
        { name: 'instance', op: '=~', value: 'host-a|own', test: (v) => v === 'host-a' || v === 'own' },
      ],
      fromMs: T0,
      toMs: T0,
      defaults: new Map([
        ['a', { instance: 'host-a' }],
        ['b', { instance: 'host-b' }],
      ]),
    });
    expect(picked.map((p) => [p.agentId, p.labels, [...p.vs]])).toEqual([
      ['a', {}, [1]],
      ['a', { instance: 'own' }, [2]],
    ]);
  });
});

describe('PromQL selectors on VictoriaMetrics', { timeout: 60_000 }, () => {
  // The same samples in the embedded store: what each selector picks there is the answer.
  const t = Date.now() - 60_000;
  const agents = [
    { id: 'push:a:9100', hostname: 'a:9100' },
    { id: 'push:b:9100', hostname: 'b:9100' },
    { id: 'agent-1', hostname: 'web-1' },
    { id: 'agent-2', hostname: 'web-2' },
  ];
  let vmStore: VictoriaStore;
  let reference: EmbeddedStore;
  beforeAll(async () => {
    await wipe(shared.url);
    vmStore = await VictoriaStore.open({ url: shared.url });
    reference = await EmbeddedStore.open({ dir: join(tempDir(), 'samples'), retention: { raw: 86_400_000 } });
    const cpu = (instance: string | undefined, mode: string, value: number, at = t): Sample => ({
      name: 'node_cpu_seconds_total',
      labels: { ...(instance ? { instance } : {}), job: 'node', mode },
      value,
      timestampMs: at,
    });
    const reports: [string, Sample[]][] = [
      // A pushed series that went stale: remote_write's staleness marker is stored as NaN.
      ['push:a:9100', [cpu('a:9100', 'idle', 1), cpu('a:9100', 'user', 2), cpu('a:9100', 'user', Number.NaN, t + 500)]],
      ['push:b:9100', [cpu('b:9100', 'idle', 3), cpu('b:9100', 'user', 4)]],
      ['agent-1', [sample('node_cpu_seconds_total', { mode: 'idle' }, 5, t), sample('node_load1', {}, 0.5, t)]],
      ['agent-2', [sample('node_cpu_seconds_total', { mode: 'idle', instance: 'own' }, 6, t), sample('node_load1', {}, 1.5, t)]],
    ];
    for (const [agent, samples] of reports) {
      await vmStore.appendReport(agent, 1, samples);
      await reference.appendReport(agent, 1, samples);
    }
  });
  afterAll(async () => {
    await vmStore?.close();
    await reference?.close();
  });

  const select = async (store: VictoriaStore | EmbeddedStore, ms: LabelMatcher[]) =>
    (await new StoreSeriesSource(store, () => agents).select(ms, t - 1000, t + 1000))
      .map((s) => JSON.stringify([s.metric, [...s.ts], [...s.vs].map(String), s.stale ?? null]))
      .sort();

  it.each<[string, LabelMatcher[], number]>([
    ['a name', [{ name: '__name__', op: '=', value: 'node_cpu_seconds_total' }], 6],
    ['an instance a push sent', [{ name: 'instance', op: '=', value: 'a:9100' }], 2],
    ['an agent’s hostname as instance', [{ name: 'instance', op: '=', value: 'web-1' }], 2],
    ['an agent’s own instance label', [{ name: 'instance', op: '=', value: 'own' }], 1],
    ['job falconet', [{ name: 'job', op: '=', value: 'falconet' }], 4],
    [
      'a negative on a filled-in label',
      [
        { name: 'instance', op: '!=', value: 'web-1' },
        { name: 'mode', op: '=', value: 'idle' },
      ],
      3,
    ],
    ['a regex on the name', [{ name: '__name__', op: '=~', value: 'node_(load|cpu).*' }], 8],
    ['a negative regex on the name only', [{ name: '__name__', op: '!~', value: 'node_cpu.*' }], 2],
    ['a regex on a sample label', [{ name: 'mode', op: '=~', value: 'user|steal' }], 2],
    [
      'a missing label',
      [
        { name: '__name__', op: '=', value: 'node_cpu_seconds_total' },
        { name: 'instance', op: '=', value: '' },
      ],
      0,
    ],
    ['nothing there', [{ name: 'mode', op: '=', value: 'steal' }], 0],
  ])('picks what the embedded store picks: %s', async (_, ms, n) => {
    const want = await select(reference, ms);
    expect(want).toHaveLength(n);
    expect(await select(vmStore, ms)).toEqual(want);
  });
});

describe('store.victoriametrics configuration', () => {
  const problems = (env: NodeJS.ProcessEnv): string[] => {
    try {
      loadConfig(serverConfigSchema, { env });
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  };

  it('names the field when the URL is missing or not http(s)', () => {
    expect(problems({ FALCONET_STORE_ENGINE: 'victoriametrics' })).toEqual([
      'configuration: store.victoriametrics.url: is required when store.engine is victoriametrics (e.g. http://127.0.0.1:8428)',
    ]);
    expect(problems({ FALCONET_STORE_ENGINE: 'victoriametrics', FALCONET_STORE_VICTORIAMETRICS_URL: 'localhost:8428' })).toEqual([
      expect.stringMatching(
        /^environment variable FALCONET_STORE_VICTORIAMETRICS_URL: store\.victoriametrics\.url: .*must be the http:\/\/ or https:\/\/ base URL of VictoriaMetrics/,
      ),
    ]);
    expect(problems({ FALCONET_STORE_ENGINE: 'victoriametrics', FALCONET_STORE_VICTORIAMETRICS_URL: 'ftp://vm:8428' })).toEqual([
      expect.stringMatching(/store\.victoriametrics\.url: .*must be the http:\/\/ or https:\/\/ base URL/),
    ]);
    expect(problems({ FALCONET_STORE_ENGINE: 'victoriametrics', FALCONET_STORE_VICTORIAMETRICS_URL: 'http://vm:8428' })).toEqual([]);
  });

  it('falconet-server migrate opens it, and says what is wrong when it cannot', async () => {
    const ok = await runServer(['migrate', '--data-dir', tempDir()], {
      FALCONET_STORE_ENGINE: 'victoriametrics',
      FALCONET_STORE_VICTORIAMETRICS_URL: shared.url,
    });
    expect(ok.code, ok.out.join('\n')).toBe(0);
    expect(ok.out).toContain('falconet-server: samples store (victoriametrics) is ready');
    const url = `http://127.0.0.1:${await freePort()}`;
    const down = await runServer(['migrate', '--data-dir', tempDir()], {
      FALCONET_STORE_ENGINE: 'victoriametrics',
      FALCONET_STORE_VICTORIAMETRICS_URL: url,
    });
    expect(down.code).toBe(2);
    expect(down.out.filter((l) => l.startsWith('falconet-server:'))).toEqual([
      `falconet-server: samples store on VictoriaMetrics (store.victoriametrics.url ${url}): VictoriaMetrics at ${url} is unreachable (/health: ECONNREFUSED); start VictoriaMetrics there or fix the URL`,
    ]);
  }, 30_000);
});
