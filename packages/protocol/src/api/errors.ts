import { z } from 'zod';

/** Every error the API answers, with the HTTP status: `{error: {code, message}}`. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof ErrorBody>;
