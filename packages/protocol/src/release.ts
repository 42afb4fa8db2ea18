/**
 * The self-update manifest (docs/update.md): what the server signs and the agent checks, byte for
 * byte, and how release versions compare. One module so both sides read the same shape.
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';

export const RELEASE_NAME = 'falconet-agent';
/** The binary targets `npm run package` builds. */
export const RELEASE_TARGETS = ['linux-x64', 'linux-arm64'] as const;
export type ReleaseTarget = (typeof RELEASE_TARGETS)[number];

export interface ReleaseManifest {
  name: string;
  version: string;
  target: string;
  /** Lower-case hex SHA-256 of the binary. */
  sha256: string;
  size: number;
  /** The lowest agent version allowed to install this release. */
  min_version: string;
  created_ms: number;
}

/** The manifest's keys in the one order its canonical bytes use. */
const KEYS = ['name', 'version', 'target', 'sha256', 'size', 'min_version', 'created_ms'] as const;

/** Semantic version 2.0.0: MAJOR.MINOR.PATCH[-prerelease][+build], no leading zeros. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function isVersion(v: string): boolean {
  return SEMVER.test(v);
}

/**
 * Compares two semantic versions: negative when a < b, 0 when equal, positive when a > b.
 * A prerelease sorts below its release (1.0.0-rc.1 < 1.0.0); build metadata is ignored.
 * Throws on a string that is not a version, naming it.
 */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa.core[i] as number) - (pb.core[i] as number);
    if (d !== 0) return Math.sign(d);
  }
  // A release sorts above any of its prereleases.
  if (pa.pre.length === 0) return pb.pre.length === 0 ? 0 : 1;
  if (pb.pre.length === 0) return -1;
  for (let i = 0; i < Math.max(pa.pre.length, pb.pre.length); i++) {
    const x = pa.pre[i];
    const y = pb.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) {
      const d = Number(x) - Number(y);
      if (d !== 0) return Math.sign(d);
    } else if (xn !== yn) {
      // Numeric identifiers sort below alphanumeric ones.
      return xn ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

function parseVersion(v: string): { core: number[]; pre: string[] } {
  const m = SEMVER.exec(v);
  if (!m) throw new Error(`"${v}" is not a version (expected MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.2.3-rc.1)`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

/** The exact bytes a manifest signature covers: JSON with the keys in contract order, no spaces. */
export function canonicalManifest(m: ReleaseManifest): Buffer {
  const ordered: Record<string, unknown> = {};
  for (const k of KEYS) ordered[k] = m[k];
  return Buffer.from(JSON.stringify(ordered), 'utf8');
}

/**
 * Parses manifest bytes and checks every field, throwing an error that names the field.
 * The bytes must be canonical (re-encoding gives the same bytes), so what was signed is exactly
 * what is read: no duplicate keys, no extra fields, no reordering.
 */
export function parseManifest(bytes: Uint8Array): ReleaseManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new Error(`manifest: not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('manifest: not a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(KEYS as readonly string[]).includes(k)) throw new Error(`manifest: unknown field "${k}"`);
  }
  const str = (k: (typeof KEYS)[number]): string => {
    const v = o[k];
    if (typeof v !== 'string') throw new Error(`manifest: field "${k}" must be a string`);
    return v;
  };
  const int = (k: (typeof KEYS)[number]): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new Error(`manifest: field "${k}" must be a non-negative integer`);
    }
    return v;
  };
  const m: ReleaseManifest = {
    name: str('name'),
    version: str('version'),
    target: str('target'),
    sha256: str('sha256'),
    size: int('size'),
    min_version: str('min_version'),
    created_ms: int('created_ms'),
  };
  if (m.name !== RELEASE_NAME) throw new Error(`manifest: field "name" is "${m.name}", expected "${RELEASE_NAME}"`);
  if (!isVersion(m.version)) throw new Error(`manifest: field "version" is "${m.version}", not a version`);
  if (!isVersion(m.min_version)) throw new Error(`manifest: field "min_version" is "${m.min_version}", not a version`);
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(m.target)) throw new Error(`manifest: field "target" is "${m.target}", not a target`);
  if (!/^[0-9a-f]{64}$/.test(m.sha256)) throw new Error('manifest: field "sha256" must be 64 lower-case hex digits');
  if (!canonicalManifest(m).equals(Buffer.from(bytes))) {
    throw new Error('manifest: not in canonical form (keys in contract order, no spaces)');
  }
  return m;
}

/** A public key as the agent pins it: PEM, or base64 of the raw 32-byte Ed25519 key. */
export function releasePublicKey(text: string): KeyObject {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) {
    const key = createPublicKey(t);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`release key is ${key.asymmetricKeyType}, not Ed25519`);
    return key;
  }
  const raw = Buffer.from(t, 'base64');
  if (raw.length !== 32 || raw.toString('base64').replace(/=+$/, '') !== t.replace(/=+$/, '')) {
    throw new Error('release key is neither a PEM public key nor base64 of 32 raw Ed25519 bytes');
  }
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/**
 * Checks an Ed25519 signature over manifest bytes against any of the given keys, then parses the
 * manifest. Throws "signature does not match any pinned release key" or the parse error.
 */
export function verifyManifest(bytes: Uint8Array, signature: Uint8Array, keys: readonly (KeyObject | string)[]): ReleaseManifest {
  if (keys.length === 0) throw new Error('no release key pinned (update.public_keys)');
  const objects = keys.map((k) => (typeof k === 'string' ? releasePublicKey(k) : k));
  const ok = objects.some((k) => {
    try {
      return verify(null, bytes, k, signature);
    } catch {
      return false;
    }
  });
  if (!ok) throw new Error('manifest signature does not match any pinned release key');
  return parseManifest(bytes);
}
