import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { PartSet } from '../src/store/embedded/manifest.ts';

/**
 * A bucketed query pins the parts it reads, reads them, then reads the heads not flushed yet. A head
 * whose flush landed in between was in neither, and the query missed its samples (the traffic
 * accounting beside vnstat once read 40 MB less than a moment before). On a quiet machine a flush
 * rarely lands inside a query's reads, so this test holds the query's first file read (a part's
 * timestamp columns, read on first use) until a whole flush has gone through: a slow disk, on cue.
 */
describe('a query while a head flushes', () => {
  it('counts every sample, from the parts or from the head, never neither', async () => {
    const dir = tempDir('falconet-flush-race-');
    const store = await EmbeddedStore.open({ dir });
    const t0 = Date.now() - 600_000;
    const sample = (i: number): Sample => ({ name: 'bytes', labels: { device: 'eth0' }, value: i, timestampMs: t0 + i * 1000 });
    // Reads of a pinned part through the thread pool all go through PartSet.read.
    const proto = PartSet.prototype as unknown as { read: (...args: unknown[]) => Promise<unknown> };
    const read = proto.read;
    let hold: Promise<void> | undefined;
    let held = false;
    proto.read = function (this: unknown, ...args: unknown[]) {
      const gate = hold;
      if (!gate) return read.apply(this, args);
      hold = undefined;
      held = true;
      return gate.then(() => read.apply(this, args));
    };
    try {
      // One part on disk whose timestamps no query has read yet, then samples in the head.
      for (let i = 0; i < 10; i++) await store.appendReport('a', i + 1, [sample(i)]);
      await store.flush();
      for (let i = 10; i < 20; i++) await store.appendReport('a', i + 1, [sample(i)]);

      let release = () => {};
      hold = new Promise<void>((r) => {
        release = r;
      });
      const query = store.querySeries({
        agentId: 'a',
        name: 'bytes',
        fromMs: t0 - 60_000,
        toMs: t0 + 60_000,
        stepMs: 60_000,
        agg: 'count',
      });
      // The query waits at its first read; the head flushes meanwhile, and then the read goes on.
      await store.flush();
      expect(held).toBe(true);
      release();
      const counted = (await query)[0]?.points.reduce((n, [, v]) => n + v, 0);
      expect(counted).toBe(20);
    } finally {
      proto.read = read;
      await store.close();
    }
  });
});

/** The part files this process holds open under `dir`. */
function openParts(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(join('/proc/self/fd', fd));
      if (target.startsWith(join(dir, 'parts'))) out.push(target);
    } catch {}
  }
  return out.sort();
}

describe('parts read by queries', () => {
  it('are open only while queries hold them, and deleted once merged away, whatever the queries skipped', async () => {
    const dir = tempDir('falconet-part-refs-');
    const store = await EmbeddedStore.open({ dir, headMaxSamples: 20_000, compactFanIn: 3 });
    const t0 = Date.now() - 3 * 3_600_000;
    try {
      let seq = 0;
      for (let k = 0; k < 180; k++) {
        const t = t0 + k * 60_000;
        await store.appendReport('a', ++seq, [{ name: 'cpu', labels: {}, value: k, timestampMs: t }]);
        // Flushes and rollups along the way, and queries of every kind between them: a bucketed
        // query reads the rollups and skips raw parts already rolled up.
        if (k % 30 === 29) {
          await store.flush();
          const range = { agentId: 'a', name: 'cpu', fromMs: t0, toMs: t };
          await store.querySeries(range);
          await store.querySeries({ ...range, stepMs: 60_000, agg: 'max' });
          await store.querySeries({ ...range, stepMs: 3_600_000, agg: 'avg' });
          await store.queryAggregate({ name: 'cpu', fromMs: t0, toMs: t, stepMs: 60_000 });
        }
      }
      await store.compactAll();
      // Files whose parts were merged away go once no query holds them; give the deletes a moment.
      await new Promise((r) => setTimeout(r, 100));
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { parts: { tier: string; id: string }[] };
      const listed = manifest.parts.map((p) => join(dir, 'parts', `${p.tier}-${p.id}.part`)).sort();
      expect(
        readdirSync(join(dir, 'parts'))
          .map((f) => join(dir, 'parts', f))
          .sort(),
      ).toEqual(listed);
      // A part's file is open only while a query holds it: none between queries.
      expect(listed.length).toBeGreaterThan(1);
      expect(openParts(dir)).toEqual([]);
      expect((await store.querySeries({ agentId: 'a', name: 'cpu', fromMs: t0, toMs: Date.now() }))[0]?.points).toHaveLength(180);
      expect(openParts(dir)).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe('series keys of shared labels objects', () => {
  it('keeps one labels object under two names as two series, and each agent its own', async () => {
    const store = await EmbeddedStore.open({ dir: tempDir('falconet-shared-labels-') });
    try {
      const t = Date.now() - 60_000;
      // The agent channel's decoders hand alike series of every agent the same labels object.
      const shared = { device: 'sda' };
      const report = (v: number): Sample[] => [
        { name: 'reads', labels: shared, value: v, timestampMs: t },
        { name: 'writes', labels: shared, value: v * 10, timestampMs: t },
      ];
      await store.appendReport('a', 1, report(1));
      await store.appendReport('b', 1, report(2));
      const q = (agentId: string, name: string) =>
        store.querySeries({ agentId, name, fromMs: t - 1000, toMs: t + 1000 }).then((r) => r.map((s) => [s.labels, s.points]));
      expect(await q('a', 'reads')).toEqual([[{ device: 'sda' }, [[t, 1]]]]);
      expect(await q('a', 'writes')).toEqual([[{ device: 'sda' }, [[t, 10]]]]);
      expect(await q('b', 'reads')).toEqual([[{ device: 'sda' }, [[t, 2]]]]);
      expect(await q('b', 'writes')).toEqual([[{ device: 'sda' }, [[t, 20]]]]);
      expect((await store.stats()).series).toBe(4);
    } finally {
      await store.close();
    }
  });
});
