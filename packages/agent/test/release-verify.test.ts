import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { formatSums, parseSums, SIGNATURE_FILE, SUMS_FILE, sha256File, signSums, verifyReleaseFile } from '../src/release/verify.ts';

const pem = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
};

/** A release directory: two files, SHA256SUMS over them, signed with `key` unless told not to. */
function release(key: { privateKey: string }, signed = true): string {
  const dir = tempDir('falconet-release-unit-');
  writeFileSync(join(dir, 'a.tar.gz'), 'first');
  writeFileSync(join(dir, 'b-linux-x64'), 'second');
  const sums = formatSums(['a.tar.gz', 'b-linux-x64'].map((n) => [n, sha256File(join(dir, n))] as [string, string]));
  writeFileSync(join(dir, SUMS_FILE), sums);
  if (signed) writeFileSync(join(dir, SIGNATURE_FILE), signSums(Buffer.from(sums), key.privateKey));
  return dir;
}

describe('release verification', () => {
  const key = pem();
  const where = 'the test key';

  it('accepts a listed file, and a renamed copy by its content', () => {
    const dir = release(key);
    expect(verifyReleaseFile(join(dir, 'a.tar.gz'), key.publicKey, where)).toEqual({
      ok: true,
      message: 'a.tar.gz is intact and SHA256SUMS is signed by the test key.',
    });
    copyFileSync(join(dir, 'b-linux-x64'), join(dir, 'renamed'));
    expect(verifyReleaseFile(join(dir, 'renamed'), key.publicKey, where).message).toBe(
      'renamed is b-linux-x64 as listed in SHA256SUMS, signed by the test key.',
    );
  });

  it('says which of the four things is wrong', () => {
    const dir = release(key);
    writeFileSync(join(dir, 'a.tar.gz'), 'changed');
    expect(verifyReleaseFile(join(dir, 'a.tar.gz'), key.publicKey, where).message).toMatch(
      /^a\.tar\.gz has been changed: its SHA-256 is [0-9a-f]{64}, but the signed SHA256SUMS says [0-9a-f]{64}\.$/,
    );
    expect(verifyReleaseFile(join(dir, 'b-linux-x64'), pem().publicKey, 'another key')).toEqual({
      ok: false,
      message:
        'the signature of SHA256SUMS does not match another key: it was signed by another key, or SHA256SUMS was changed after signing.',
    });
    const unsigned = release(key, false);
    expect(verifyReleaseFile(join(unsigned, 'a.tar.gz'), key.publicKey, where).message).toBe(
      `SHA256SUMS in ${unsigned} is not signed: SHA256SUMS.sig is missing, so nothing says who made it.`,
    );
    writeFileSync(join(dir, 'other'), 'unlisted');
    expect(verifyReleaseFile(join(dir, 'other'), key.publicKey, where).message).toBe(
      'other is not listed in SHA256SUMS, and its content matches no file there.',
    );
  });

  it('refuses sums edited after signing, and keys of the wrong kind', () => {
    const dir = release(key);
    writeFileSync(join(dir, SUMS_FILE), `${'0'.repeat(64)}  a.tar.gz\n`);
    expect(verifyReleaseFile(join(dir, 'a.tar.gz'), key.publicKey, where).ok).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => verifyReleaseFile(join(dir, 'a.tar.gz'), rsa, 'rsa.pem')).toThrow('rsa.pem is a rsa key, not Ed25519');
    expect(() => signSums(Buffer.from('x'), 'not a key')).toThrow();
  });

  it('reads sha256sum lines and names a bad one by line', () => {
    expect(parseSums(`${'a'.repeat(64)}  x.tar.gz\n${'b'.repeat(64)} *y\n`)).toEqual(
      new Map([
        ['x.tar.gz', 'a'.repeat(64)],
        ['y', 'b'.repeat(64)],
      ]),
    );
    expect(() => parseSums('abc  x\n', 'SUMS')).toThrow('SUMS:1 is not a "SHA256  NAME" line');
  });
});
