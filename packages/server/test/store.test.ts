import { tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import { reopenableStore, storeSuite } from './store-suite.ts';

storeSuite('embedded', async ({ now, retention, maxBytes }) => {
  const dir = tempDir('falconet-store-');
  // Small heads so the tests cross flushes and merges.
  const open = (cap = maxBytes) => EmbeddedStore.open({ dir, now, retention, maxBytes: cap, headMaxSamples: 20_000, compactFanIn: 3 });
  return await reopenableStore(open, { settle: (store) => store.compactAll() });
});
