/**
 * Secrets at rest (db/secrets.ts) on the embedded metadata database and on PostgreSQL: the
 * session signing key, channel specs and agent payload keys are sealed under the master key,
 * a value moved to another row does not open, a missing or wrong key stops the start with a
 * message that says what to do, and rows an older version wrote in plain text are sealed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { derivePayloadKey } from '@falconet/protocol';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { AgentTokens } from '../src/agents/tokens.ts';
import { AlertRepository } from '../src/alerts/repository.ts';
import { type ChannelSpec, channelSpecSchema } from '../src/alerts/spec.ts';
import { loadSigningKey } from '../src/auth/sessions.ts';
import { serverConfigSchema } from '../src/config.ts';
import { type MetaDb, migrateMetaDb, openMetaDb } from '../src/db/index.ts';
import { isSealed, MasterKeyError, rowContext, SecretBox, SecretOpenError } from '../src/db/secrets.ts';
import { startTestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

const hook: ChannelSpec = channelSpecSchema.parse({
  name: 'ops-hook',
  type: 'webhook',
  url: 'https://hooks.example/T000/B000/url-token-123',
  headers: { Authorization: 'Bearer webhook-bearer-456' },
  secret: 'hmac-secret-789',
});

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('opens what it sealed, in the same row only', () => {
    const here = rowContext('agent_tokens', 'payload_key', 'a1');
    const sealed = box.seal('00ff', here);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).toMatch(new RegExp(`^enc:v1:${box.keyId}:[A-Za-z0-9_-]+$`));
    expect(sealed).not.toContain('00ff');
    expect(box.open(sealed, here)).toBe('00ff');
    // Two seals of one value differ (random IV), so equal secrets do not show as equal rows.
    expect(box.seal('00ff', here)).not.toBe(sealed);

    expect(() => box.open(sealed, rowContext('agent_tokens', 'payload_key', 'b2'))).toThrow(
      'agent_tokens.payload_key:b2: sealed value does not open (altered, or copied from another row)',
    );
    // One character of the ciphertext changed (the one before the last, which carries whole bits).
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.slice(-1);
    expect(() => box.open(flipped, here)).toThrow(SecretOpenError);
    expect(() => box.open('00ff', here)).toThrow('agent_tokens.payload_key:a1: not a sealed value');
    const other = new SecretBox(randomBytes(32));
    expect(() => other.open(sealed, here)).toThrow(`sealed under master key ${box.keyId}, not this server's key ${other.keyId}`);
  });

  it('takes only a 32-byte key', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow('a master key is 32 bytes, not 16');
    const cfg = serverConfigSchema.safeParse({ secret_key: Buffer.alloc(16).toString('base64') });
    expect(cfg.success).toBe(false);
    expect(cfg.error?.issues).toMatchObject([
      { path: ['secret_key'], message: 'expected a 32-byte key in base64 (make one with: openssl rand -base64 32), found 16 bytes' },
    ]);
    expect(serverConfigSchema.parse({ secret_key: randomBytes(32).toString('base64') }).secret_key).toHaveLength(44);
  });
});

describe.each(ENGINES)('secrets at rest on %s', (kind) => {
  const { url } = metaDbOpener(kind);

  async function open(opts: { url: string; dataDir: string; secretKey?: string }): Promise<MetaDb> {
    const meta = openMetaDb(opts);
    await migrateMetaDb(meta);
    return meta;
  }

  it('seals the signing key, channel specs and payload keys under a key made 0600 on first use', async () => {
    const dbUrl = await url();
    const dataDir = tempDir();
    const meta = await open({ url: dbUrl, dataDir });
    const { token } = await new AgentTokens(meta).create('web-1');
    const signingKey = await loadSigningKey(meta);
    const repo = new AlertRepository(meta);
    await repo.putChannel('c1', hook, 'alice', 1, true);

    const keyFile = join(dataDir, 'secret.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);

    const tokenRow = await meta.db.selectFrom('agent_tokens').selectAll().executeTakeFirstOrThrow();
    const keyRow = await meta.db.selectFrom('auth_secrets').selectAll().where('name', '=', 'session_signing_key').executeTakeFirstOrThrow();
    const channelRow = await meta.db.selectFrom('alert_channels').selectAll().executeTakeFirstOrThrow();
    for (const sealed of [tokenRow.payload_key, keyRow.value, channelRow.spec]) expect(isSealed(sealed)).toBe(true);
    const everything = JSON.stringify([tokenRow, keyRow, channelRow]);
    for (const secret of [
      derivePayloadKey(token).toString('hex'),
      Buffer.from(signingKey).toString('base64'),
      'url-token-123',
      'webhook-bearer-456',
      'hmac-secret-789',
    ]) {
      expect(everything).not.toContain(secret);
    }

    // Read back through the storage layers, as the server uses them.
    const check = await new AgentTokens(meta).verify(token);
    expect(check.ok && check.payloadKey.equals(derivePayloadKey(token))).toBe(true);
    expect(await loadSigningKey(meta)).toEqual(signingKey);
    expect((await repo.channels())[0]?.spec).toEqual(hook);
    await repo.putChannel('c1', channelSpecSchema.parse({ ...hook, secret: 'rotated' }), 'alice', 2, false);
    expect((await repo.channels())[0]?.spec).toMatchObject({ secret: 'rotated' });

    // A sealed value moved into another row does not open there.
    const other = await new AgentTokens(meta).create('web-2');
    await meta.db.updateTable('agent_tokens').set({ payload_key: tokenRow.payload_key }).where('id', '=', other.record.id).execute();
    await expect(new AgentTokens(meta).verify(other.token)).rejects.toThrow(/does not open \(altered, or copied from another row\)/);
    await meta.close();

    // The next start (same data directory) finds the key and opens everything.
    const again = await open({ url: dbUrl, dataDir });
    expect(await loadSigningKey(again)).toEqual(signingKey);
    await again.close();
  });

  it('refuses to start without the key, or with another, and never makes a new one over sealed secrets', async () => {
    const dbUrl = await url();
    const first = tempDir();
    const meta = await open({ url: dbUrl, dataDir: first });
    await loadSigningKey(meta);
    const keyId = (await meta.secrets()).keyId;
    await meta.close();

    // A copy of the database without its key (sqlite: meta.db alone; PostgreSQL: another server's data directory).
    const bare = tempDir();
    if (kind === 'sqlite') writeFileSync(join(bare, 'meta.db'), readFileSync(join(first, 'meta.db')));
    const withoutKey = await open({ url: dbUrl, dataDir: bare });
    const missing = await withoutKey.unlock().catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(MasterKeyError);
    expect((missing as Error).message).toBe(
      `the metadata database's secrets are sealed under master key ${keyId}, and that key is not here: restore ${join(bare, 'secret.key')} (from the backup taken with the database) or set FALCONET_SECRET_KEY. No new key is made: it could not open them.`,
    );
    expect(existsSync(join(bare, 'secret.key'))).toBe(false);
    await expect(loadSigningKey(withoutKey)).rejects.toThrow(MasterKeyError);
    await withoutKey.close();

    const wrongKey = randomBytes(32).toString('base64');
    const wrong = await open({ url: dbUrl, dataDir: bare, secretKey: wrongKey });
    await expect(wrong.unlock()).rejects.toThrow(
      `secret_key (FALCONET_SECRET_KEY) holds master key ${new SecretBox(Buffer.from(wrongKey, 'base64')).keyId}, but the metadata database's secrets are sealed under key ${keyId}: give the key this database was made with`,
    );
    await wrong.close();

    writeFileSync(join(bare, 'secret.key'), 'not a key\n', { mode: 0o600 });
    const garbled = await open({ url: dbUrl, dataDir: bare });
    await expect(garbled.unlock()).rejects.toThrow(
      `${join(bare, 'secret.key')}: expected a 32-byte key in base64 (make one with: openssl rand -base64 32), found`,
    );
    await garbled.close();

    // The same key from the environment opens it, and no key file is made for it.
    const envDir = tempDir();
    if (kind === 'sqlite') writeFileSync(join(envDir, 'meta.db'), readFileSync(join(first, 'meta.db')));
    const fromEnv = await open({ url: dbUrl, dataDir: envDir, secretKey: readFileSync(join(first, 'secret.key'), 'utf8').trim() });
    expect((await fromEnv.secrets()).keyId).toBe(keyId);
    expect(existsSync(join(envDir, 'secret.key'))).toBe(false);
    await fromEnv.close();
  });

  it('seals the plaintext an older version left, keeping every value', async () => {
    const dbUrl = await url();
    const dataDir = tempDir();
    const legacy = await open({ url: dbUrl, dataDir });
    const signingKey = randomBytes(32);
    const token = `fnt_${randomBytes(32).toString('base64url')}`;
    // The rows as the previous version wrote them.
    await legacy.db
      .insertInto('auth_secrets')
      .values({ name: 'session_signing_key', value: signingKey.toString('base64'), created_ms: 1 })
      .execute();
    await legacy.db
      .insertInto('agent_tokens')
      .values({
        id: 't1',
        agent: 'web-1',
        token_hash: 'h',
        payload_key: derivePayloadKey(token).toString('hex'),
        created_ms: 1,
        expires_ms: null,
        revoked_ms: null,
        last_used_ms: null,
      })
      .execute();
    await legacy.db
      .insertInto('alert_channels')
      .values({ id: 'c1', name: hook.name, type: hook.type, spec: JSON.stringify(hook), created_by: 'alice', created_ms: 1, updated_ms: 1 })
      .execute();

    const { sealed, created } = await legacy.unlock();
    expect(created).toBe(true);
    expect(sealed).toEqual({ 'auth_secrets.value': 1, 'agent_tokens.payload_key': 1, 'alert_channels.spec': 1 });
    const tokenRow = await legacy.db.selectFrom('agent_tokens').select('payload_key').executeTakeFirstOrThrow();
    expect(isSealed(tokenRow.payload_key)).toBe(true);
    expect(Buffer.from(await loadSigningKey(legacy)).equals(signingKey)).toBe(true);
    expect((await new AlertRepository(legacy).channels())[0]?.spec).toEqual(hook);
    const box = await legacy.secrets();
    expect(box.open(tokenRow.payload_key, rowContext('agent_tokens', 'payload_key', 't1'))).toBe(derivePayloadKey(token).toString('hex'));
    await legacy.close();

    // Only once: the next start has nothing left in plain text.
    const next = await open({ url: dbUrl, dataDir });
    expect((await next.unlock()).sealed).toEqual({});
    await next.close();
  });

  // Two servers share one metadata database only on PostgreSQL: the case is not defined for SQLite (not skipped).
  if (kind === 'postgres')
    it('lets one of two servers starting together on one database make the key', async () => {
      const dbUrl = await url();
      const dirs = [tempDir(), tempDir()];
      const metas = await Promise.all(dirs.map((dataDir) => open({ url: dbUrl, dataDir })));
      const outcomes = await Promise.allSettled(metas.map((m) => m.unlock()));
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const lost = outcomes.findIndex((o) => o.status === 'rejected');
      expect((outcomes[lost] as PromiseRejectedResult).reason).toBeInstanceOf(MasterKeyError);
      // The loser keeps no key of its own that would seal anything the others cannot open.
      expect(existsSync(join(dirs[lost] as string, 'secret.key'))).toBe(false);
      expect(existsSync(join(dirs[1 - lost] as string, 'secret.key'))).toBe(true);
      for (const m of metas) await m.close();
    });
});

describe('a server upgraded over a database with plaintext secrets', () => {
  it('keeps the sessions signed with the old key and the channels, now sealed', async () => {
    const dataDir = tempDir();
    const legacy = await (async () => {
      const m = openMetaDb({ url: '', dataDir });
      await migrateMetaDb(m);
      return m;
    })();
    const signingKey = randomBytes(32);
    await legacy.db
      .insertInto('auth_secrets')
      .values({ name: 'session_signing_key', value: signingKey.toString('base64'), created_ms: 1 })
      .execute();
    await legacy.db
      .insertInto('alert_channels')
      .values({ id: 'c1', name: hook.name, type: hook.type, spec: JSON.stringify(hook), created_by: 'alice', created_ms: 1, updated_ms: 1 })
      .execute();
    await legacy.db
      .insertInto('users')
      .values({
        id: 'u1',
        name: 'alice',
        role: 'admin',
        password_hash: 'scrypt$x',
        disabled: 0,
        failed_signins: 0,
        locked_until_ms: 0,
        created_ms: 1,
        updated_ms: 1,
      })
      .execute();
    const expiresMs = Date.now() + 3_600_000;
    await legacy.db
      .insertInto('sessions')
      .values({ id: 's1', user_id: 'u1', created_ms: 1, expires_ms: expiresMs, address: '127.0.0.1', user_agent: 'test' })
      .execute();
    await legacy.close();
    // A cookie the previous version issued.
    const jwt = await new SignJWT({ sid: 's1' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('u1')
      .setIssuer('falconet')
      .setAudience('falconet-dashboard')
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresMs / 1000))
      .sign(signingKey);

    const t = await startTestServer({ users: false, config: { data_dir: dataDir } });
    try {
      const res = await fetch(`${t.base}/api/auth/session`, { headers: { cookie: `falconet_session=${jwt}` } });
      expect(await res.json()).toMatchObject({ mode: 'signed-in', user: { name: 'alice', role: 'admin' } });
      const channels = await fetch(`${t.base}/api/alerts/channels`, { headers: { cookie: `falconet_session=${jwt}` } });
      expect(((await channels.json()) as { items: { name: string }[] }).items.map((c) => c.name)).toEqual(['ops-hook']);
      const rows = await t.server.meta.db.selectFrom('alert_channels').select('spec').execute();
      expect(rows.map((r) => isSealed(r.spec))).toEqual([true]);
      expect(statSync(join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
      const audit = await fetch(`${t.base}/api/audit?actor=server`, { headers: { cookie: `falconet_session=${jwt}` } });
      expect(((await audit.json()) as { items: unknown[] }).items).toMatchObject([
        { action: 'secrets.key_created', detail: { sealed: { 'auth_secrets.value': 1, 'alert_channels.spec': 1 } } },
      ]);
    } finally {
      await t.stop();
    }
  });
});
