// The single-file server's start (npm run package): hands over the dashboard, the store worker and the
// migrations it carries, then runs the CLI.

import migrations from 'falconet:migrations';
import { getAsset, getRawAsset, isSea } from 'node:sea';
import { useBundledMigrations } from '../../packages/server/src/db/index.ts';
import { useBundledStoreWorker } from '../../packages/server/src/store/embedded/jobs.ts';
import { useBundledWeb } from '../../packages/server/src/web-assets.ts';

useBundledMigrations(migrations);
if (isSea()) {
  useBundledStoreWorker(getAsset('store-worker.js', 'utf8'));
  const index = JSON.parse(getAsset('web/index.json', 'utf8')) as string[];
  useBundledWeb(new Map(index.map((path) => [path, Buffer.from(getRawAsset(`web/${path}`))])));
}
void import('../../packages/server/src/cli.ts');
