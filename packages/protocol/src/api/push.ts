import { z } from 'zod';

/** POST /api/v1/push */
export const PushQuery = z.object({
  host: z.string().min(1).max(255).optional().describe('host of Falconet samples without a host label'),
});
export const PushBody = z.array(z.unknown()).describe('Open-Falcon records or Falconet samples');
export const PushAnswer = z.object({ accepted: z.number(), hosts: z.number() });
export type PushAnswer = z.infer<typeof PushAnswer>;
