/**
 * An agent whose addresses change registers again on a fresh stream, and the server's record
 * follows: the agent's real ReportStream against an in-process server. Reports sent around the
 * change are each stored once.
 */
import { MemoryBacklog, ReportStream } from '@falconet/agent';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareIdentity, MemorySequence } from '../../../testing/agent-channel.ts';
import { eventually } from '../../../testing/processes.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ users: false });
});
afterAll(async () => {
  await t?.stop();
});

describe('an agent whose addresses changed', () => {
  it('reads them again before registering, registers again when told, and loses or repeats no report', async () => {
    const identity = bareIdentity('moving-1', { ips: [], primaryIp: '127.0.0.1' });
    let refreshed = 0;
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port: t.server.addresses?.grpc.port as number, tls: false },
      identity,
      labels: {},
      token: '',
      intervalMs: 1000,
      log: pino({ level: 'silent' }),
      sequence: new MemorySequence(),
      backlog: new MemoryBacklog(),
      refreshIdentity: async () => {
        refreshed++;
      },
    });
    const value = (v: number) => [{ name: 'moving_value', labels: {}, value: v, timestampMs: Date.now() + v }];
    stream.start();
    try {
      await stream.enqueue(value(1));
      expect(await stream.flush(20_000)).toBe(true);
      // Read before the first registration.
      const before = refreshed;
      expect(before).toBeGreaterThan(0);
      expect(t.server.registry.get('moving-1')).toMatchObject({ primaryIp: '127.0.0.1', ips: [] });

      // The network came up: what the agent's address check does when it sees the change.
      identity.ips = ['10.1.2.3'];
      identity.primaryIp = '10.1.2.3';
      await stream.enqueue(value(2));
      stream.reregister('the host addresses changed');
      await stream.enqueue(value(3));
      await eventually(() => t.server.registry.get('moving-1')?.primaryIp === '10.1.2.3');
      expect(await stream.flush(20_000)).toBe(true);
      expect(refreshed).toBeGreaterThan(before);
      expect(t.server.registry.get('moving-1')).toMatchObject({ ips: ['10.1.2.3'], status: 'online', connected: true });
      const [series] = await t.server.store.querySeries({
        agentId: 'moving-1',
        name: 'moving_value',
        fromMs: Date.now() - 60_000,
        toMs: Date.now() + 60_000,
      });
      expect(series?.points.map((p) => p[1])).toEqual([1, 2, 3]);
    } finally {
      await stream.stop();
    }
  });
});
