import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, tempDir } from './processes.ts';

export interface Release {
  dir: string;
  version: string;
  keyDir: string;
  /** The release key's public half, and another key's, as PEM files. */
  publicKey: string;
  otherPublicKey: string;
  file(name: 'falconet-agent' | 'falconet-server', target: 'linux-x64' | 'linux-arm64', tarball?: boolean): string;
}

/** Writes an Ed25519 key pair as PEM files (falconet-release.key / .pub style) under dir with the given stem. */
export function writeKeyPair(dir: string, stem: string): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const files = { privateKey: join(dir, `${stem}.key`), publicKey: join(dir, `${stem}.pub`) };
  writeFileSync(files.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(files.publicKey, publicKey.export({ type: 'spki', format: 'pem' }));
  return files;
}

/**
 * Runs `npm run package`'s script once into a temporary directory, signed with a fresh key. The
 * Node binaries it starts from stay cached under $HOME/.cache/falconet-package between runs.
 */
export async function buildRelease(): Promise<Release> {
  const dir = tempDir('falconet-release-');
  const keyDir = tempDir('falconet-release-keys-');
  const key = writeKeyPair(keyDir, 'release');
  const other = writeKeyPair(keyDir, 'other');
  await promisify(execFile)(process.execPath, [join(ROOT, 'scripts/package/main.ts'), '--key', key.privateKey, '--out', dir], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  const version = (await import('../package.json', { with: { type: 'json' } })).default.version;
  const release: Release = {
    dir,
    version,
    keyDir,
    publicKey: key.publicKey,
    otherPublicKey: other.publicKey,
    file: (name, target, tarball = false) => join(dir, `${name}-${version}-${target}${tarball ? '.tar.gz' : ''}`),
  };
  for (const target of ['linux-x64', 'linux-arm64'] as const) {
    for (const name of ['falconet-agent', 'falconet-server'] as const) {
      if (!existsSync(release.file(name, target))) throw new Error(`the build left no ${release.file(name, target)}`);
    }
  }
  return release;
}

/** An environment for a single-file binary: no Node.js on PATH, no module paths, no Node options. */
export function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: '/nonexistent', NODE_PATH: '', NODE_OPTIONS: '', ...extra };
}
