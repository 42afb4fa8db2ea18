import { derivePayloadKey } from '@falconet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { AgentTokens, hashToken } from '../src/agents/tokens.ts';
import { migrateMetaDb, openMetaDb } from '../src/db/index.ts';

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
