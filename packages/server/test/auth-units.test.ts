import { hostOf, isLoopbackAddress, isLoopbackHost } from '@falconet/protocol/net';
import Fastify from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { parseCookies, serializeCookie } from '../src/auth/cookies.ts';
import { installAccessGuard } from '../src/auth/guard.ts';
import { CONTENT_SECURITY_POLICY, installSecurityHeaders } from '../src/auth/headers.ts';
import { timeOrderedId } from '../src/auth/ids.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../src/auth/passwords.ts';
import { AuthService } from '../src/auth/service.ts';
import { SessionStore } from '../src/auth/sessions.ts';
import { SignInThrottle } from '../src/auth/throttle.ts';
import { ApiTokenRepository, EnrollmentTokenRepository, scopeAllows, scopeProblem } from '../src/auth/tokens.ts';
import { UserRepository } from '../src/auth/users.ts';
import { serverConfigSchema } from '../src/config.ts';
import { migrateMetaDb, openMetaDb } from '../src/db/index.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

const quiet = pino({ level: 'silent' });
const cheap = { log2N: 10, r: 8, p: 1 };

describe('passwords', () => {
  it('hashes with scrypt and a salt, verifies, and refuses wrong or corrupt input', async () => {
    const h = await hashPassword('s3cret-pass');
    expect(h).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await hashPassword('s3cret-pass')).not.toBe(h);
    expect(await verifyPassword('s3cret-pass', h)).toBe(true);
    expect(await verifyPassword('s3cret-pasS', h)).toBe(false);
    // Parameters travel with the hash, so a cheaper or dearer cost verifies too.
    expect(await verifyPassword('x-password', await hashPassword('x-password', cheap))).toBe(true);
    for (const bad of ['', 'plain', 'scrypt$40$8$1$AAAA$BBBB', 'bcrypt$1$2$3$4$5', h.replace('$15$', '$9$')]) {
      expect(await verifyPassword('s3cret-pass', bad)).toBe(false);
    }
    expect(passwordProblem('short', 'x')).toMatch(/at least 8/);
    expect(passwordProblem('Administrator', 'administrator')).toMatch(/user name/);
    expect(passwordProblem('x'.repeat(300), 'a')).toMatch(/at most/);
    expect(passwordProblem('long enough', 'a')).toBeUndefined();
  });
});

describe('throttle, scopes, cookies, addresses', () => {
  it('lets an address burst, then refills at its rate', () => {
    const t = new SignInThrottle({ burst: 3, perMinute: 6, maxFailures: 3, lockoutMs: 60_000 });
    const at = 1_000_000;
    expect([t.take('a', at), t.take('a', at), t.take('a', at)]).toEqual([0, 0, 0]);
    expect(t.take('a', at)).toBe(10_000);
    expect(t.take('b', at)).toBe(0);
    expect(t.take('a', at + 10_000)).toBe(0);
    expect(t.take('a', at + 10_000)).toBeGreaterThan(0);
  });

  it('locks an unknown name after its failures, until the lockout ends', () => {
    const t = new SignInThrottle({ burst: 3, perMinute: 6, maxFailures: 3, lockoutMs: 60_000 });
    expect([t.unknownNameFailed('ghost', 0), t.unknownNameFailed('ghost', 1), t.unknownNameFailed('ghost', 2)]).toEqual([
      false,
      false,
      true,
    ]);
    expect(t.unknownNameLockedFor('ghost', 3)).toBe(59_999);
    expect(t.unknownNameLockedFor('ghost', 60_002)).toBe(0);
  });

  it('forgets the oldest entries past its bound', () => {
    const t = new SignInThrottle({ burst: 1, perMinute: 1, maxFailures: 1, lockoutMs: 60_000, maxEntries: 100 });
    for (let i = 0; i < 1000; i++) t.take(`10.0.${i >> 8}.${i & 255}`, 0);
    expect(t.take('10.0.0.0', 0)).toBe(0); // forgotten, so it has a full bucket again
  });

  it('matches scopes on whole path segments and refuses odd ones', () => {
    expect(scopeAllows(['/api/metrics'], '/api/metrics')).toBe(true);
    expect(scopeAllows(['/api/metrics'], '/api/metrics/names')).toBe(true);
    expect(scopeAllows(['/api/metrics'], '/api/metricsx')).toBe(false);
    expect(scopeAllows(['/api/metrics'], '/metrics')).toBe(false);
    expect(scopeAllows(['*'], '/api/users')).toBe(true);
    for (const bad of ['metrics', '/api/../users', '/api//x', '/api/<x>', '']) expect(scopeProblem(bad), bad).toBeDefined();
    expect(scopeProblem('/api/v1/push')).toBeUndefined();
  });

  it('parses and writes cookies', () => {
    expect(parseCookies('a=1; falconet_session=xyz; a=2; junk; b="q"')).toEqual(
      new Map([
        ['a', '1'],
        ['falconet_session', 'xyz'],
        ['b', 'q'],
      ]),
    );
    expect(serializeCookie('s', 'v', { httpOnly: true, secure: true, maxAgeSeconds: 10.7 })).toBe(
      's=v; Path=/; Max-Age=10; HttpOnly; Secure; SameSite=Strict',
    );
  });

  it('knows loopback addresses and Host headers', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '0.0.0.0', '::', '128.0.0.1', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false);
    const loopbackHeader = (h: string | undefined) => isLoopbackHost(hostOf(h ?? ''));
    for (const h of ['localhost:7070', '127.0.0.1:7070', '[::1]:7070', 'LOCALHOST']) expect(loopbackHeader(h), h).toBe(true);
    for (const h of ['evil.example:7070', 'localhost.evil.example', '127.0.0.1.nip.io', '[::2]:1', undefined])
      expect(loopbackHeader(h), String(h)).toBe(false);
  });

  it('orders audit ids by time', () => {
    const ids = [1, 2, 1_000_000, 1_795_000_000_000, 4_000_000_000_000].map((t) => timeOrderedId(t));
    expect([...ids].sort()).toEqual(ids);
  });
});

describe.each(ENGINES)('auth tables on %s', (kind) => {
  const open = metaDbOpener(kind).open;

  it('keeps users, counts failures atomically, locks and unlocks', async () => {
    const meta = await open();
    const users = new UserRepository(meta);
    expect(await users.any()).toBe(false);
    const u = await users.create('ann', 'operator', await hashPassword('ann-password', cheap), 1000);
    expect(await users.any()).toBe(true);
    await expect(users.create('ann', 'viewer', 'x')).rejects.toThrow();
    const results = await Promise.all(Array.from({ length: 4 }, () => users.recordFailure(u.id, 5, 60_000, 2000)));
    expect(results.every((r) => !r.locked)).toBe(true);
    expect((await users.byId(u.id))?.failedSignIns).toBe(4);
    expect(await users.recordFailure(u.id, 5, 60_000, 2000)).toEqual({ locked: true });
    expect((await users.byName('ann'))?.lockedUntilMs).toBe(62_000);
    await users.update(u.id, { unlock: true, role: 'admin' });
    expect(await users.byName('ann')).toMatchObject({ lockedUntilMs: 0, failedSignIns: 0, role: 'admin' });
    expect(await users.countAdmins()).toBe(1);
    await users.update(u.id, { disabled: true });
    expect(await users.countAdmins()).toBe(0);
    expect((await users.list()).map((x) => x.name)).toEqual(['ann']);
    expect(JSON.stringify(await users.list())).not.toContain('scrypt');
    await meta.close();
  });

  it('signs sessions with a shared key, and refuses forged, expired and revoked ones', async () => {
    const meta = await open();
    const users = new UserRepository(meta);
    const u = await users.create('sam', 'viewer', 'x');
    const auth = await AuthService.open(meta, serverConfigSchema.parse({}).auth, quiet);
    const s = await auth.sessions.issue(u.id, '127.0.0.1', 'ua', Date.now());
    expect(await auth.sessions.verify(s.jwt)).toMatchObject({ id: s.id, userId: u.id, csrf: s.csrf });
    // Another instance on the same database reads the same key.
    const other = await AuthService.open(meta, serverConfigSchema.parse({}).auth, quiet);
    expect(await other.sessions.verify(s.jwt)).toMatchObject({ id: s.id });
    // A different key (another installation) does not verify it.
    const stranger = new SessionStore(meta, new Uint8Array(32), 3_600_000);
    expect(await stranger.verify(s.jwt)).toBeUndefined();
    // Tampered payload, alg=none, expiry in the past.
    const [h, p, sig] = s.jwt.split('.') as [string, string, string];
    const evil = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'someone-else' })).toString(
      'base64url',
    );
    expect(await auth.sessions.verify(`${h}.${evil}.${sig}`)).toBeUndefined();
    const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    expect(await auth.sessions.verify(`${none}.${p}.`)).toBeUndefined();
    expect(await auth.sessions.verify(s.jwt, s.expiresMs + 1000)).toBeUndefined();
    // Sliding expiry: untouched in the first half of its life, renewed in the second.
    expect(await auth.sessions.refreshIfDue({ ...s }, Date.now())).toBeUndefined();
    const later = s.expiresMs - 1000;
    const renewed = await auth.sessions.refreshIfDue({ ...s }, later);
    expect(renewed?.expiresMs).toBe(later + auth.sessions.ttlMs);
    expect(await auth.sessions.verify(renewed?.jwt as string, later + 5000)).toMatchObject({ id: s.id });
    await auth.sessions.revoke(s.id);
    expect(await auth.sessions.verify(s.jwt)).toBeUndefined();
    await meta.close();
  });

  it('keeps only a hash of token secrets, and spends enrollment uses exactly once each', async () => {
    const meta = await open();
    const tokens = new ApiTokenRepository(meta);
    const { token, record } = await tokens.create({ name: 'ci', role: 'operator', scopes: ['/api/v1/push'], expiresMs: 0, createdBy: 't' });
    const stored = await meta.db.selectFrom('api_tokens').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(token.slice(16));
    expect(await tokens.verify(token)).toMatchObject({ id: record.id, role: 'operator', scopes: ['/api/v1/push'] });
    expect(await tokens.verify(`${token.slice(0, -2)}AA`)).toBe('unknown');
    expect(await tokens.verify('fnt_x')).toBe('malformed');
    expect(await tokens.revoke(record.id)).toBe(true);
    expect(await tokens.revoke(record.id)).toBe(false);
    expect(await tokens.verify(token)).toBe('revoked');

    const enroll = new EnrollmentTokenRepository(meta);
    const e = await enroll.create({ name: 'rack', labels: { rack: '7' }, expiresMs: Date.now() + 60_000, maxUses: 3, createdBy: 't' });
    const spent = await Promise.all(Array.from({ length: 8 }, () => enroll.redeem(e.token)));
    expect(spent.filter((r) => typeof r === 'object')).toHaveLength(3);
    expect(spent.filter((r) => r === 'used up')).toHaveLength(5);
    expect(await enroll.redeem(e.token, Date.now() + 120_000)).toBe('expired');
    const f = await enroll.create({ name: 'one', labels: {}, expiresMs: Date.now() + 60_000, maxUses: 1, createdBy: 't' });
    await enroll.revoke(f.record.id);
    expect(await enroll.redeem(f.token)).toBe('revoked');
    await meta.close();
  });
});

describe('the access guard alone', () => {
  it('refuses every request to a route that declares no access rule (fail closed), and sets the security headers', async () => {
    const meta = openMetaDb({ url: '', dataDir: tempDir() });
    await migrateMetaDb(meta);
    const auth = await AuthService.open(meta, serverConfigSchema.parse({}).auth, quiet);
    const app = Fastify();
    installSecurityHeaders(app, { tls: true });
    const guard = installAccessGuard(app, auth, { secureCookies: true });
    app.get('/api/forgotten', async () => ({ secret: 42 }));
    app.get('/api/open', { config: { public: true } }, async () => ({ ok: true }));
    app.get('/api/typo', { config: { minRole: 'superuser' as never } }, async () => ({ secret: 42 }));
    await app.ready();
    // Before any user exists the caller is local admin; the rule-less route is refused all the same.
    const forgotten = await app.inject({ url: '/api/forgotten', remoteAddress: '127.0.0.1', headers: { host: '127.0.0.1' } });
    expect(forgotten.statusCode).toBe(403);
    expect(forgotten.json()).toEqual({
      error: { code: 'no_access_rule', message: 'GET /api/forgotten declares no access rule, so it is refused' },
    });
    expect((await app.inject({ url: '/api/typo', remoteAddress: '127.0.0.1', headers: { host: '127.0.0.1' } })).statusCode).toBe(403);
    const open = await app.inject({ url: '/api/open', remoteAddress: '127.0.0.1', headers: { host: '127.0.0.1' } });
    expect(open.statusCode).toBe(200);
    expect(open.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe');
    expect(open.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'strict-transport-security': 'max-age=31536000',
      'cache-control': 'no-store',
    });
    // Not from loopback, before the first user: refused.
    expect((await app.inject({ url: '/api/open', remoteAddress: '10.1.2.3', headers: { host: '127.0.0.1' } })).statusCode).toBe(403);
    expect(guard.routes.map((r) => `${r.method} ${r.url}`)).toEqual(expect.arrayContaining(['GET /api/forgotten', 'HEAD /api/forgotten']));
    await app.close();
    await meta.close();
  });
});
