import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../../testing/certs.ts';
import { tempDir } from '../../../testing/processes.ts';
import { signIn } from '../../../testing/sign-in.ts';
import { PASSWORD, startTestServer, type TestServer } from './support/auth.ts';

let t: TestServer;
beforeAll(async () => {
  // Many sign-ins from one address here; the address throttle has its own test (auth-attacks).
  t = await startTestServer({ config: { auth: { sign_in: { burst: 1000 } } } });
});
afterAll(async () => {
  await t?.stop();
});

async function api(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, setCookie: res.headers.get('set-cookie') };
}

describe('sign-in, session and sign-out over REST', () => {
  it('signs in, tells who is signed in, and signs out', async () => {
    const s = await signIn(t.base, 'viewer-user', PASSWORD);
    expect(s.status).toBe(200);
    expect(s.setCookie).toMatch(/^falconet_session=[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    expect(s.body).toMatchObject({ mode: 'signed-in', user: { name: 'viewer-user', role: 'viewer', kind: 'session' } });
    const me = await api('GET', '/api/auth/session', s.headers);
    expect(me.body).toMatchObject({ mode: 'signed-in', user: { name: 'viewer-user' }, csrfToken: s.body.csrfToken });
    expect((await api('GET', '/api/auth/session', {})).body).toEqual({ mode: 'signed-out', user: null, csrfToken: null, expiresMs: null });
    const out = await api('POST', '/api/auth/signout', s.mutating);
    expect(out.status).toBe(204);
    expect(out.setCookie).toMatch(/Max-Age=0/);
    expect((await api('GET', '/api/agents', s.headers)).status).toBe(401);
    expect((await signIn(t.base, 'viewer-user', 'not the password')).body.error).toEqual({
      code: 'invalid_credentials',
      message: 'wrong name or password',
    });
    expect((await signIn(t.base, 'nobody', 'not the password')).body.error.code).toBe('invalid_credentials');
  });
});

describe('users, tokens and the audit log', () => {
  it('lets an admin manage users, keeps the last admin, and ends sessions that lose rights', async () => {
    const admin = await signIn(t.base, 'admin-user', PASSWORD);
    const made = await api('POST', '/api/users', admin.mutating, { name: 'dana', role: 'operator', password: 'dana-password' });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'dana', role: 'operator', disabled: false });
    expect(JSON.stringify(made.body)).not.toMatch(/scrypt|password/);
    expect((await api('POST', '/api/users', admin.mutating, { name: 'dana', role: 'viewer', password: 'other-password' })).status).toBe(
      409,
    );
    expect(
      (await api('POST', '/api/users', admin.mutating, { name: 'eve', role: 'viewer', password: 'short' })).body.error.message,
    ).toMatch(/password: must be at least 8/);

    const dana = await signIn(t.base, 'dana', 'dana-password');
    expect((await api('GET', '/api/agents', dana.headers)).status).toBe(200);
    // Demoted: her session ends and she signs in again with fewer rights.
    expect((await api('PATCH', '/api/users/dana', admin.mutating, { role: 'viewer' })).body.role).toBe('viewer');
    expect((await api('GET', '/api/agents', dana.headers)).status).toBe(401);
    expect((await api('PATCH', '/api/users/dana', admin.mutating, { colour: 'red' })).status).toBe(400);

    // The last enabled admin can be neither demoted, disabled nor removed.
    for (const [method, body] of [
      ['PATCH', { role: 'viewer' }],
      ['PATCH', { disabled: true }],
      ['DELETE', undefined],
    ] as const) {
      const r = await api(method, '/api/users/admin-user', admin.mutating, body);
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('last_admin');
    }
    expect((await api('DELETE', '/api/users/dana', admin.mutating)).status).toBe(204);
    expect((await api('DELETE', '/api/users/dana', admin.mutating)).status).toBe(404);
    expect((await signIn(t.base, 'dana', 'dana-password')).status).toBe(401);
  });

  it('changes your own password and ends your other sessions', async () => {
    const first = await signIn(t.base, 'operator-user', PASSWORD);
    const second = await signIn(t.base, 'operator-user', PASSWORD);
    expect((await api('PUT', '/api/auth/password', first.mutating, { current: 'wrong-one', password: 'brand-new-pass' })).status).toBe(403);
    expect((await api('PUT', '/api/auth/password', first.mutating, { current: PASSWORD, password: 'brand-new-pass' })).status).toBe(204);
    expect((await api('GET', '/api/agents', first.headers)).status).toBe(200);
    expect((await api('GET', '/api/agents', second.headers)).status).toBe(401);
    expect((await signIn(t.base, 'operator-user', 'brand-new-pass')).status).toBe(200);
    // A token has no password to change.
    expect(
      (await api('PUT', '/api/auth/password', (await t.token('admin')).headers, { current: 'a', password: 'brand-new-pass' })).status,
    ).toBe(403);
  });

  it('makes, lists and revokes API tokens, never showing a secret twice', async () => {
    const admin = await signIn(t.base, 'admin-user', PASSWORD);
    const made = await api('POST', '/api/tokens', admin.mutating, {
      name: 'prometheus',
      role: 'viewer',
      scopes: ['/metrics'],
      expires: '30d',
    });
    expect(made.status).toBe(201);
    const secret = made.body.token as string;
    expect(made.body.record).toMatchObject({ name: 'prometheus', role: 'viewer', scopes: ['/metrics'], createdBy: 'admin-user' });
    expect(made.body.record.expiresMs).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const list = await api('GET', '/api/tokens', admin.headers);
    expect(JSON.stringify(list.body)).not.toContain(secret.slice(16));
    // Prometheus scrapes the server's /metrics with it.
    const scrape = await fetch(`${t.base}/metrics`, { headers: { authorization: `Bearer ${secret}` } });
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('falconet_server_agents');
    expect((await api('DELETE', `/api/tokens/${made.body.record.id}`, admin.mutating)).status).toBe(204);
    expect((await fetch(`${t.base}/metrics`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(401);

    const never = await api('POST', '/api/tokens', admin.mutating, { name: 'forever', role: 'admin', expires: 'never' });
    expect(never.body.record).toMatchObject({ expiresMs: 0, scopes: ['*'] });
    const enroll = await api('POST', '/api/enrollment-tokens', admin.mutating, { name: 'rack-1', maxUses: 5, labels: { rack: '1' } });
    expect(enroll.status).toBe(201);
    expect(enroll.body.token).toMatch(/^fne_/);
    expect((await api('GET', '/api/enrollment-tokens', admin.headers)).body.items[0]).toMatchObject({
      name: 'rack-1',
      maxUses: 5,
      uses: 0,
    });
    expect((await api('DELETE', `/api/enrollment-tokens/${enroll.body.record.id}`, admin.mutating)).status).toBe(204);
    expect((await api('POST', '/api/enrollment-tokens', admin.mutating, { name: 'x', expires: 'never' })).status).toBe(400);
  });

  it('records sign-ins and changes in the audit log, filterable', async () => {
    const admin = await t.token('admin');
    const all = (await api('GET', '/api/audit?limit=1000', admin.headers)).body.items as {
      actor: string;
      action: string;
      outcome: string;
      target: string;
    }[];
    const has = (actor: string, action: string, outcome = 'ok') =>
      all.some((e) => e.actor === actor && e.action === action && e.outcome === outcome);
    expect(has('viewer-user', 'signin')).toBe(true);
    expect(has('viewer-user', 'signin', 'failed')).toBe(true);
    expect(has('nobody', 'signin', 'failed')).toBe(true);
    expect(has('viewer-user', 'signout')).toBe(true);
    expect(has('admin-user', 'user.create')).toBe(true);
    expect(has('admin-user', 'user.update')).toBe(true);
    expect(has('admin-user', 'user.delete')).toBe(true);
    expect(has('operator-user', 'password.change')).toBe(true);
    expect(has('operator-user', 'password.change', 'denied')).toBe(true);
    expect(has('admin-user', 'token.create')).toBe(true);
    expect(has('admin-user', 'token.revoke')).toBe(true);
    expect(has('admin-user', 'enrollment.create')).toBe(true);
    // Changes that routes do not audit themselves are caught by the guard's hook, refusals too.
    expect(all.some((e) => e.action === 'PATCH /api/users/:name' && e.outcome === 'failed')).toBe(true);
    const failed = (await api('GET', '/api/audit?action=signin&outcome=failed', admin.headers)).body.items as { outcome: string }[];
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.every((e) => e.outcome === 'failed')).toBe(true);
    const page1 = (await api('GET', '/api/audit?limit=2', admin.headers)).body.items as { id: string }[];
    const page2 = (await api('GET', `/api/audit?limit=2&before=${page1[1]?.id}`, admin.headers)).body.items as { id: string }[];
    expect((page2[0]?.id ?? '') < (page1[1]?.id ?? '')).toBe(true);
  });
});

describe('HTTPS from config', () => {
  it('serves the API over TLS with HSTS and Secure cookies', async () => {
    const dir = tempDir();
    const { cert, key } = selfSignedCert(dir, { days: 1, cn: '127.0.0.1', san: 'IP:127.0.0.1' });
    const s = await startTestServer({ config: { http_tls: { cert_file: cert, key_file: key } } });
    try {
      const ca = readFileSync(cert);
      const call = (method: string, path: string, body?: string) =>
        new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port: s.port, path, method, ca, headers: body ? { 'content-type': 'application/json' } : {} },
            (res) => {
              let text = '';
              res.on('data', (d) => {
                text += d;
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      const health = await call('GET', '/healthz');
      expect(health.status).toBe(200);
      expect(health.headers['strict-transport-security']).toBe('max-age=31536000');
      const signin = await call('POST', '/api/auth/signin', JSON.stringify({ name: 'admin-user', password: PASSWORD }));
      expect(signin.status).toBe(200);
      expect(String(signin.headers['set-cookie'])).toMatch(/; HttpOnly; Secure; SameSite=Strict$/);
      // Plain HTTP on the TLS port gets nowhere.
      await expect(fetch(`http://127.0.0.1:${s.port}/healthz`)).rejects.toThrow();
    } finally {
      await s.stop();
    }
  });

  it('names an unreadable certificate file and refuses half a TLS config', async () => {
    await expect(
      startTestServer({ users: false, config: { http_tls: { cert_file: '/nonexistent/cert.pem', key_file: '/nonexistent/key.pem' } } }),
    ).rejects.toThrow('http_tls.cert_file /nonexistent/cert.pem: cannot read (ENOENT)');
    await expect(startTestServer({ users: false, config: { http_tls: { cert_file: '/x.pem' } } })).rejects.toThrow(
      /set both cert_file and key_file/,
    );
  });
});
