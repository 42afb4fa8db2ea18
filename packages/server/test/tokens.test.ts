import { derivePayloadKey } from '@falconet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { AgentTokens, hashToken } from '../src/agents/tokens.ts';
import { type MetaDb, migrateMetaDb, openMetaDb } from '../src/db/index.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

describe('agent tokens', () => {
  const meta = openMetaDb({ url: '', dataDir: tempDir() });
  afterAll(() => meta.close());

  it('keeps only a hash, verifies, expires and revokes', async () => {
    await migrateMetaDb(meta);
    let now = 1_000_000;
    const tokens = new AgentTokens(meta, () => now);
    expect(await tokens.anyIssued()).toBe(false);
    const { token, record } = await tokens.create('web-1', { expiresInMs: 60_000 });
    expect(token).toMatch(/^fnt_[A-Za-z0-9_-]{43}$/);
    expect(await tokens.anyIssued()).toBe(true);
    const rows = await meta.db.selectFrom('agent_tokens').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(token.slice(4));
    expect(rows[0]?.token_hash).toBe(hashToken(token));

    const ok = await tokens.verify(token);
    expect(ok.ok && ok.token.agent).toBe('web-1');
    expect(ok.ok && ok.payloadKey.equals(derivePayloadKey(token))).toBe(true);
    expect(await tokens.verify(`${token}x`)).toMatchObject({ ok: false, reason: 'unknown', message: 'unknown token' });
    expect(await tokens.verify('not-ours')).toMatchObject({ ok: false, reason: 'unknown' });

    now += 60_000;
    expect(await tokens.verify(token)).toMatchObject({
      ok: false,
      reason: 'expired',
      message: `token ${record.id} expired at 1970-01-01T00:17:40.000Z`,
    });

    const other = await tokens.create('db-1');
    expect(await tokens.revoke(other.record.id)).toBe(true);
    expect(await tokens.revoke(other.record.id)).toBe(false);
    expect(await tokens.verify(other.token)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await tokens.list()).map((t) => t.agent)).toEqual(['web-1', 'db-1']);
    await expect(tokens.create('two words')).rejects.toThrow(/expected a hostname or agent id/);
    await expect(tokens.create('x', { expiresInMs: 0 })).rejects.toThrow(/positive duration/);
  });
});

describe.each(ENGINES)('agent token binding on %s', (kind) => {
  const databases = metaDbOpener(kind);
  async function open(): Promise<MetaDb> {
    const meta = await databases.unmigrated();
    expect(await migrateMetaDb(meta)).toContain('0300_agent_identity');
    return meta;
  }

  it('binds a token to one agent identity, once, and keeps the labels it was made with', async () => {
    const meta = await open();
    const tokens = new AgentTokens(meta);
    const agent = (id: string, hostname: string) => ({
      id,
      hostname,
      record: '{}',
      first_seen_ms: 1,
      last_seen_ms: 1,
    });
    await meta.db
      .insertInto('agents')
      .values([agent('known-1', 'known-host'), agent('twin-1', 'twin'), agent('twin-2', 'twin')])
      .execute();
    // Known by id or by its one hostname: bound at creation; an ambiguous or unknown name waits for its first registration.
    expect((await tokens.create('known-1')).record.bound).toMatchObject({ agentId: 'known-1', hostname: 'known-host' });
    expect((await tokens.create('known-host')).record.bound).toMatchObject({ agentId: 'known-1', hostname: 'known-host' });
    expect((await tokens.create('twin')).record.bound).toBeNull();
    const fresh = await tokens.create('new-host', { labels: { role: 'db', zone: 'a' } });
    expect(fresh.record).toMatchObject({ bound: null, labels: { role: 'db', zone: 'a' } });
    // Two binds racing: one conditional UPDATE wins.
    const won = await Promise.all([tokens.bind(fresh.record.id, 'a-1', 'new-host'), tokens.bind(fresh.record.id, 'b-1', 'new-host')]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const bound = await tokens.get(fresh.record.id);
    expect(bound?.bound?.agentId).toBe(won[0] ? 'a-1' : 'b-1');
    expect((await tokens.boundTo(bound?.bound?.agentId as string)).map((t) => t.id)).toEqual([fresh.record.id]);
    const check = await tokens.verify(fresh.token);
    expect(check.ok && check.token.labels).toEqual({ role: 'db', zone: 'a' });
    await expect(tokens.create('x', { labels: { 'not a name': 'v' } })).rejects.toThrow(/^--label: label "not a name": not a label name/);
    await expect(tokens.create('x', { labels: { role: 'v'.repeat(300) } })).rejects.toThrow(/the value is 300 characters; at most 256/);
    await meta.close();
  });
});
