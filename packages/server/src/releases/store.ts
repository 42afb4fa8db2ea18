/**
 * The release store on disk (docs/update.md): agent binaries the server may offer, each with its
 * signed manifest, under `<data dir>/releases/<version>/<target>/`, and the Ed25519 release key
 * that signs them (`<data dir>/release-signing-key.pem`, apart from the task-signing key).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  canonicalManifest,
  compareVersions,
  isVersion,
  parseManifest,
  RELEASE_NAME,
  RELEASE_TARGETS,
  type ReleaseManifest,
  type ReleaseTarget,
} from '@falconet/protocol';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';

export const RELEASE_KEY_FILE = 'release-signing-key.pem';
export const RELEASES_DIR = 'releases';
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';

/** The ELF machine each target runs on (e_machine: 62 EM_X86_64, 183 EM_AARCH64). */
const ELF_MACHINE: Record<ReleaseTarget, number> = { 'linux-x64': 62, 'linux-arm64': 183 };
const MACHINE_NAME: Record<number, string> = { 3: 'x86 (32-bit)', 40: 'ARM (32-bit)', 62: 'x86-64', 183: 'aarch64', 243: 'RISC-V' };

/** A user's mistake: the CLI prints it and exits 2; the API answers 400. */
export class ReleaseError extends Error {}

export function isReleaseTarget(t: string): t is ReleaseTarget {
  return (RELEASE_TARGETS as readonly string[]).includes(t);
}

/** The server's Ed25519 release key, made on first need (0600). */
export function loadReleaseKey(dataDir: string): { key: KeyObject; created: boolean } {
  const file = join(dataDir, RELEASE_KEY_FILE);
  if (existsSync(file)) {
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ReleaseError(`${file}: not a PEM private key (${(err as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new ReleaseError(`${file}: a ${key.asymmetricKeyType} key, not Ed25519`);
    return { key, created: false };
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: PRIVATE_FILE_MODE });
  renameSync(tmp, file);
  return { key: privateKey, created: true };
}

export function publicKeyPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

/** Why `bytes` (the start of a file) is not an executable for `target`, or undefined when it is. */
export function elfProblem(head: Buffer, target: ReleaseTarget): string | undefined {
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF executable (no ELF header)';
  if (head[4] !== 2) return 'a 32-bit ELF file; the agent binaries are 64-bit';
  const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
  const want = ELF_MACHINE[target];
  if (machine !== want) {
    return `an ELF binary for ${MACHINE_NAME[machine] ?? `machine ${machine}`}, but target ${target} needs ${MACHINE_NAME[want]}`;
  }
  return undefined;
}

/** `falconet-agent-<version>-<target>`, as `npm run package` names its binaries. */
export function parseReleaseFileName(name: string): { version: string; target: string } | undefined {
  const m = /^falconet-agent-(.+)-(linux-[a-z0-9]+)$/.exec(name);
  return m ? { version: m[1] as string, target: m[2] as string } : undefined;
}

/**
 * Checks `file` against a SHA256SUMS signed by `publicKeyPem` (as `npm run package` writes them):
 * the signature first, then the file's hash, by its name or else by its content. Throws saying what failed.
 */
export function checkSignedSums(file: string, sumsFile: string, sigFile: string, publicKeyFile: string, sha256: string): void {
  const read = (f: string, what: string): Buffer => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new ReleaseError(`${what} ${f}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const sums = read(sumsFile, '--sums');
  const sig = Buffer.from(read(sigFile, '--sums-sig').toString('utf8').trim(), 'base64');
  let key: KeyObject;
  try {
    key = createPublicKey(read(publicKeyFile, '--public-key'));
  } catch (err) {
    if (err instanceof ReleaseError) throw err;
    throw new ReleaseError(`--public-key ${publicKeyFile}: not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new ReleaseError(`--public-key ${publicKeyFile}: a ${key.asymmetricKeyType} key, not Ed25519`);
  if (sig.length !== 64 || !verify(null, sums, key, sig)) {
    throw new ReleaseError(`--sums-sig ${sigFile}: the signature of ${sumsFile} does not match --public-key ${publicKeyFile}`);
  }
  const listed = new Map<string, string>();
  sums
    .toString('utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (!m) throw new ReleaseError(`--sums ${sumsFile}:${i + 1}: not a "SHA256  NAME" line`);
      listed.set(m[2] as string, m[1] as string);
    });
  const name = basename(file);
  const byName = listed.get(name);
  if (byName !== undefined && byName !== sha256) {
    throw new ReleaseError(`${file}: its SHA-256 is ${sha256}, but the signed ${sumsFile} lists ${byName} for ${name}`);
  }
  if (byName === undefined && ![...listed.values()].includes(sha256)) {
    throw new ReleaseError(`${file}: not listed in the signed ${sumsFile}, and its content matches no file there`);
  }
}

export interface StoredRelease {
  manifest: ReleaseManifest;
  /** The canonical manifest bytes and their signature, as offered to agents. */
  manifestBytes: Buffer;
  signature: Buffer;
  /** The binary's path. */
  path: string;
}

export interface AddOptions {
  file: string;
  version?: string | undefined;
  target?: string | undefined;
  minVersion?: string | undefined;
  force?: boolean | undefined;
  sums?: { sums: string; sig: string; publicKey: string } | undefined;
  nowMs?: number;
}

export class ReleaseStore {
  readonly dataDir: string;
  readonly root: string;
  #key: KeyObject | undefined;

  constructor(dataDir: string) {
    this.dataDir = dataDir;
    this.root = join(dataDir, RELEASES_DIR);
  }

  /** The release key, made on first need. */
  key(): KeyObject {
    this.#key ??= loadReleaseKey(this.dataDir).key;
    return this.#key;
  }

  publicKeyPem(): string {
    return publicKeyPem(this.key());
  }

  /** The release key's public half as base64 of its 32 raw bytes: one line, for a config file. */
  publicKeyBase64(): string {
    const jwk = createPublicKey(this.key()).export({ format: 'jwk' }) as { x: string };
    return Buffer.from(jwk.x, 'base64url').toString('base64');
  }

  dir(version: string, target: string): string {
    return join(this.root, version, target);
  }

  /** Adds a binary: checks it, copies it in, writes and signs its manifest. Returns what was stored. */
  add(o: AddOptions): StoredRelease {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(o.file);
    } catch (err) {
      throw new ReleaseError(`${o.file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (!st.isFile()) throw new ReleaseError(`${o.file}: not a regular file`);
    const fromName = parseReleaseFileName(basename(o.file));
    const version = o.version ?? fromName?.version;
    const target = o.target ?? fromName?.target;
    if (!version) {
      throw new ReleaseError(`${o.file}: give --version (the file name is not falconet-agent-<version>-<target>)`);
    }
    if (!target) throw new ReleaseError(`${o.file}: give --target (the file name is not falconet-agent-<version>-<target>)`);
    if (!isVersion(version)) throw new ReleaseError(`version "${version}" is not a version (MAJOR.MINOR.PATCH, e.g. 1.2.3)`);
    if (!isReleaseTarget(target)) throw new ReleaseError(`target "${target}" is not one of ${RELEASE_TARGETS.join(', ')}`);
    const minVersion = o.minVersion ?? '0.0.0';
    if (!isVersion(minVersion)) throw new ReleaseError(`--min-version "${minVersion}" is not a version (MAJOR.MINOR.PATCH)`);
    if (compareVersions(minVersion, version) > 0) {
      throw new ReleaseError(`--min-version ${minVersion} is above the release's own version ${version}`);
    }
    const bytes = readFileSync(o.file);
    const elf = elfProblem(bytes.subarray(0, 64), target);
    if (elf) throw new ReleaseError(`${o.file}: ${elf}`);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (o.sums) checkSignedSums(o.file, o.sums.sums, o.sums.sig, o.sums.publicKey, sha256);
    const dir = this.dir(version, target);
    if (existsSync(join(dir, MANIFEST_FILE)) && !o.force) {
      throw new ReleaseError(`release ${version} for ${target} is already stored (in ${dir}); add --force to replace it`);
    }
    const manifest: ReleaseManifest = {
      name: RELEASE_NAME,
      version,
      target,
      sha256,
      size: bytes.length,
      min_version: minVersion,
      created_ms: o.nowMs ?? Date.now(),
    };
    const manifestBytes = canonicalManifest(manifest);
    const signature = sign(null, manifestBytes, this.key());
    // Written beside and renamed in, so a reader never sees half a binary under a manifest.
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const put = (name: string, data: Buffer | string) => {
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      writeFileSync(tmp, data, { mode: 0o644 });
      chmodSync(tmp, 0o644);
      renameSync(tmp, join(dir, name));
    };
    put(RELEASE_NAME, bytes);
    put(SIGNATURE_FILE, `${signature.toString('base64')}\n`);
    put(MANIFEST_FILE, manifestBytes);
    return { manifest, manifestBytes, signature, path: join(dir, RELEASE_NAME) };
  }

  /** One stored release, or undefined when it is not there (or not whole). */
  get(version: string, target: string): StoredRelease | undefined {
    if (!isVersion(version) || !isReleaseTarget(target)) return undefined;
    const dir = this.dir(version, target);
    let manifestBytes: Buffer;
    let sig: string;
    try {
      manifestBytes = readFileSync(join(dir, MANIFEST_FILE));
      sig = readFileSync(join(dir, SIGNATURE_FILE), 'utf8');
    } catch {
      return undefined;
    }
    const manifest = parseManifest(manifestBytes);
    return { manifest, manifestBytes, signature: Buffer.from(sig.trim(), 'base64'), path: join(dir, RELEASE_NAME) };
  }

  /** Every stored release, newest version first. A directory that is not a whole release is skipped. */
  list(): StoredRelease[] {
    const out: StoredRelease[] = [];
    let versions: string[] = [];
    try {
      versions = readdirSync(this.root);
    } catch {
      return out;
    }
    for (const v of versions.filter(isVersion)) {
      for (const t of readdirSync(join(this.root, v))) {
        try {
          const r = this.get(v, t);
          if (r) out.push(r);
        } catch {
          // a manifest that does not parse is not offered; `release remove` clears it
        }
      }
    }
    return out.sort(
      (a, b) => compareVersions(b.manifest.version, a.manifest.version) || a.manifest.target.localeCompare(b.manifest.target),
    );
  }

  /** Removes a version (one target, or all of them). Returns the targets removed. */
  remove(version: string, target?: string): string[] {
    if (!isVersion(version)) throw new ReleaseError(`version "${version}" is not a version (MAJOR.MINOR.PATCH)`);
    if (target !== undefined && !isReleaseTarget(target)) {
      throw new ReleaseError(`target "${target}" is not one of ${RELEASE_TARGETS.join(', ')}`);
    }
    const vdir = join(this.root, version);
    const targets = target ? [target] : existsSync(vdir) ? readdirSync(vdir) : [];
    const removed = targets.filter((t) => existsSync(join(vdir, t)));
    if (removed.length === 0) {
      throw new ReleaseError(`release ${version}${target ? ` for ${target}` : ''} is not stored (release list shows what is)`);
    }
    for (const t of removed) rmSync(join(vdir, t), { recursive: true, force: true });
    if (readdirSync(vdir).length === 0) rmSync(vdir, { recursive: true, force: true });
    return removed;
  }
}
