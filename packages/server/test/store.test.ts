import { tempDir } from '../../../testing/processes.ts';
import { EmbeddedStore } from '../src/store/embedded/engine.ts';
import type { Store } from '../src/store/types.ts';
import { storeSuite } from './store-suite.ts';

storeSuite('embedded', async ({ now, retention, maxBytes }) => {
  const dir = tempDir('falconet-store-');
  // Small heads so the tests cross flushes and merges.
  const open = (cap = maxBytes) => EmbeddedStore.open({ dir, now, retention, maxBytes: cap, headMaxSamples: 20_000, compactFanIn: 3 });
  let store = await open();
  const h = {
    store: store as Store,
    async reopen() {
      await store.close();
      store = await open();
      h.store = store;
      return store;
    },
    async reopenWithCap(cap: number) {
      await store.close();
      store = await open(cap);
      h.store = store;
      return store;
    },
    settle: () => store.compactAll(),
    cleanup: () => store.close(),
  };
  return h;
});
