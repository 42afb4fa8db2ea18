import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  version: string;
  commit: string;
  buildDate: string;
  node: string;
  platform: string;
  /** The release target, e.g. linux-arm64: the one a single-file build was made for, else this host's. */
  target: string;
}

/** Set at bundling by npm run package (scripts/package): a single-file build has no package.json nor git beside it. */
declare const FALCONET_BUILD_INFO: { version: string; commit: string; buildDate: string; target: string } | undefined;

let cached: BuildInfo | undefined;

/**
 * Version, commit and build date. A build writes them to dist/build-info.json
 * (scripts/build-info.mjs); run from source, the commit comes from git and there is no build date.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const platform = `${process.platform}/${process.arch}`;
  if (typeof FALCONET_BUILD_INFO !== 'undefined') {
    cached = { ...FALCONET_BUILD_INFO, node: process.version, platform };
    return cached;
  }
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  let commit = 'unknown';
  let buildDate = 'unknown';
  try {
    const info = JSON.parse(readFileSync(new URL('./build-info.json', import.meta.url), 'utf8')) as { commit?: string; buildDate?: string };
    commit = info.commit ?? commit;
    buildDate = info.buildDate ?? buildDate;
  } catch {
    buildDate = 'none (running from source)';
    try {
      const dir = dirname(fileURLToPath(import.meta.url));
      commit = execFileSync('git', ['-C', dir, 'rev-parse', '--short=12', 'HEAD'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      // not a git checkout
    }
  }
  cached = { version: pkg.version, commit, buildDate, node: process.version, platform, target: `${process.platform}-${process.arch}` };
  return cached;
}
