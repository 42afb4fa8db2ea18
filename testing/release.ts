import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** The inputs of a build: what a cached build is keyed by. */
function sourceKey(extra: string): string {
  const hash = createHash('sha256').update(extra);
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name === 'node_modules' || e.name === 'dist' || e.name === 'build') continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) hash.update(path.slice(ROOT.length)).update(readFileSync(path));
    }
  };
  for (const pkg of readdirSync(join(ROOT, 'packages'))) {
    walk(join(ROOT, 'packages', pkg, 'src'));
    walk(join(ROOT, 'packages', pkg, 'native'));
  }
  walk(join(ROOT, 'packages', 'server', 'public'));
  walk(join(ROOT, 'scripts', 'package'));
  // What the .deb packages carry besides the executables.
  walk(join(ROOT, 'deploy', 'deb'));
  walk(join(ROOT, 'deploy', 'systemd'));
  hash.update(readFileSync(join(ROOT, 'package.json'))).update(readFileSync(join(ROOT, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

export interface BuildOptions {
  /** Targets to build; both by default. */
  targets?: readonly ('linux-x64' | 'linux-arm64')[];
  /** The version the binaries carry instead of package.json's (FALCONET_BUILD_VERSION). */
  version?: string;
}

async function build(dir: string, keyDir: string, options: BuildOptions): Promise<Release> {
  const keyFile = join(keyDir, 'release.key');
  const key = existsSync(keyFile) ? { privateKey: keyFile, publicKey: join(keyDir, 'release.pub') } : writeKeyPair(keyDir, 'release');
  const other = existsSync(join(keyDir, 'other.pub')) ? { publicKey: join(keyDir, 'other.pub') } : writeKeyPair(keyDir, 'other');
  const targets = options.targets ?? ['linux-x64', 'linux-arm64'];
  const args = [join(ROOT, 'scripts/package/main.ts'), '--key', key.privateKey, '--out', dir, '--targets', targets.join(',')];
  const env = { ...process.env, ...(options.version ? { FALCONET_BUILD_VERSION: options.version } : {}) };
  await promisify(execFile)(process.execPath, args, { cwd: ROOT, env, maxBuffer: 64 * 1024 * 1024 });
  const version = options.version ?? (await import('../package.json', { with: { type: 'json' } })).default.version;
  const release: Release = {
    dir,
    version,
    keyDir,
    publicKey: key.publicKey,
    otherPublicKey: other.publicKey,
    file: (name, target, tarball = false) => join(dir, `${name}-${version}-${target}${tarball ? '.tar.gz' : ''}`),
  };
  for (const target of targets) {
    for (const name of ['falconet-agent', 'falconet-server'] as const) {
      if (!existsSync(release.file(name, target))) throw new Error(`the build left no ${release.file(name, target)}`);
    }
  }
  return release;
}

/**
 * Runs `npm run package`'s script once into a temporary directory, signed with a fresh key. The
 * Node binaries it starts from stay cached under $HOME/.cache/falconet-package between runs.
 */
export async function buildRelease(options: BuildOptions = {}): Promise<Release> {
  return await build(tempDir('falconet-release-'), tempDir('falconet-release-keys-'), options);
}

/**
 * One build shared by every test file of a run that asks for the same sources, targets and version:
 * the first caller builds it under $TMPDIR/falconet-release-shared (a lock directory keeps the
 * others waiting), later callers get it at once. All share one release key. Never remove its files.
 */
export async function sharedRelease(options: BuildOptions = {}): Promise<Release> {
  const targets = [...(options.targets ?? ['linux-x64', 'linux-arm64'])].sort();
  const base = join(tmpdir(), 'falconet-release-shared');
  mkdirSync(base, { recursive: true });
  const keyDir = join(base, 'keys');
  const id = sourceKey(`${targets.join(',')}|${options.version ?? ''}`);
  const dir = join(base, id);
  const lock = join(base, `${id}.lock`);
  const done = join(dir, '.complete');
  for (;;) {
    if (existsSync(done)) break;
    try {
      mkdirSync(lock);
    } catch {
      // Another file is building it; a lock older than 20 minutes is a dead build's.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 20 * 60_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    try {
      if (!existsSync(keyDir)) {
        const staging = `${keyDir}.${process.pid}`;
        mkdirSync(staging, { recursive: true });
        writeKeyPair(staging, 'release');
        writeKeyPair(staging, 'other');
        renameSync(staging, keyDir);
      }
      // Builds of older sources, finished over two hours ago, are nobody's any more (500 MB each).
      for (const old of readdirSync(base)) {
        const complete = statSync(join(base, old, '.complete'), { throwIfNoEntry: false });
        if (old !== id && complete && Date.now() - complete.mtimeMs > 2 * 3600_000)
          rmSync(join(base, old), { recursive: true, force: true });
      }
      await build(dir, keyDir, { ...options, targets });
      writeFileSync(done, new Date().toISOString());
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  const version = options.version ?? (await import('../package.json', { with: { type: 'json' } })).default.version;
  return {
    dir,
    version,
    keyDir,
    publicKey: join(keyDir, 'release.pub'),
    otherPublicKey: join(keyDir, 'other.pub'),
    file: (name, target, tarball = false) => join(dir, `${name}-${version}-${target}${tarball ? '.tar.gz' : ''}`),
  };
}

/** An environment for a single-file binary: no Node.js on PATH, no module paths, no Node options. */
export function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: '/nonexistent', NODE_PATH: '', NODE_OPTIONS: '', ...extra };
}

/**
 * A stand-in agent binary for tests of the release store and the install routes: the first 64 bytes
 * of a 64-bit little-endian ELF file for x86-64 (what `release add` checks for linux-x64), then `text`.
 */
export function fakeAgentBinary(text: string): Buffer {
  const head = Buffer.alloc(64);
  head.write('\x7fELF', 0, 'latin1');
  head[4] = 2; // 64-bit
  head[5] = 1; // little-endian
  head.writeUInt16LE(62, 18); // EM_X86_64
  return Buffer.concat([head, Buffer.from(text)]);
}
