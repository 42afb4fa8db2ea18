import { duration } from '@falconet/protocol/config';
import { z } from 'zod';
import { parseReleaseKey } from './keys.ts';

/** At most this many release keys are pinned: the current one and the next, during a key rotation. */
export const MAX_RELEASE_KEYS = 2;

/** `update.*`: the release keys an update must be signed with, the switch, and how long a new version has to prove itself. */
export const updateSchema = z
  .object({
    /** Ed25519 public keys (PEM, or base64 of the 32 raw bytes) of the server's release key. */
    public_keys: z
      .array(z.string())
      .default([])
      .superRefine((keys, ctx) => {
        keys.forEach((key, i) => {
          if (i >= MAX_RELEASE_KEYS) {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `at most ${MAX_RELEASE_KEYS} release keys can be pinned (the current one and the next); remove key ${i + 1} ("${key.trim().slice(0, 24)}...")`,
            });
            return;
          }
          try {
            parseReleaseKey(key);
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: [i], message: `key ${i + 1}: ${(err as Error).message}` });
          }
        });
      }),
    /** Unset: on when a key is pinned. */
    enabled: z.boolean().optional(),
    /** How long a new version has to register and have a report acknowledged before it is rolled back. */
    trial_timeout: duration()
      .default(60_000)
      .refine((ms) => ms >= 1000 && ms <= 3_600_000, 'must be between 1s and 1h'),
  })
  .strict()
  .prefault({});

export type UpdateConfig = z.output<typeof updateSchema>;

/** Whether updates are on: `update.enabled`, or when unset, whether a key is pinned. */
export function updatesEnabled(c: UpdateConfig): boolean {
  return c.enabled ?? c.public_keys.length > 0;
}
