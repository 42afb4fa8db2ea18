import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { AgentRepository } from '../src/db/agents.ts';
import { migrateMetaDb, openMetaDb } from '../src/db/index.ts';
import { LiveHub } from '../src/live/hub.ts';
import { AgentRegistry } from '../src/registry.ts';

describe('AgentRegistry', () => {
  it('goes offline after three missed intervals even while the stream stays open', async () => {
    let now = 1_000_000;
    const live = new LiveHub();
    const seen: string[] = [];
    live.add({ agents: new Set(), send: (m) => m.type === 'agent' && seen.push(m.agent.status) });
    const meta = openMetaDb({ url: '', dataDir: tempDir() });
    await migrateMetaDb(meta);
    const reg = new AgentRegistry(new AgentRepository(meta), live, { now: () => now });
    await reg.load();
    await reg.connected({
      agentId: 'a',
      hostname: 'h',
      ips: [],
      os: '',
      kernel: '',
      arch: '',
      version: '',
      labels: {},
      token: '',
      bootTimeMs: 0,
      intervalMs: 10_000,
      primaryIp: '',
      platform: '',
      releaseTarget: '',
      updateBlocked: '',
      compactSamples: false,
    });
    expect(reg.get('a')?.status).toBe('online');
    now += 30_000;
    reg.sweep();
    expect(reg.get('a')?.status).toBe('online');
    now += 1;
    reg.sweep();
    expect(reg.get('a')?.status).toBe('offline');
    await reg.seen('a');
    expect(reg.get('a')?.status).toBe('online');
    reg.disconnected('a');
    expect(reg.get('a')?.status).toBe('offline');
    expect(seen).toEqual(['online', 'offline', 'online', 'offline']);
    reg.stop();
    await meta.close();
  });
});
