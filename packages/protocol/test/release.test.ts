import { generateKeyPairSync, sign } from 'node:crypto';
import {
  canonicalManifest,
  compareVersions,
  parseManifest,
  type ReleaseManifest,
  releasePublicKey,
  verifyManifest,
} from '@falconet/protocol';
import { describe, expect, it } from 'vitest';

const manifest: ReleaseManifest = {
  name: 'falconet-agent',
  version: '1.2.3',
  target: 'linux-x64',
  sha256: 'ab'.repeat(32),
  size: 1234,
  min_version: '0.0.0',
  created_ms: 1700000000000,
};

describe('canonicalManifest', () => {
  it('writes the keys in contract order with no spaces, whatever order the object has', () => {
    const shuffled = Object.fromEntries(Object.entries(manifest).reverse()) as unknown as ReleaseManifest;
    expect(canonicalManifest(shuffled).toString()).toBe(
      `{"name":"falconet-agent","version":"1.2.3","target":"linux-x64","sha256":"${'ab'.repeat(32)}","size":1234,"min_version":"0.0.0","created_ms":1700000000000}`,
    );
  });
});

describe('parseManifest', () => {
  it('reads back what canonicalManifest wrote', () => {
    expect(parseManifest(canonicalManifest(manifest))).toEqual(manifest);
  });
  const bad: [string, string][] = [
    ['not json', 'not JSON'],
    ['[1]', 'not a JSON object'],
    [JSON.stringify({ ...manifest, extra: 1 }), 'unknown field "extra"'],
    [JSON.stringify({ ...manifest, size: -1 }), 'field "size" must be a non-negative integer'],
    [JSON.stringify({ ...manifest, size: 1.5 }), 'field "size"'],
    [JSON.stringify({ ...manifest, version: 'v1' }), 'field "version" is "v1", not a version'],
    [JSON.stringify({ ...manifest, min_version: 1 }), 'field "min_version" must be a string'],
    [JSON.stringify({ ...manifest, name: 'other' }), 'field "name" is "other"'],
    [JSON.stringify({ ...manifest, sha256: 'AB'.repeat(32) }), 'field "sha256"'],
    [JSON.stringify({ ...manifest, target: '../x' }), 'field "target"'],
    [JSON.stringify(manifest, null, 1), 'not in canonical form'],
    [JSON.stringify({ ...manifest, version: undefined }), 'field "version" must be a string'],
  ];
  it.each(bad)('refuses %s', (text, message) => {
    expect(() => parseManifest(Buffer.from(text))).toThrow(message);
  });
});

describe('verifyManifest', () => {
  const a = generateKeyPairSync('ed25519');
  const b = generateKeyPairSync('ed25519');
  const bytes = canonicalManifest(manifest);
  const sig = sign(null, bytes, a.privateKey);
  const pemA = a.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const rawA = (a.publicKey.export({ format: 'jwk' }).x as string).replace(/-/g, '+').replace(/_/g, '/');
  const pemB = b.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('accepts a signature by any pinned key, PEM or raw base64', () => {
    expect(verifyManifest(bytes, sig, [pemB, pemA])).toEqual(manifest);
    expect(verifyManifest(bytes, sig, [`${rawA}=`])).toEqual(manifest);
    expect(verifyManifest(bytes, sig, [a.publicKey])).toEqual(manifest);
  });
  it('refuses another key, a tampered manifest, a tampered signature, and no keys', () => {
    expect(() => verifyManifest(bytes, sig, [pemB])).toThrow('does not match any pinned release key');
    const tampered = Buffer.from(bytes.toString().replace('1.2.3', '1.2.4'));
    expect(() => verifyManifest(tampered, sig, [pemA])).toThrow('does not match');
    const badSig = Buffer.from(sig);
    badSig[0] = (badSig[0] as number) ^ 1;
    expect(() => verifyManifest(bytes, badSig, [pemA])).toThrow('does not match');
    expect(() => verifyManifest(bytes, Buffer.alloc(3), [pemA])).toThrow('does not match');
    expect(() => verifyManifest(bytes, sig, [])).toThrow('no release key pinned (update.public_keys)');
  });
  it('names a key that is not a key', () => {
    expect(() => releasePublicKey('hello')).toThrow('neither a PEM public key nor base64');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
    expect(() => releasePublicKey(rsa.toString())).toThrow('rsa, not Ed25519');
  });
});

describe('compareVersions', () => {
  const ordered = [
    '0.0.0',
    '0.1.0',
    '0.9.9',
    '0.10.0',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.2.0',
    '10.0.0',
  ];
  it('orders semantic versions, prereleases below their release', () => {
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(Math.sign(compareVersions(ordered[i] as string, ordered[j] as string)), `${ordered[i]} vs ${ordered[j]}`).toBe(
          Math.sign(i - j),
        );
      }
    }
  });
  it('ignores build metadata and names a bad version', () => {
    expect(compareVersions('1.0.0+abc', '1.0.0')).toBe(0);
    expect(() => compareVersions('1.0', '1.0.0')).toThrow('"1.0" is not a version');
    expect(() => compareVersions('1.0.0', '01.0.0')).toThrow('"01.0.0" is not a version');
  });
});
