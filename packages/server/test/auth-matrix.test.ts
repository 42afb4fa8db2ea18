import { ROLES, type Role } from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ROLE_RANK } from '../src/api/access.ts';
import { type RouteEntry, routeAccess } from '../src/auth/guard.ts';
import { type Credential, concretePath, makeWebRoot, startTestServer, type TestServer } from './support/auth.ts';

/**
 * The authorization matrix: every route in the server's route table (so a route added by any
 * module is covered without touching this file) and the WebSocket, for anonymous, viewer,
 * operator and admin, by session cookie and by API token, each answer checked.
 */
let t: TestServer;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

beforeAll(async () => {
  t = await startTestServer({ webRoot: makeWebRoot().root });
});
afterAll(async () => {
  await t?.stop();
});

type Who = 'anonymous' | `${'session' | 'token'}:${Role}`;
const WHO: Who[] = ['anonymous', ...ROLES.map((r) => `session:${r}` as Who), ...ROLES.map((r) => `token:${r}` as Who)];

async function credential(who: Who): Promise<Credential | undefined> {
  if (who === 'anonymous') return undefined;
  const [kind, role] = who.split(':') as ['session' | 'token', Role];
  // A fresh session per request: a route such as sign-out may end the one it is given.
  return kind === 'session' ? await t.session(role) : await t.token(role);
}

async function call(route: { method: string; url: string }, cred: Credential | undefined, extra: Record<string, string> = {}) {
  const mutating = MUTATING.has(route.method);
  const headers: Record<string, string> = { ...(mutating ? cred?.mutating : cred?.headers), ...extra };
  const init: RequestInit = { method: route.method, headers, redirect: 'manual' };
  if (mutating && route.method !== 'DELETE') {
    headers['content-type'] = 'application/json';
    init.body = '{}';
  }
  const res = await fetch(t.base + concretePath(route.url), init);
  const text = await res.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    // not JSON (a static file, an empty HEAD answer)
  }
  return { status: res.status, code };
}

/** What the access rule says the answer must be; 'allowed' = the handler ran (any status but 401/403/5xx). */
function expected(e: RouteEntry, who: Who): 401 | 403 | 'allowed' {
  const a = routeAccess(e);
  if (a.public) return 'allowed';
  if (!a.minRole) return 403;
  if (who === 'anonymous') return 401;
  const role = who.split(':')[1] as Role;
  return ROLE_RANK[role] >= ROLE_RANK[a.minRole] ? 'allowed' : 403;
}

describe('authorization matrix', () => {
  it('enumerates the route table, and every route declares an access rule', () => {
    const routes = t.server.routes;
    const keys = routes.map((r) => `${r.method} ${r.url}`);
    expect(keys).toEqual(
      expect.arrayContaining([
        'GET /api/agents',
        'GET /api/agents/:id',
        'PUT /api/agents/:id/labels',
        'POST /api/agents/:id/sequence/reset',
        'DELETE /api/agents/:id',
        'GET /api/metrics',
        'GET /api/fleet/summary',
        'GET /api/live',
        'GET /api/users',
        'POST /api/tokens',
        'GET /api/audit',
        'POST /api/auth/signin',
        'GET /assets/app.js',
        'GET /metrics',
        'GET /healthz',
      ]),
    );
    const withoutRule = routes.filter((r) => {
      const a = routeAccess(r);
      return !a.public && !a.minRole;
    });
    expect(withoutRule.map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });

  it('answers every route for every identity as its access rule says', async () => {
    const rows: string[] = [];
    const wrong: string[] = [];
    for (const route of t.server.routes) {
      const cells: string[] = [];
      for (const who of WHO) {
        const want = expected(route, who);
        const got = await call(route, await credential(who));
        const ok = want === 'allowed' ? got.status !== 401 && got.status !== 403 && got.status < 500 : got.status === want;
        cells.push(`${who}=${got.status}${ok ? '' : '!'}`);
        if (!ok) wrong.push(`${route.method} ${route.url} as ${who}: want ${want}, got ${got.status} ${got.code ?? ''}`);
        // A refusal says why, in the API's error shape.
        if (got.status === 401 && route.method !== 'HEAD') expect(got.code).toBe('unauthorized');
        if (got.status === 403 && want === 403 && route.method !== 'HEAD') expect(got.code).toBe('forbidden');
      }
      rows.push(`${route.method.padEnd(6)} ${route.url.padEnd(32)} ${cells.join(' ')}`);
    }
    if (wrong.length || process.env.FALCONET_TEST_VERBOSE) console.error(`authorization matrix:\n${rows.join('\n')}`);
    expect(wrong).toEqual([]);
    expect(rows.length).toBeGreaterThan(30);
  }, 60_000);

  it('needs an identity even to learn that an API route does not exist', async () => {
    expect((await call({ method: 'GET', url: '/api/no-such-route' }, undefined)).status).toBe(401);
    expect((await call({ method: 'POST', url: '/api/no-such-route' }, undefined)).status).toBe(401);
    expect((await call({ method: 'GET', url: '/api/no-such-route' }, await t.session('viewer'))).status).toBe(404);
    // The dashboard's client-side pages are the public shell.
    expect((await call({ method: 'GET', url: '/agents/x' }, undefined)).status).toBe(200);
  });

  it('refuses every cookie-authenticated change without the CSRF token or from another origin', async () => {
    const changes = t.server.routes.filter((r) => MUTATING.has(r.method) && !routeAccess(r).public);
    expect(changes.length).toBeGreaterThan(5);
    for (const route of changes) {
      const s = await t.session('admin');
      expect(await call(route, { headers: s.headers, mutating: s.headers })).toEqual({ status: 403, code: 'csrf' });
      expect(await call(route, s, { origin: 'https://evil.example' })).toEqual({ status: 403, code: 'cross_origin' });
      expect(await call(route, s, { 'sec-fetch-site': 'cross-site' })).toEqual({ status: 403, code: 'cross_origin' });
    }
    // A bearer token is not sent by browsers on their own, so it needs no CSRF token.
    const tok = await t.token('admin');
    expect((await call({ method: 'DELETE', url: '/api/tokens/nope' }, tok)).status).toBe(404);
  }, 30_000);

  it('keeps a token to its scopes, and refuses revoked, expired, forged and malformed credentials', async () => {
    const scoped = await t.token('viewer', ['/api/metrics']);
    expect((await call({ method: 'GET', url: '/api/metrics/names' }, scoped)).status).toBe(200);
    expect(await call({ method: 'GET', url: '/api/agents' }, scoped)).toEqual({ status: 403, code: 'forbidden' });
    // Whole segments only: /api/metrics does not cover /api/metricsX.
    expect((await call({ method: 'GET', url: '/metrics' }, scoped)).status).toBe(403);

    const made = await t.server.auth.tokens.create({
      name: 'short',
      role: 'admin',
      scopes: ['*'],
      expiresMs: Date.now() - 1,
      createdBy: 't',
    });
    expect(await call({ method: 'GET', url: '/api/agents' }, { headers: { authorization: `Bearer ${made.token}` }, mutating: {} })).toEqual(
      {
        status: 401,
        code: 'unauthorized',
      },
    );
    const revoked = await t.server.auth.tokens.create({ name: 'gone', role: 'admin', scopes: ['*'], expiresMs: 0, createdBy: 't' });
    await t.server.auth.tokens.revoke(revoked.record.id);
    const res = await fetch(`${t.base}/api/agents`, { headers: { authorization: `Bearer ${revoked.token}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('API token is revoked');
    for (const bad of [
      'Bearer',
      'Basic YWRtaW46YWRtaW4=',
      `Bearer ${made.token.slice(0, -1)}x`,
      'Bearer fnt_short',
      `Bearer ${'a'.repeat(300)}`,
    ]) {
      expect((await fetch(`${t.base}/api/agents`, { headers: { authorization: bad } })).status).toBe(401);
    }

    const forged = [
      'eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzaWQiOiJ4Iiwic3ViIjoieCJ9.',
      'not-a-jwt',
      tamper((await t.session('admin')).headers.cookie?.split('=')[1] ?? ''),
    ];
    for (const jwt of forged) {
      const r = await fetch(`${t.base}/api/agents`, { headers: { cookie: `falconet_session=${jwt}` } });
      expect(r.status).toBe(401);
      expect(r.headers.get('set-cookie')).toMatch(/^falconet_session=; Path=\/; Max-Age=0; HttpOnly/);
    }
  });

  it('ends sessions on sign-out, and refuses a disabled user', async () => {
    const s = await t.session('operator');
    expect((await call({ method: 'GET', url: '/api/agents' }, s)).status).toBe(200);
    expect((await fetch(`${t.base}/api/auth/signout`, { method: 'POST', headers: s.mutating })).status).toBe(204);
    expect((await call({ method: 'GET', url: '/api/agents' }, s)).status).toBe(401);

    const v = await t.session('viewer');
    await t.server.auth.users.update(t.userIds.viewer, { disabled: true });
    expect((await call({ method: 'GET', url: '/api/agents' }, v)).status).toBe(401);
    await t.server.auth.users.update(t.userIds.viewer, { disabled: false });
  });
});

function openLive(headers: Record<string, string>): Promise<{ ws: WebSocket; first: string } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.base.replace('http', 'ws')}/api/live`, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('message', (d) => resolve({ ws, first: String(d) }));
    ws.once('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

describe('/api/live access', () => {
  it('refuses anonymous and cross-origin upgrades, and admits every role by session and by token', async () => {
    expect(await openLive({})).toEqual({ status: 401 });
    const s = await t.session('viewer');
    expect(await openLive({ ...s.headers, origin: 'https://evil.example' })).toEqual({ status: 403 });
    for (const who of WHO.filter((w) => w !== 'anonymous')) {
      const cred = (await credential(who)) as Credential;
      const r = await openLive({ ...cred.headers, origin: t.base });
      expect('ws' in r, who).toBe(true);
      if ('ws' in r) {
        expect(JSON.parse(r.first).type).toBe('hello');
        const closed = new Promise((done) => r.ws.once('close', done));
        r.ws.close();
        await closed;
      }
    }
  });

  it('cuts a live connection when its session signs out or its token is revoked', async () => {
    const s = await t.session('admin');
    const a = await openLive({ ...s.headers, origin: t.base });
    if (!('ws' in a)) throw new Error(`upgrade refused: ${a.status}`);
    const closedA = new Promise((r) => a.ws.once('close', r));
    await fetch(`${t.base}/api/auth/signout`, { method: 'POST', headers: s.mutating });
    await closedA;

    const made = await t.server.auth.tokens.create({ name: 'live', role: 'viewer', scopes: ['/api/live'], expiresMs: 0, createdBy: 't' });
    const b = await openLive({ authorization: `Bearer ${made.token}` });
    if (!('ws' in b)) throw new Error(`upgrade refused: ${b.status}`);
    const closedB = new Promise((r) => b.ws.once('close', r));
    const admin = await t.session('admin');
    expect((await fetch(`${t.base}/api/tokens/${made.record.id}`, { method: 'DELETE', headers: admin.mutating })).status).toBe(204);
    await closedB;
  });
});

/** Changes one signature character well inside the string: the last base64url character may carry only padding bits. */
function tamper(jwt: string): string {
  const i = jwt.length - 6;
  return jwt.slice(0, i) + (jwt[i] === 'A' ? 'B' : 'A') + jwt.slice(i + 1);
}
