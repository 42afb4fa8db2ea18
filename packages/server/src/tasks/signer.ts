import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SignedTaskFields, taskSigningPayload } from '@falconet/protocol';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '@falconet/protocol/datadir';

export const SIGNING_KEY_FILE = 'task-signing-key.pem';

/**
 * The server's Ed25519 task-signing key, made on first start in the data directory. Agents pin
 * its public half when they first register, so replacing this file makes every agent refuse the
 * server's tasks until their pins are reset: that is the point.
 */
export class TaskSigner {
  readonly #key: KeyObject;
  /** The raw 32-byte public key, as sent in Registered.task_public_key. */
  readonly publicKey: Buffer;
  readonly created: boolean;

  constructor(key: KeyObject, created: boolean) {
    this.#key = key;
    this.created = created;
    const jwk = createPublicKey(key).export({ format: 'jwk' }) as { x: string };
    this.publicKey = Buffer.from(jwk.x, 'base64url');
  }

  static load(dataDir: string): TaskSigner {
    const file = join(dataDir, SIGNING_KEY_FILE);
    let pem: string | undefined;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: cannot read the task-signing key: ${String(err)}`);
    }
    if (pem) {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: not an Ed25519 private key`);
      return new TaskSigner(key, false);
    }
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: PRIVATE_FILE_MODE });
    renameSync(tmp, file);
    return new TaskSigner(privateKey, true);
  }

  /** SHA-256 of the raw public key, hex, for people comparing keys. */
  get fingerprint(): string {
    return createHash('sha256').update(this.publicKey).digest('hex');
  }

  sign(fields: SignedTaskFields): Buffer {
    return sign(null, taskSigningPayload(fields), this.#key);
  }
}
