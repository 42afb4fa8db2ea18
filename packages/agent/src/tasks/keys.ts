import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type SignedTaskFields, taskSigningPayload } from '@falconet/protocol';
import { PRIVATE_DIR_MODE } from '@falconet/protocol/datadir';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../identity.ts';

/** A raw 32-byte Ed25519 public key as a KeyObject. */
export function ed25519PublicKey(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** `tasks.server_public_key`: base64 of the raw key, or a PEM SubjectPublicKeyInfo. */
export function parseConfiguredKey(text: string): Buffer {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) {
    const jwk = createPublicKey(t).export({ format: 'jwk' }) as { crv?: string; x?: string };
    if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('tasks.server_public_key: the PEM key is not an Ed25519 key');
    return Buffer.from(jwk.x, 'base64url');
  }
  const raw = Buffer.from(t, 'base64');
  if (raw.length !== 32) throw new Error('tasks.server_public_key: expected base64 of a 32-byte Ed25519 key or a PEM public key');
  return raw;
}

export type Verdict = 'ok' | 'no_key' | 'bad_signature';

/**
 * The server's task-signing key as this agent trusts it: from the configuration, or pinned the
 * first time a server presents one (trust on first enrollment) and never replaced by what a
 * server says later. Replacing it means deleting the pin file on purpose.
 */
export class PinnedServerKey {
  readonly #file: string;
  readonly #log: Logger;
  #raw: Buffer | undefined;
  #key: KeyObject | undefined;
  readonly #fixed: boolean;
  #warned = new Set<string>();

  constructor(file: string, configured: string, log: Logger) {
    this.#file = file;
    this.#log = log;
    this.#fixed = configured !== '';
    if (configured) this.#set(parseConfiguredKey(configured));
    else {
      try {
        const text = readFileSync(file, 'utf8').trim();
        if (text) this.#set(parseConfiguredKey(text));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file}: cannot read the pinned server key: ${String(err)}`);
      }
    }
  }

  get pinned(): Buffer | undefined {
    return this.#raw;
  }

  #set(raw: Buffer): void {
    this.#key = ed25519PublicKey(raw);
    this.#raw = raw;
  }

  /** A key a server presented on registering: pinned if none is, otherwise only compared. */
  offer(raw: Buffer): void {
    if (raw.length === 0) return;
    if (!this.#raw) {
      try {
        this.#set(raw);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'server presented an unusable task key; tasks will be refused');
        return;
      }
      mkdirSync(dirname(this.#file), { recursive: true, mode: PRIVATE_DIR_MODE });
      writeFileAtomic(this.#file, `${raw.toString('base64')}\n`);
      this.#log.info({ key: raw.toString('base64'), file: this.#file }, 'pinned the server task-signing key');
      return;
    }
    if (raw.equals(this.#raw)) return;
    const b64 = raw.toString('base64');
    if (this.#warned.has(b64)) return;
    this.#warned.add(b64);
    this.#log.warn(
      { presented: b64, pinned: this.#raw.toString('base64'), source: this.#fixed ? 'tasks.server_public_key' : this.#file },
      'server presented a task key other than the pinned one; its tasks will be refused',
    );
  }

  verify(fields: SignedTaskFields, signature: Buffer): Verdict {
    if (!this.#key) return 'no_key';
    if (signature.length !== 64) return 'bad_signature';
    return verify(null, taskSigningPayload(fields), this.#key, signature) ? 'ok' : 'bad_signature';
  }
}
