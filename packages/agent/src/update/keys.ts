import { createPublicKey, type KeyObject, verify } from 'node:crypto';

/**
 * One pinned release key: a PEM SubjectPublicKeyInfo, or base64 of the 32 raw Ed25519 bytes (what
 * `falconet-server release key` prints, and its base64 form). Throws a sentence saying what is wrong.
 */
export function parseReleaseKey(text: string): KeyObject {
  const t = text.trim();
  if (t === '') throw new Error('empty; give a PEM public key or base64 of a 32-byte Ed25519 key');
  if (t.startsWith('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPublicKey(t);
    } catch (err) {
      throw new Error(`not a readable PEM public key (${(err as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a PEM ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
    return key;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t)) throw new Error('neither a PEM public key nor base64');
  const raw = Buffer.from(t, 'base64');
  if (raw.length !== 32) throw new Error(`base64 of ${raw.length} bytes; an Ed25519 public key is 32`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** Whether `signature` over `data` verifies with one of `keys`. */
export function signedByOneOf(data: Uint8Array, signature: Uint8Array, keys: readonly KeyObject[]): boolean {
  if (signature.length !== 64) return false;
  return keys.some((k) => verify(null, data, k, signature));
}
