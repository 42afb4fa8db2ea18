import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { PASSWORD_MAX } from '@falconet/protocol/api';

/**
 * Password hashes with node:crypto scrypt (no native addon). The stored form carries its own
 * parameters, `scrypt$LOG2N$r$p$salt$hash` (base64url), so raising the cost later keeps old
 * hashes verifiable.
 */
export interface ScryptCost {
  log2N: number;
  r: number;
  p: number;
}

/** About 0.1 s on one core of a small server: slow for guessing, quick enough for a sign-in. */
export const DEFAULT_COST: ScryptCost = { log2N: 15, r: 8, p: 1 };
const KEY_BYTES = 32;

export const PASSWORD_MIN = 8;

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost);
  return ['scrypt', cost.log2N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [log2N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  // A stored hash is trusted input, but a corrupt one must not make us allocate gigabytes.
  if (!(log2N >= 10 && log2N <= 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) return false;
  const expected = Buffer.from(parts[5] as string, 'base64url');
  const key = await derive(password, Buffer.from(parts[4] as string, 'base64url'), { log2N, r, p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

let dummy: Promise<string> | undefined;

/** Spends the time a real verification takes, so an unknown name answers as slowly as a known one. */
export async function verifyAgainstNothing(password: string): Promise<false> {
  dummy ??= hashPassword('falconet-no-such-user');
  await verifyPassword(password, await dummy);
  return false;
}

/** A reason the password cannot be used, or undefined. */
export function passwordProblem(password: string, name: string): string | undefined {
  if (password.length < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`;
  if (password.length > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`;
  if (password.toLowerCase() === name.toLowerCase()) return 'must not be the user name';
  return undefined;
}
