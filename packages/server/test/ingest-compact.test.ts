import { MemoryBacklog, ReportStream } from '@falconet/agent';
import { CompactEncoder, PayloadKind, type pb, type Sample } from '@falconet/protocol';
import { status as GrpcStatus } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bareIdentity, MemorySequence, rawStream, registerMessage, registerOn } from '../../../testing/agent-channel.ts';
import { eventually } from '../../../testing/processes.ts';
import type { FalconetServer } from '../src/app.ts';
import { startTestServer } from './support/auth.ts';

const log = pino({ level: 'silent' });
let server: FalconetServer;
let base = '';
let grpcPort = 0;

beforeAll(async () => {
  const t = await startTestServer({ users: false });
  server = t.server;
  base = t.base;
  grpcPort = server.addresses?.grpc.port ?? 0;
});

afterAll(async () => {
  await server?.stop();
});

/** One report of a host: counters with two decimals, gauges, a value with every digit, a NaN. */
function host(t: number, k: number): Sample[] {
  return [
    { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'idle' }, value: 12345.67 + k * 9.98, timestampMs: t },
    { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'user' }, value: 321.5 + k * 0.01, timestampMs: t },
    { name: 'node_load1', labels: {}, value: 0.35 + k / 100, timestampMs: t },
    { name: 'node_entropy', labels: {}, value: Math.PI * (k + 1), timestampMs: t },
    { name: 'node_gone', labels: {}, value: k % 2 ? Number.NaN : 1, timestampMs: t },
  ];
}

async function stored(agent: string, name: string, from: number): Promise<Map<string, [number, number | null][]>> {
  const r = await fetch(`${base}/api/metrics?agent=${agent}&name=${name}&from=${from}&to=${Date.now() + 60_000}`);
  const body = (await r.json()) as { series: { labels: Record<string, string>; points: [number, number | null][] }[] };
  return new Map(body.series.map((s) => [JSON.stringify(s.labels), s.points]));
}

const compactReport = (seq: number, enc: CompactEncoder, samples: Sample[]): pb.AgentMessage => ({
  body: {
    $case: 'report',
    value: {
      seq,
      sampleCount: samples.length,
      createdMs: Date.now(),
      kind: PayloadKind.PAYLOAD_KIND_COMPACT_SAMPLES,
      ...enc.payload(samples),
    },
  },
});

describe('compact sample reports', () => {
  it('an agent that offers them sends them, and every value is stored exactly, across a new stream', async () => {
    const t0 = Date.now() - 60_000;
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port: grpcPort, tls: false },
      identity: bareIdentity('compact-agent'),
      labels: {},
      token: '',
      intervalMs: 1000,
      log,
      sequence: new MemorySequence(),
      backlog: new MemoryBacklog(100),
    });
    const sent: Sample[][] = [];
    try {
      for (let k = 0; k < 10; k++) {
        sent.push(host(t0 + k * 1000, k));
        await stream.enqueue(sent[k] as Sample[]);
      }
      stream.start();
      await eventually(() => stream.queued === 0, 20_000);
      const firstBytes = stream.stats.sentBytes;
      // The server ends the stream; the agent's next stream starts a new table.
      await stream.stop();
      for (let k = 10; k < 20; k++) {
        sent.push(host(t0 + k * 1000, k));
        await stream.enqueue(sent[k] as Sample[]);
      }
      stream.start();
      await eventually(() => stream.queued === 0, 20_000);
      expect(stream.stats.rejected).toBe(0);
      expect(stream.stats.sentBytes).toBeGreaterThan(firstBytes);
    } finally {
      await stream.stop();
    }
    for (const name of ['node_cpu_seconds_total', 'node_load1', 'node_entropy']) {
      const series = await stored('compact-agent', name, t0 - 1000);
      for (const [i, want] of sent.flatMap((r) => r.filter((s) => s.name === name)).entries()) {
        const points = series.get(JSON.stringify(want.labels));
        const point = points?.find(([t]) => t === want.timestampMs);
        expect(point?.[1], `${name}${JSON.stringify(want.labels)} #${i}`).toBe(want.value);
      }
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(Number(/falconet_server_agent_reports_total\{encoding="compact"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(20);
  });

  it('ends a stream whose compact report does not fit its table, and stores nothing of it', async () => {
    const s = rawStream(`127.0.0.1:${grpcPort}`);
    try {
      const reg = await registerOn(s, registerMessage('compact-misfit', { compactSamples: true }));
      expect(reg.compactSamples).toBe(true);
      const enc = new CompactEncoder();
      enc.encode(host(Date.now() - 5000, 0)); // a batch the server never sees: the tables part ways
      s.send(compactReport(1, enc, host(Date.now() - 4000, 1)));
      const ended = await s.ended;
      expect(ended?.code).toBe(GrpcStatus.ABORTED);
      expect(ended?.details).toBe(
        "report 1: compact batch expects a table of 5 series; this stream's holds 0; the stream must start again",
      );
    } finally {
      s.close();
    }
    expect((await stored('compact-misfit', 'node_load1', Date.now() - 600_000)).size).toBe(0);
  });

  it('refuses a compact report on a stream that did not offer them, and answers an old agent without them', async () => {
    const s = rawStream(`127.0.0.1:${grpcPort}`);
    try {
      const reg = await registerOn(s, registerMessage('compact-unoffered'));
      expect(reg.compactSamples).toBe(false);
      s.send(compactReport(1, new CompactEncoder(), host(Date.now() - 4000, 1)));
      const ended = await s.ended;
      expect(ended?.code).toBe(GrpcStatus.FAILED_PRECONDITION);
      expect(ended?.details).toBe('a compact report on a stream that did not offer them at Register');
    } finally {
      s.close();
    }
  });
});
