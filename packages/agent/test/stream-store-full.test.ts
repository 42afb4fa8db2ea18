import { AgentChannelService, type pb } from '@falconet/protocol';
import { Server as GrpcServer, status as grpcStatus, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { bareIdentity } from '../../../testing/agent-channel.ts';
import { capturedLog } from '../../../testing/log-capture.ts';
import { MemoryBacklog } from '../src/transport/backlog.ts';
import { ReportStream } from '../src/transport/stream.ts';

/**
 * A server that takes Register and then cannot store a report: what the real one does when its log
 * store's disk is full but its samples store still has room (e2e/full-disk.test.ts fills both).
 * A stub, because the real server only shows this for a moment before the samples store fills too.
 */
function fullServer(): { registers: () => number; start(): Promise<number>; stop(): void } {
  let registers = 0;
  const server = new GrpcServer();
  server.addService(AgentChannelService, {
    connect: (call: ServerDuplexStream<pb.AgentMessage, pb.ServerMessage>) => {
      call.on('data', (msg: pb.AgentMessage) => {
        if (msg.body?.$case === 'register') {
          registers++;
          const value = {
            agentId: msg.body.value.agentId,
            lastSeq: 0,
            intervalMs: 0,
            serverTimeMs: Date.now(),
            taskPublicKey: Buffer.alloc(0),
            compactSamples: false,
          };
          call.write({ body: { $case: 'registered', value } } as pb.ServerMessage);
        } else if (msg.body?.$case === 'report') {
          call.emit('error', { code: grpcStatus.RESOURCE_EXHAUSTED, details: `server log store is full: ${registers * 1000} bytes free` });
        }
      });
      call.on('error', () => undefined);
    },
  });
  return {
    registers: () => registers,
    start: () =>
      new Promise((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
      ),
    stop: () => server.forceShutdown(),
  };
}

describe('ReportStream against a server that registers it but cannot store reports', () => {
  const closers: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
  });

  it('backs off, growing, instead of redialling every 0.1 s, and says why once', async () => {
    const server = fullServer();
    const port = await server.start();
    closers.push(() => server.stop());
    const { log, lines } = capturedLog<{ level: number; msg: string; retryInMs?: number; reason?: string }>();
    let n = 0;
    const backlog = new MemoryBacklog(100);
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port, tls: false },
      identity: bareIdentity('full-1'),
      labels: {},
      token: '',
      intervalMs: 1000,
      log,
      sequence: { next: () => ++n, advancePast: () => undefined },
      backlog,
      // The breaker would pace the attempts itself; this test is about the backoff.
      circuitFailures: 1000,
    });
    closers.push(() => stream.stop());
    stream.start();
    await stream.enqueue([{ name: 'x', labels: {}, value: 1, timestampMs: Date.now() }]);
    for (let i = 0; i < 400 && server.registers() < 6; i++) await new Promise((r) => setTimeout(r, 50));
    expect(server.registers()).toBeGreaterThanOrEqual(6);
    // Each delay is drawn from the upper half of a ceiling that doubles: 0.1, 0.2, 0.4, 0.8, 1.6 s.
    const delays = lines.filter((l) => l.retryInMs !== undefined).map((l) => l.retryInMs as number);
    expect(delays.length).toBeGreaterThanOrEqual(5);
    for (const [k, d] of delays.slice(0, 5).entries()) expect(d, `delay ${k}`).toBeGreaterThanOrEqual(50 * 2 ** k);
    // The reason once at warn, with the changing figure left out; the rest at debug.
    const warned = lines.filter((l) => l.level === 40 && l.msg.startsWith('server cannot store reports now'));
    expect(warned.length).toBe(1);
    expect(warned[0]?.reason).toMatch(/server log store is full/);
    expect(lines.filter((l) => l.msg.startsWith('server still cannot store reports')).length).toBeGreaterThanOrEqual(4);
    // Nothing was acknowledged, so the report is still held.
    expect(backlog.stats.pendingReports).toBe(1);
  }, 60_000);
});
