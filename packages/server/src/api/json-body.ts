/**
 * JSON request bodies, read as Fastify's own parser reads them (a `__proto__` key, or `constructor`
 * holding `prototype`, is refused: a later merge must not reach a prototype), but with a message that
 * says what is wrong and where. Fastify's parser answers "Body is not valid JSON" for both a syntax
 * error and a forbidden key, without a position; the fuzz tests of POST /api/v1/push showed it.
 */
import type { FastifyError, FastifyInstance } from 'fastify';

function badBody(message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', name: 'BadJsonBody' }) as FastifyError;
}

/** The JSON path of the first forbidden key in a parsed value, if any; a loop, not recursion, as a body may nest deeply. */
export function forbiddenKey(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, '$']];
  while (stack.length) {
    const [value, path] = stack.pop() as [unknown, string];
    if (value === null || typeof value !== 'object') continue;
    if (Object.hasOwn(value, '__proto__')) return `${path}.__proto__`;
    const ctor = (value as Record<string, unknown>).constructor;
    if (Object.hasOwn(value, 'constructor') && ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype'))
      return `${path}.constructor.prototype`;
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, v] = entries[i] as [string, unknown];
      if (v !== null && typeof v === 'object') stack.push([v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`]);
    }
  }
  return undefined;
}

export function installJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(badBody('body: empty, but Content-Type is application/json'), undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return done(badBody(`body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    // Only a body that names one of the keys, or escapes characters (\u005f_proto__), can hold it: most are never walked.
    const key = /__proto__|constructor|\\u/.test(text) ? forbiddenKey(value) : undefined;
    if (key) return done(badBody(`body: the key ${key} is refused (it could reach an object's prototype)`), undefined);
    done(null, value);
  });
}
