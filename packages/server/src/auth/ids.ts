import { createHash, randomBytes } from 'node:crypto';

/** A random identifier of `bytes` bytes, base64url (no padding). */
export function randomId(bytes = 12): string {
  return randomBytes(bytes).toString('base64url');
}

/** Ids that sort by creation time: base-36 milliseconds, fixed width, then randomness. */
export function timeOrderedId(nowMs = Date.now()): string {
  return nowMs.toString(36).padStart(9, '0') + randomBytes(6).toString('hex');
}

/** Bearer secrets are long and random, so one SHA-256 is enough to keep them unreadable at rest. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
