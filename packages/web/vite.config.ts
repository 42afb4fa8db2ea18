import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

// The dashboard is served by falconet-server from its `public` directory.
export default defineConfig({
  plugins: [react()],
  // Workspace packages from their TypeScript sources, as the tests take them (the API contract's enum values).
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: {
    outDir: '../server/public',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
    // The public status page is an entry of its own: its visitors load that page's code, not the dashboard's.
    rollupOptions: { input: { index: 'index.html', status: 'status.html' } },
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:7070', ws: true },
    },
  },
});
