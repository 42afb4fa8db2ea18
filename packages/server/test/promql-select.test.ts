import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDatabase, type TempDatabase } from '../../../testing/postgres.ts';
import { tempDir } from '../../../testing/processes.ts';
import type { LabelMatcher } from '../src/promql/ast.ts';
import { StoreSeriesSource } from '../src/promql/store-source.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { PostgresStore } from '../src/store/postgres/engine.ts';
import type { Store } from '../src/store/types.ts';

/**
 * The PromQL view of the store picks series through the cross-host series index (store/postings.ts)
 * before it reads, on both engines, and host by host on a store without one. The answers must be
 * what reading everything would give.
 */
for (const engine of ['embedded', 'postgres', 'embedded without the index'] as const)
  describe(`StoreSeriesSource.select on the ${engine} store`, () => {
    let store: Store;
    let db: TempDatabase | undefined;
    const t = Date.now() - 60_000;
    const agents = [
      { id: 'push:a:9100', hostname: 'a:9100' },
      { id: 'push:b:9100', hostname: 'b:9100' },
      { id: 'push:recorder', hostname: 'recorder' },
      { id: 'agent-1', hostname: 'web-1' },
    ];

    beforeAll(async () => {
      if (engine === 'postgres') {
        db = await createTempDatabase();
        store = await PostgresStore.open({ url: db.url, retention: { raw: 86_400_000 } });
      } else {
        const embedded = await EmbeddedStore.open({ dir: join(tempDir(), 'samples'), retention: { raw: 86_400_000 } });
        // The host-by-host path a store without selectSeries takes.
        if (engine === 'embedded without the index') Object.defineProperty(embedded, 'selectSeries', { value: undefined });
        store = embedded;
      }
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
      await db?.drop();
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

    it('picks by regular expressions over names and by listed values, and by an agent’s instance and job', async () => {
      const source = new StoreSeriesSource(store, () => agents);
      const keys = async (ms: LabelMatcher[]) =>
        (await source.select(ms, t - 1000, t + 1000)).map((s) => `${s.metric.__name__}/${s.metric.instance ?? ''}/${s.metric.mode}`).sort();
      expect(
        await keys([
          { name: '__name__', op: '=~', value: 'node_cpu_.*' },
          { name: 'instance', op: '=', value: 'web-1' },
        ]),
      ).toEqual(['node_cpu_seconds_total/web-1/idle']);
      expect(await keys([{ name: '__name__', op: '!~', value: 'node_.*' }])).toEqual([]);
      expect(
        await keys([
          { name: 'mode', op: '=~', value: 'user|steal' },
          { name: 'instance', op: '=~', value: 'web-1|b:9100' },
        ]),
      ).toEqual(['node_cpu_seconds_total/b:9100/user']);
      expect(await keys([{ name: 'job', op: '=~', value: 'falconet|other' }])).toEqual(['node_cpu_seconds_total/web-1/idle']);
      // A regular expression that only looks like a list: "." is any character.
      expect(await keys([{ name: 'instance', op: '=~', value: 'a.9100' }])).toEqual([
        'node_cpu_seconds_total/a:9100/idle',
        'node_cpu_seconds_total/a:9100/user',
      ]);
    });

    it('leaves out a host the registry no longer lists', async () => {
      const fewer = agents.filter((a) => a.id !== 'push:b:9100');
      const got = await new StoreSeriesSource(store, () => fewer).select([{ name: 'mode', op: '=', value: 'user' }], t - 1000, t + 1000);
      expect(got.map((s) => s.metric.instance)).toEqual(['a:9100']);
    });
  });
