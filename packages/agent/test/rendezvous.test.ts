import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../src/config.ts';
import { parseServerUrls } from '../src/config-base.ts';
import { rankServers, targetOf } from '../src/transport/rendezvous.ts';

const servers = parseServerUrls('10.0.0.1:7071,10.0.0.2:7071,10.0.0.3:7071');
const agents = Array.from({ length: 3000 }, (_, i) => `agent-${i}`);
const first = (id: string, list = servers) => targetOf(rankServers(id, list)[0] as (typeof servers)[number]);

describe('rendezvous ranking of a cluster’s servers', () => {
  it('spreads agents evenly and ranks the same way whatever the order given', () => {
    const counts = new Map<string, number>();
    for (const id of agents) counts.set(first(id), (counts.get(first(id)) ?? 0) + 1);
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(120);
    const reversed = [...servers].reverse();
    for (const id of agents.slice(0, 200)) expect(rankServers(id, reversed).map(targetOf)).toEqual(rankServers(id, servers).map(targetOf));
  });

  it('moves only the agents of a server that goes, each to its own second choice', () => {
    const gone = '10.0.0.2:7071';
    const left = servers.filter((s) => targetOf(s) !== gone);
    for (const id of agents) {
      const before = rankServers(id, servers).map(targetOf);
      const after = first(id, left);
      if (before[0] !== gone) expect(after).toBe(before[0]);
      else expect(after).toBe(before[1]);
    }
  });
});

describe('server.url with several servers', () => {
  it('takes a comma-separated list and refuses mixed schemes, empty entries and repeats, naming them', () => {
    expect(parseServerUrls('a:1, b:2').map(targetOf)).toEqual(['a:1', 'b:2']);
    const bad = (url: string) => {
      const r = agentConfigSchema.safeParse({ server: { url } });
      expect(r.success).toBe(false);
      return r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    };
    expect(bad('grpcs://a:1,grpc://b:2')).toContain(
      'server.url: server address list "grpcs://a:1,grpc://b:2": give every address the same scheme',
    );
    expect(bad('a:1,,b:2')).toContain('has an empty entry');
    expect(bad('a:1,a:1')).toContain('names a:1 twice');
    expect(bad('a:1,b')).toMatch(/server\.url: .*b/);
    // Plaintext beyond loopback is refused for each address, as for one.
    expect(bad('grpc://127.0.0.1:1,grpc://10.0.0.9:1')).toContain('grpc://10.0.0.9:1 is plaintext to a host beyond loopback');
  });
});
