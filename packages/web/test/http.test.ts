import { beforeEach, describe, expect, it, vi } from 'vitest';
import { stubFetch } from './fetch-stub.ts';

/** http.ts afresh: the CSRF token it holds is per page, so each test starts on a new page. */
async function client() {
  return await import('../src/http.ts');
}

beforeEach(() => {
  vi.resetModules();
});

describe('the REST client', () => {
  it('sends JSON with the session cookie, and answers 204 with nothing', async () => {
    const server = stubFetch({
      'GET /api/agents': { body: { items: [], total: 0 } },
      'GET /api/auth/session': { body: { csrfToken: 'c1' } },
      'DELETE /api/tokens/t1': { status: 204 },
    });
    const { request } = await client();
    expect(await request('GET', '/api/agents?limit=1')).toEqual({ items: [], total: 0 });
    expect(await request('DELETE', '/api/tokens/t1')).toBeUndefined();
    expect(server.calls.map((c) => c.url)).toEqual(['/api/agents?limit=1', '/api/auth/session', '/api/tokens/t1']);
    expect(server.calls[0]?.headers).toEqual({ accept: 'application/json' });
    const fetch = vi.mocked(globalThis.fetch);
    expect(fetch.mock.calls.every(([, init]) => init?.credentials === 'same-origin')).toBe(true);
  });

  it('puts the CSRF token on changes only, asking the session for it once', async () => {
    const server = stubFetch({
      'GET /api/auth/session': { body: { csrfToken: 'c1' } },
      'GET /api/alerts': { body: { items: [] } },
      'POST /api/alerts/silences': { status: 201, body: { id: 's1' } },
      'PUT /api/alerts/rules/r1': { body: { id: 'r1' } },
    });
    const { request } = await client();
    await request('GET', '/api/alerts');
    await request('POST', '/api/alerts/silences', { matchers: 'a=b' });
    await request('PUT', '/api/alerts/rules/r1', { name: 'x' });
    expect(server.to('GET /api/auth/session')).toHaveLength(1);
    expect(server.to('GET /api/alerts')[0]?.headers['x-falconet-csrf']).toBeUndefined();
    expect(
      server.calls.filter((c) => c.method !== 'GET').map((c) => [c.headers['x-falconet-csrf'], c.headers['content-type'], c.body]),
    ).toEqual([
      ['c1', 'application/json', { matchers: 'a=b' }],
      ['c1', 'application/json', { name: 'x' }],
    ]);
  });

  it('uses the token of a session answer it was given, and sends none when the session has none', async () => {
    const server = stubFetch({ 'POST /api/auth/signin': { body: {} }, 'POST /api/auth/signout': { status: 204 } });
    const { rememberCsrf, request } = await client();
    rememberCsrf(null);
    await request('POST', '/api/auth/signin', { name: 'alice', password: 'pw' });
    rememberCsrf('c2');
    await request('POST', '/api/auth/signout');
    expect(server.calls.map((c) => [c.path, c.headers['x-falconet-csrf']])).toEqual([
      ['/api/auth/signin', undefined],
      ['/api/auth/signout', 'c2'],
    ]);
  });

  it('sends a change refused for its CSRF token once more with a fresh token, and only once', async () => {
    const tokens = ['old', 'new', 'newer'];
    const server = stubFetch({
      'GET /api/auth/session': () => ({ body: { csrfToken: tokens.shift() } }),
      'POST /api/tasks': (c) =>
        c.headers['x-falconet-csrf'] === 'new'
          ? { status: 201, body: { task: { id: 't1' } } }
          : { status: 403, body: { error: { code: 'csrf', message: 'a signed-in change needs the x-falconet-csrf header' } } },
      'POST /api/tasks/t1/cancel': { status: 403, body: { error: { code: 'csrf', message: 'still refused' } } },
    });
    const { ApiError, request } = await client();
    expect(await request('POST', '/api/tasks', { command: 'uptime' })).toEqual({ task: { id: 't1' } });
    expect(server.to('POST /api/tasks').map((c) => c.headers['x-falconet-csrf'])).toEqual(['old', 'new']);

    const err = await request('POST', '/api/tasks/t1/cancel').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(server.to('POST /api/tasks/t1/cancel').map((c) => c.headers['x-falconet-csrf'])).toEqual(['new', 'newer']);
  });

  it("turns a refusal into an ApiError with the server's status, code and message", async () => {
    stubFetch({
      'DELETE /api/alerts/rules/r1': { status: 403, body: { error: { code: 'forbidden', message: 'operator role required' } } },
      'GET /api/auth/session': { body: { csrfToken: 'c1' } },
    });
    const { ApiError, request } = await client();
    const err = await request('DELETE', '/api/alerts/rules/r1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 403, code: 'forbidden', message: 'operator role required' });
  });

  it("names the HTTP status when the answer is not the API's JSON, and sends nothing twice", async () => {
    const fetch = vi.fn(async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    vi.stubGlobal('fetch', fetch);
    const { request } = await client();
    await expect(request('GET', '/api/agents')).rejects.toMatchObject({ status: 502, code: 'http_502', message: '502 Bad Gateway' });
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('still sends a change when the session cannot be read, without a token', async () => {
    const server = stubFetch({
      'GET /api/auth/session': { status: 500, body: { error: { code: 'internal', message: 'internal server error' } } },
      'POST /api/alerts/silences': { status: 201, body: {} },
    });
    const { request } = await client();
    await request('POST', '/api/alerts/silences', {});
    expect(server.to('POST /api/alerts/silences')[0]?.headers['x-falconet-csrf']).toBeUndefined();
  });
});
