/**
 * Fuzz (issue 24): every query-string schema of the API contract (`*Query` in @falconet/protocol/api)
 * on arbitrary parameters, as Fastify hands them over (strings, or arrays of strings for a repeated
 * key): a schema accepts or returns issues, each with a path and a message; it never throws. The
 * same schemas behind their routes are fuzzed in packages/server/test/fuzz-http.test.ts.
 */
import * as api from '@falconet/protocol/api';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { anyText, fc, fuzz, fuzzTimeout, OBJECT_KEYS } from '../../../testing/fuzz.ts';

const querySchemas = Object.entries(api).filter(
  (e): e is [string, z.ZodObject] =>
    e[0].endsWith('Query') && typeof (e[1] as { safeParse?: unknown }).safeParse === 'function' && 'shape' in (e[1] as object),
);

const value = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '-1',
    '1.5',
    '1e309',
    'NaN',
    'true',
    'false',
    'null',
    '{"a":"b"}',
    'a=b,c=d',
    '2026-12-06T10:00:00Z',
    '1h',
    '9'.repeat(30),
  ),
  anyText(20),
);

describe('fuzz: API query-string schemas', () => {
  it('finds the schemas', () => expect(querySchemas.length).toBeGreaterThan(10));

  it(
    'accept or refuse any parameters with issues naming a path, never throw',
    () =>
      fuzz(
        'api query schemas',
        fc.property(
          fc.nat(),
          fc.array(fc.tuple(fc.nat(), fc.oneof(value, fc.array(value, { minLength: 2, maxLength: 3 }))), { maxLength: 6 }),
          fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...OBJECT_KEYS)), value, { maxKeys: 2 }),
          (which, known, unknown) => {
            const [, schema] = querySchemas[which % querySchemas.length] as [string, z.ZodObject];
            const keys = Object.keys(schema.shape);
            const input: Record<string, unknown> = { ...unknown };
            for (const [i, v] of known) input[keys[i % keys.length] as string] = v;
            const result = schema.safeParse(input);
            if (!result.success) for (const issue of result.error.issues) expect(issue.message.length).toBeGreaterThan(0);
          },
        ),
        10,
      ),
    fuzzTimeout(2, 10),
  );
});
