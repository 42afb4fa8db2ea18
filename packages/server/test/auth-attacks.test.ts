import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../../../testing/processes.ts';
import { signIn } from '../../../testing/sign-in.ts';
import { AgentSimulator } from '../../../testing/simulator.ts';
import { concretePath, makeWebRoot, PASSWORD, startTestServer, type TestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

/**
 * Hostile input: SQL injection in every filter parameter of every route (enumerated from the
 * route table), path traversal on the static files, oversized and malformed bodies, and 1,000
 * wrong passwords. All must be refused, the server must keep working, the lockout must hold.
 */

const SQL_PAYLOADS = [
  "' OR '1'='1",
  "' OR 1=1 --",
  '" OR ""="',
  '1; DROP TABLE users; --',
  "'; DROP TABLE agents; --",
  "x' UNION SELECT name, password_hash FROM users --",
  "%' OR name LIKE '%",
  "admin'--",
  '1) OR (1=1',
  "'; SELECT pg_sleep(3); --",
  "' || (SELECT password_hash FROM users LIMIT 1) || '",
  '\\x27 OR 1=1',
];

/** Values that make a request reach the database when only one parameter carries the payload. */
function baseline(agentId: string): Record<string, string> {
  return { agent: agentId, name: 'falconet_cpu_usage_percent' };
}

/** Cursors and ranges legitimately return rows for some values; a filter given a payload must match nothing. */
const CURSORS = new Set(['before', 'after', 'offset', 'cursor', 'from', 'to', 'step', 'agg', 'limit', 'sort', 'order']);

function queryKeys(schema: unknown): string[] {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape) : [];
}

function rawGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(ENGINES)('SQL injection in every filter parameter (metadata on %s)', (kind) => {
  const databases = metaDbOpener(kind);
  let t: TestServer;
  let sim: AgentSimulator;
  beforeAll(async () => {
    t = await startTestServer({ databaseUrl: await databases.url() });
    // Users exist, so the agent presents a token of its own.
    const { token } = await t.server.ingest.tokens.create('sqli-0');
    sim = new AgentSimulator({
      server: `127.0.0.1:${t.server.addresses?.grpc.port}`,
      count: 1,
      intervalMs: 60_000,
      prefix: 'sqli',
      token: () => token,
    });
    sim.start();
    sim.tick();
    await eventually(async () => (await t.server.store.metricNames('sqli-0')).length > 0, 20_000);
  });
  afterAll(async () => {
    await sim?.stop();
    await t?.stop();
  });

  it('refuses or matches nothing, never errs, never leaks, and leaves every table whole', async () => {
    const admin = await t.token('admin');
    await fetch(`${t.base}/api/audit`, { headers: admin.headers }); // something in the audit log to leak, if it could
    const usersBefore = (await t.server.auth.users.list()).length;
    const targets = t.server.routes.filter(
      (r) => r.method === 'GET' && !r.websocket && (queryKeys(r.options.schema?.querystring).length || r.url.includes(':')),
    );
    expect(targets.map((r) => r.url)).toEqual(
      expect.arrayContaining(['/api/agents', '/api/metrics', '/api/metrics/names', '/api/audit', '/api/agents/:id']),
    );
    const seen: string[] = [];
    for (const route of targets) {
      const params = [
        ...queryKeys(route.options.schema?.querystring).map((k) => ({ where: 'query', key: k })),
        ...[...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ where: 'path', key: m[1] as string })),
      ];
      for (const p of params) {
        for (const payload of SQL_PAYLOADS) {
          const q = new URLSearchParams(baseline('sqli-0'));
          let path = concretePath(route.url);
          if (p.where === 'query') q.set(p.key, payload);
          else path = route.url.replace(`:${p.key}`, encodeURIComponent(payload)).replace(/:([A-Za-z0-9_]+)/g, 'x');
          const res = await fetch(`${t.base}${path}?${q}`, { headers: admin.headers });
          const text = await res.text();
          const what = `${route.url} ${p.where} ${p.key}=${payload}: ${res.status} ${text.slice(0, 200)}`;
          expect([200, 400, 404], what).toContain(res.status);
          // The payload may be echoed in a 404 message; a password hash or a database error may not.
          expect(text, what).not.toMatch(/scrypt\$\d|SQLITE_|syntax error|internal server error/i);
          if (res.status === 200 && !CURSORS.has(p.key)) {
            const body = JSON.parse(text) as Record<string, unknown>;
            for (const key of ['items', 'series', 'names']) {
              if (Array.isArray(body[key])) expect(body[key], what).toEqual([]);
            }
          }
          seen.push(`${route.url}?${p.key}`);
        }
      }
    }
    expect(new Set(seen).size).toBeGreaterThanOrEqual(20);
    // Nothing dropped, nothing changed.
    expect((await t.server.auth.users.list()).length).toBe(usersBefore);
    const agents = (await (await fetch(`${t.base}/api/agents`, { headers: admin.headers })).json()) as { total: number };
    expect(agents.total).toBe(1);
    expect((await t.server.store.metricNames('sqli-0')).length).toBeGreaterThan(0);
    expect((await fetch(`${t.base}/api/audit?limit=1`, { headers: admin.headers })).status).toBe(200);
  }, 120_000);
});

describe('the static file server and request bodies', () => {
  let t: TestServer;
  let secret = '';
  beforeAll(async () => {
    const web = makeWebRoot();
    secret = web.secretMarker;
    t = await startTestServer({ webRoot: web.root });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('lets a browser keep the hashed assets and asks it to check the page itself every time', async () => {
    const asset = await fetch(`${t.base}/assets/app.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    for (const path of ['/', '/hosts/whatever']) {
      const page = await fetch(`${t.base}${path}`);
      expect(await page.text()).toContain('dashboard shell');
      expect(page.headers.get('cache-control'), path).not.toContain('immutable');
    }
  });

  it('serves no file outside its root, however the path is spelled', async () => {
    const paths = [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/assets/../../secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..\\secret.txt',
      '/%5c..%5csecret.txt',
      '/....//secret.txt',
      '/%252e%252e/secret.txt',
      '/assets/..%00/secret.txt',
      '/%c0%ae%c0%ae/secret.txt',
      '/../public-secret.txt',
      '/../../../../../../etc/passwd',
      '/assets/../../../../../../etc/passwd',
      '/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '//etc/passwd',
      '/assets//../../secret.txt',
    ];
    for (const path of paths) {
      for (const headers of [{}, (await t.session('admin')).headers]) {
        const r = await rawGet(t.port, path, headers);
        expect([200, 400, 403, 404], path).toContain(r.status);
        expect(r.body, path).not.toContain(secret);
        expect(r.body, path).not.toMatch(/root:.*:0:0:/);
        // What does come back is the dashboard shell or an error, never another file.
        if (r.status === 200) expect(r.body, path).toContain('dashboard shell');
      }
    }
    expect((await rawGet(t.port, '/assets/app.js')).body).toBe('console.log("app");');
  });

  it('refuses oversized and malformed bodies with a clear error and keeps serving', async () => {
    const admin = await t.token('admin');
    const post = async (path: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      try {
        const res = await fetch(t.base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
        return { status: res.status, body: (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } } };
      } catch {
        // The server may close the connection on an upload it refused before reading.
        return { status: -1, body: {} };
      }
    };
    const big = JSON.stringify({ name: 'x', password: 'y'.repeat(5 * 1024 * 1024) });
    const cases: [string, string | Buffer, Record<string, string>, number[], string | undefined][] = [
      ['/api/auth/signin', JSON.stringify({ name: 'x', password: 'y'.repeat(20_000) }), {}, [413], 'payload_too_large'],
      ['/api/users', big, admin.headers, [413], 'payload_too_large'],
      ['/api/tokens', big, admin.headers, [413], 'payload_too_large'],
      // Anonymous: refused before the body is read at all.
      ['/api/users', big, {}, [401, -1], undefined],
      ['/api/auth/signin', '{"name":', {}, [400], 'bad_request'],
      ['/api/auth/signin', '{"name": 5, "password": []}', {}, [400], 'bad_request'],
      ['/api/auth/signin', '{"__proto__": {"role": "admin"}, "name": "a", "password": "b"}', {}, [400], 'bad_request'],
      ['/api/auth/signin', `${'['.repeat(5000)}${']'.repeat(5000)}`, {}, [400], 'bad_request'],
      ['/api/auth/signin', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), {}, [400], 'bad_request'],
      ['/api/auth/signin', 'name=a&password=b', { 'content-type': 'application/x-www-form-urlencoded' }, [415], 'unsupported_media_type'],
      ['/api/users', '{"name": "x y", "role": "god", "password": 1}', admin.headers, [400], 'bad_request'],
      ['/api/tokens', '{"name": "t", "role": "viewer", "scopes": ["../../etc"]}', admin.headers, [400], 'bad_request'],
      ['/api/tokens', '{"name": "t", "role": "viewer", "expires": "forever"}', admin.headers, [400], 'bad_request'],
    ];
    for (const [path, body, headers, statuses, code] of cases) {
      const r = await post(path, body, headers);
      expect(statuses, `${path} ${String(body).slice(0, 60)}: ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
      if (code) expect(r.body.error?.code).toBe(code);
      if (code === 'bad_request') expect(r.body.error?.message.length).toBeGreaterThan(5);
    }
    const fields = await post('/api/users', '{"name": "x y", "role": "god", "password": 1}', admin.headers);
    expect(fields.body.error?.message).toMatch(/name/);
    expect(fields.body.error?.message).toMatch(/role/);

    // An oversized WebSocket message closes that socket (1009) and nothing else.
    const ws = new WebSocket(`${t.base.replace('http', 'ws')}/api/live`, { headers: admin.headers });
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    ws.send('x'.repeat(100 * 1024));
    expect(await closed).toBe(1009);

    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.base}/api/users`, { headers: admin.headers })).status).toBe(200);
  });
});

/** Runs `n` attempts, `parallel` at a time, and counts the answers by status and code. */
async function attempts(n: number, parallel: number, one: (i: number) => Promise<{ status: number; code?: string | undefined }>) {
  const counts = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const r = await one(next++);
        const key = `${r.status} ${r.code ?? ''}`.trim();
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }),
  );
  return Object.fromEntries(counts);
}

describe('1,000 wrong passwords', () => {
  let t: TestServer;
  afterAll(async () => {
    await t?.stop();
  });

  it('from one address: all refused, throttled, the user locked, the server unharmed', async () => {
    t = await startTestServer();
    const counts = await attempts(1000, 25, (i) => signIn(t.base, 'admin-user', `wrong-${i}`));
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Object.keys(counts).every((k) => k.startsWith('401') || k.startsWith('429'))).toBe(true);
    // The address was throttled long before 1,000 scrypt verifications could run.
    expect(counts['401 invalid_credentials'] ?? 0).toBeLessThanOrEqual(10);
    expect(counts['429 rate_limited']).toBeGreaterThan(900);
    const user = await t.server.auth.users.byName('admin-user');
    expect(user?.lockedUntilMs).toBeGreaterThan(Date.now());
    // The right password does not get in now.
    expect((await signIn(t.base, 'admin-user', PASSWORD)).status).toBe(429);
    // Unharmed: health, another user's token, the audit trail.
    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    const admin = await t.token('admin');
    const audit = (await (await fetch(`${t.base}/api/audit?actor=admin-user&action=signin`, { headers: admin.headers })).json()) as {
      items: { outcome: string }[];
    };
    expect(audit.items.some((e) => e.outcome === 'locked')).toBe(true);
    expect(audit.items.every((e) => e.outcome !== 'ok')).toBe(true);
    await t.stop();
  }, 120_000);

  it('from 1,000 addresses: the per-user lockout holds alone, for unknown names too, until an admin lifts it', async () => {
    // Behind a trusted proxy every attempt may come from its own address, so the address throttle never fires.
    t = await startTestServer({ config: { auth: { trust_proxy: true, sign_in: { lockout: '1h' } } } });
    const from = (i: number) => ({ 'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
    const counts = await attempts(1000, 25, (i) => signIn(t.base, 'operator-user', `wrong-${i}`, from(i)));
    expect(Object.keys(counts).sort()).toEqual(['401 invalid_credentials', '429 locked']);
    // Each guess that raced past the lock check before the fifth failure was recorded still failed.
    expect(counts['401 invalid_credentials']).toBeLessThanOrEqual(30);
    expect(counts['429 locked']).toBeGreaterThanOrEqual(970);
    const locked = await signIn(t.base, 'operator-user', PASSWORD, from(5000));
    expect(locked).toMatchObject({ status: 429, code: 'locked' });
    expect(Number(locked.retryAfter)).toBeGreaterThan(3000);

    // A name that is no user locks the same way, so lockouts do not tell which names exist.
    const ghost = [];
    for (let i = 0; i < 7; i++) ghost.push((await signIn(t.base, 'no-such-user', 'whatever-pw', from(6000 + i))).status);
    expect(ghost).toEqual([401, 401, 401, 401, 401, 429, 429]);

    // Other users are untouched, and an admin can lift the lock.
    expect((await signIn(t.base, 'viewer-user', PASSWORD, from(7000))).status).toBe(200);
    const admin = await t.session('admin');
    const lift = await fetch(`${t.base}/api/users/operator-user`, {
      method: 'PATCH',
      headers: { ...admin.mutating, 'content-type': 'application/json' },
      body: JSON.stringify({ unlock: true }),
    });
    expect(lift.status).toBe(200);
    expect((await signIn(t.base, 'operator-user', PASSWORD, from(7001))).status).toBe(200);
  }, 120_000);
});
