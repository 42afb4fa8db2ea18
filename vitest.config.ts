import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the "source" export condition,
// so tests never need a build first.
const conditions = ['source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    projects: [
      { extends: true, test: { name: 'protocol', root: 'packages/protocol', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'agent', root: 'packages/agent', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'server', root: 'packages/server', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'web',
          root: 'packages/web',
          include: ['test/**/*.test.ts?(x)'],
          // The dashboard's code runs in a browser: its tests get a DOM, and components render into it.
          environment: 'happy-dom',
          setupFiles: ['./test/setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          root: 'e2e',
          include: ['**/*.test.ts'],
          globalSetup: ['./global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
