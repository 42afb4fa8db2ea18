// The single-file agent's start (npm run package): hands the bundled collectors to the registry and
// writes the native helpers, carried as an asset, to a private file to load, then runs the CLI.

import collectors from 'falconet:collectors';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAsset, getRawAsset, isSea } from 'node:sea';
import { useBundledCollectors } from '../../packages/agent/src/collectors/registry.ts';
import { nativeHelpers, useNativeAddonFile } from '../../packages/agent/src/native.ts';
import { useBundledProbeWorker } from '../../packages/agent/src/probes/runner.ts';

useBundledCollectors(collectors);
if (isSea()) useBundledProbeWorker(getAsset('probe-worker.js', 'utf8'));
if (isSea() && process.env.FALCONET_NATIVE !== 'off') {
  // mkdtemp makes the directory 0700: no other user can swap the file between writing and loading.
  const dir = mkdtempSync(join(tmpdir(), 'falconet-agent-'));
  try {
    const file = join(dir, 'falconet_native.node');
    writeFileSync(file, new Uint8Array(getRawAsset('falconet_native.node')), { mode: 0o500 });
    useNativeAddonFile(file);
    // Loaded now, so the file can go: the mapping outlives it.
    nativeHelpers();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
void import('../../packages/agent/src/cli.ts');
