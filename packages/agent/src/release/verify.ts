import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The files a release directory holds beside its tarballs and binaries (npm run package writes them). */
export const SUMS_FILE = 'SHA256SUMS';
export const SIGNATURE_FILE = 'SHA256SUMS.sig';

/** `sha256sum` lines: 64 hex digits, two spaces (or a space and `*`), the file name. */
export function parseSums(text: string, where = SUMS_FILE): Map<string, string> {
  const sums = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`${where}:${i + 1} is not a "SHA256  NAME" line`);
    sums.set(m[2] as string, m[1] as string);
  });
  return sums;
}

export function formatSums(entries: Iterable<[name: string, sha256: string]>): string {
  return [...entries].map(([name, sha]) => `${sha}  ${name}\n`).join('');
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** An Ed25519 signature of SHA256SUMS as the .sig file holds it: base64 on one line. */
export function signSums(sums: Buffer, privateKeyPem: string): string {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the signing key is ${key.asymmetricKeyType}, not Ed25519`);
  return `${sign(null, sums, key).toString('base64')}\n`;
}

function publicKey(pem: string, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`${where} is not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${where} is a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

export type VerifyResult = { ok: true; message: string } | { ok: false; message: string };

/**
 * Checks FILE against the SHA256SUMS and SHA256SUMS.sig beside it: the signature first (by the
 * given public key), then FILE's hash, by its name or, for a binary renamed after download or
 * unpacking, by its content. The message is one sentence, for the user.
 */
export function verifyReleaseFile(file: string, publicKeyPem: string, keyWhere: string): VerifyResult {
  const name = basename(file);
  if (!existsSync(file)) return { ok: false, message: `${file} does not exist.` };
  const dir = dirname(file);
  const sumsPath = join(dir, SUMS_FILE);
  const sigPath = join(dir, SIGNATURE_FILE);
  if (!existsSync(sumsPath)) return { ok: false, message: `there is no ${SUMS_FILE} beside ${name} (in ${dir}) to check it against.` };
  if (!existsSync(sigPath)) {
    return { ok: false, message: `${SUMS_FILE} in ${dir} is not signed: ${SIGNATURE_FILE} is missing, so nothing says who made it.` };
  }
  const key = publicKey(publicKeyPem, keyWhere);
  const sumsBytes = readFileSync(sumsPath);
  const signature = Buffer.from(readFileSync(sigPath, 'utf8').trim(), 'base64');
  if (signature.length !== 64 || !verify(null, sumsBytes, key, signature)) {
    return {
      ok: false,
      message: `the signature of ${SUMS_FILE} does not match ${keyWhere}: it was signed by another key, or ${SUMS_FILE} was changed after signing.`,
    };
  }
  let sums: Map<string, string>;
  try {
    sums = parseSums(sumsBytes.toString('utf8'), sumsPath);
  } catch (err) {
    return { ok: false, message: `${(err as Error).message}.` };
  }
  const actual = sha256File(file);
  const listed = sums.get(name);
  if (listed !== undefined) {
    if (listed !== actual) {
      return { ok: false, message: `${name} has been changed: its SHA-256 is ${actual}, but the signed ${SUMS_FILE} says ${listed}.` };
    }
    return { ok: true, message: `${name} is intact and ${SUMS_FILE} is signed by ${keyWhere}.` };
  }
  const same = [...sums].find(([, sha]) => sha === actual);
  if (same) return { ok: true, message: `${name} is ${same[0]} as listed in ${SUMS_FILE}, signed by ${keyWhere}.` };
  return { ok: false, message: `${name} is not listed in ${SUMS_FILE}, and its content matches no file there.` };
}
