import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { AgentRepository } from '../src/db/agents.ts';
import { migrateMetaDb, openMetaDb } from '../src/db/index.ts';
import type { AgentRecord } from '../src/store/types.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

const agent = (id: string, hostname = `host-${id}`): AgentRecord => ({
  id,
  hostname,
  ips: ['10.0.0.1'],
  primaryIp: '10.0.0.1',
  os: 'Linux',
  kernel: '6.1',
  arch: 'x64',
  platform: 'linux',
  version: '0.1.0',
  labels: { env: 'test' },
  bootTimeMs: 1,
  intervalMs: 10_000,
  firstSeenMs: 1_700_000_000_000,
  lastSeenMs: 1_700_000_000_500,
  summary: { falconet_cpu_usage_percent: 12.5 },
});

describe.each(ENGINES)('metadata database on %s', (kind) => {
  const open = metaDbOpener(kind).unmigrated;

  it('migrates once, then has nothing left to apply', async () => {
    const meta = await open();
    expect(meta.kind).toBe(kind);
    expect(await migrateMetaDb(meta)).toContain('0001_agents');
    expect(await migrateMetaDb(meta)).toEqual([]);
    await meta.close();
  });

  it('keeps agent records', async () => {
    const meta = await open();
    await migrateMetaDb(meta);
    const repo = new AgentRepository(meta);
    await repo.upsert(agent('x'));
    await repo.upsert({ ...agent('x', 'renamed'), lastSeenMs: 1_700_000_001_000 });
    await repo.upsert(agent('a'));
    expect(await repo.get('x')).toMatchObject({
      hostname: 'renamed',
      lastSeenMs: 1_700_000_001_000,
      summary: { falconet_cpu_usage_percent: 12.5 },
    });
    expect(await repo.get('nope')).toBeUndefined();
    expect((await repo.list()).map((a) => a.id)).toEqual(['a', 'x']);
    expect(await repo.hostnameOf('x')).toBe('renamed');
    expect(await repo.hostnameOf('nope')).toBeUndefined();
    // Server-side labels: the whole set, replaced on each write.
    await repo.setServerLabels('x', { role: 'db' }, 'alice', 1);
    await repo.setServerLabels('x', { role: '', zone: 'a' }, 'bob', 2);
    expect(await repo.serverLabels()).toEqual(new Map([['x', { role: '', zone: 'a' }]]));
    await meta.close();
  });
});

describe('openMetaDb', () => {
  it('names a URL it cannot use', () => {
    expect(() => openMetaDb({ url: 'mysql://x', dataDir: tempDir() })).toThrow(/database.url "mysql:\/\/x": expected postgres:\/\//);
  });
});
