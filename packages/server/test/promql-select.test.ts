import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import type { LabelMatcher } from '../src/promql/ast.ts';
import { StoreSeriesSource } from '../src/promql/store-source.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';

/**
 * The PromQL view of the store prunes before it reads: written hosts an instance matcher rules out,
 * and series an equality matcher rules out. The answers must be what reading everything would give.
 */
describe('StoreSeriesSource.select', () => {
  let store: EmbeddedStore;
  const t = Date.now() - 60_000;
  const agents = [
    { id: 'push:a:9100', hostname: 'a:9100' },
    { id: 'push:b:9100', hostname: 'b:9100' },
    { id: 'push:recorder', hostname: 'recorder' },
    { id: 'agent-1', hostname: 'web-1' },
  ];

  beforeAll(async () => {
    store = await EmbeddedStore.open({ dir: join(tempDir(), 'samples'), retention: { raw: 86_400_000 } });
    const cpu = (instance: string | undefined, mode: string) => ({
      name: 'node_cpu_seconds_total',
      labels: { ...(instance ? { instance } : {}), job: 'node', mode },
      value: mode.length,
      timestampMs: t,
    });
    await store.appendReport('push:a:9100', 1, [cpu('a:9100', 'idle'), cpu('a:9100', 'user')]);
    await store.appendReport('push:b:9100', 1, [cpu('b:9100', 'idle'), cpu('b:9100', 'user')]);
    // A recording rule's result: no instance label, stored under its sender.
    await store.appendReport('push:recorder', 1, [cpu(undefined, 'idle')]);
    // An agent's own series: instance and job come from the registry (web-1, falconet).
    await store.appendReport('agent-1', 1, [{ name: 'node_cpu_seconds_total', labels: { mode: 'idle' }, value: 4, timestampMs: t }]);
  });
  afterAll(async () => {
    await store?.close();
  });

  const select = async (ms: LabelMatcher[]) =>
    (
      await new StoreSeriesSource(store, () => agents).select(
        [{ name: '__name__', op: '=', value: 'node_cpu_seconds_total' }, ...ms],
        t - 1000,
        t + 1000,
      )
    )
      .map((s) => `${s.metric.instance ?? ''}/${s.metric.job}/${s.metric.mode}`)
      .sort();

  it('answers as if it read every host', async () => {
    expect(await select([{ name: 'instance', op: '=', value: 'a:9100' }])).toEqual(['a:9100/node/idle', 'a:9100/node/user']);
    expect(
      await select([
        { name: 'instance', op: '=', value: 'web-1' },
        { name: 'job', op: '=', value: 'falconet' },
      ]),
    ).toEqual(['web-1/falconet/idle']);
    expect(
      await select([
        { name: 'instance', op: '!=', value: 'a:9100' },
        { name: 'mode', op: '=', value: 'idle' },
      ]),
    ).toEqual(['/node/idle', 'b:9100/node/idle', 'web-1/falconet/idle']);
    expect(await select([{ name: 'instance', op: '=', value: '' }])).toEqual(['/node/idle']);
    expect(
      await select([
        { name: 'instance', op: '=~', value: '(a|b):9100' },
        { name: 'mode', op: '=', value: 'user' },
      ]),
    ).toEqual(['a:9100/node/user', 'b:9100/node/user']);
    expect(await select([{ name: 'mode', op: '=', value: 'steal' }])).toEqual([]);
  });
});
