import type { Sample } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';

const MB = 2 ** 20;

describe("the store workers' memory", () => {
  it('is reported after each job, without the head it was handed', async () => {
    const dir = tempDir('falconet-store-workers-');
    // A head of 3 M samples' room (20 bytes a sample: 60 MB of shared arrays) handed to the flush worker.
    const store = await EmbeddedStore.open({ dir, headMaxSamples: 3_000_000 });
    try {
      const before = await store.stats();
      expect(before.workers?.map((w) => w.name)).toEqual(['falconet-store-flush', 'falconet-store-compact']);
      expect(before.workers?.every((w) => w.heapUsed === 0)).toBe(true);

      const t0 = Date.now() - 3_600_000;
      for (let r = 0; r < 12; r++) {
        const samples: Sample[] = Array.from({ length: 100_000 }, (_, i) => ({
          name: 'm',
          labels: { i: String(i % 1000) },
          value: i,
          timestampMs: t0 + r * 10_000 + Math.floor(i / 1000),
        }));
        await store.appendReport('a', r + 1, samples);
      }
      expect((await store.stats()).headSamples).toBe(1_200_000);
      await store.flush();

      // The worker says what it holds once its job has returned: its heap, and outside it its own
      // buffers (about 11 to 16 MB measured), not the 60 MB head it was handed. (Whether the
      // collection after a job matters shows at a fleet's scale, in bench/ingest.ts: at this size
      // V8 collects during the job anyway.)
      const flusher = await eventually(async () => {
        const w = (await store.stats()).workers?.[0];
        return w && w.heapUsed > 0 ? w : undefined;
      });
      expect(flusher.heapTotal).toBeGreaterThanOrEqual(flusher.heapUsed);
      expect(flusher.external).toBeLessThan(30 * MB);
    } finally {
      await store.close();
    }
  }, 60_000);
});
