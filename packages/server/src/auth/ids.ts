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

/** User and token names: short, printable, safe in logs, URLs and shells. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const NAME_RULE = 'letters, digits and . _ @ -, starting with a letter or digit, at most 64';
