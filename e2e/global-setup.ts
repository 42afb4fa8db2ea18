import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../testing/processes.ts';

const WEB = join(ROOT, 'packages/web');
const BUILT = join(ROOT, 'packages/server/public/index.html');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The browser tests need the built dashboard, and it must be built from the sources being tested. */
export default function setup(): void {
  let builtAt = 0;
  try {
    builtAt = statSync(BUILT).mtimeMs;
  } catch {
    // never built
  }
  const sourcesAt = Math.max(
    newestMtime(join(WEB, 'src')),
    // The dashboard bundles the API contract's enum values.
    newestMtime(join(ROOT, 'packages/protocol/src/api')),
    statSync(join(WEB, 'index.html')).mtimeMs,
    statSync(join(WEB, 'status.html')).mtimeMs,
    statSync(join(WEB, 'vite.config.ts')).mtimeMs,
  );
  if (builtAt > sourcesAt) return;
  // Vitest sets NODE_ENV=test, which would make Vite bundle React's development build (StrictMode
  // double renders and all): the tests exercise what `npm run build` ships.
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
    cwd: WEB,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
}
