import { createConnection } from 'node:net';
import { MemoryBacklog, ReportStream } from '@falconet/agent';
import { PayloadEncoding, type pb, type Sample } from '@falconet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bareIdentity,
  MemorySequence,
  type RawStream,
  rawStream as rawStreamTo,
  registerMessage,
  rejectedCount,
  reportMessage,
} from '../../../testing/agent-channel.ts';
import { eventually } from '../../../testing/processes.ts';
import type { FalconetServer } from '../src/app.ts';
import { startTestServer } from './support/auth.ts';

const log = pino({ level: 'silent' });

type ErrorBody = { error: { code: string; message: string } };
let server: FalconetServer;
let base = '';
let grpcTarget = '';
let transferPort = 0;

const rawStream = (): RawStream => rawStreamTo(grpcTarget);
const register = (agentId: string) => registerMessage(agentId);
const report = reportMessage;

const gauge = (name: string, value: number, t = Date.now(), labels: Record<string, string> = {}): Sample => ({
  name,
  labels,
  value,
  timestampMs: t,
});

async function registered(s: RawStream, id: string): Promise<pb.Registered> {
  s.send(register(id));
  const m = await s.next();
  if (m.body?.$case !== 'registered') throw new Error(`expected registered, got ${JSON.stringify(m)}`);
  return m.body.value;
}

async function ack(s: RawStream): Promise<pb.Ack> {
  const m = await s.next();
  if (m.body?.$case !== 'ack') throw new Error(`expected ack, got ${JSON.stringify(m)}`);
  return m.body.value;
}

async function metricsText(): Promise<string> {
  return await (await fetch(`${base}/metrics`)).text();
}

const rejected = rejectedCount;

beforeAll(async () => {
  const t = await startTestServer({
    users: false,
    config: {
      transfer_listen: '127.0.0.1:0',
      ingest: { max_message_bytes: 64 * 1024, max_samples_per_report: 100, max_clock_skew: '1m' },
      transfer: { max_line_bytes: 64 * 1024 },
    },
  });
  server = t.server;
  base = t.base;
  grpcTarget = `127.0.0.1:${server.addresses?.grpc.port}`;
  transferPort = server.addresses?.transfer?.port ?? 0;
});

afterAll(async () => {
  await server?.stop();
});

describe('agent channel limits and bad input', () => {
  it('refuses each kind of bad input with a clear error and a counter, while a good agent goes on', async () => {
    // A well-behaved agent reports throughout; it must never be held up by the others.
    const good = new ReportStream({
      address: { host: '127.0.0.1', port: Number(grpcTarget.split(':')[1]), tls: false },
      identity: bareIdentity('good-1'),
      labels: {},
      token: '',
      intervalMs: 100,
      log,
      sequence: new MemorySequence(),
      backlog: new MemoryBacklog(),
    });
    good.start();
    let goodSent = 0;
    const ticker = setInterval(() => {
      goodSent++;
      void good.enqueue([gauge('good_value', goodSent)]);
    }, 20);

    try {
      // Bytes that are not an AgentMessage.
      const garbage = rawStream();
      garbage.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
      const e1 = await garbage.ended;
      expect(e1?.details).toMatch(/^malformed AgentMessage protobuf/);
      garbage.close();

      // A report before Register.
      const early = rawStream();
      early.send(report(1, [gauge('x', 1)]));
      expect((await early.ended)?.details).toBe('the first message on a stream must be Register');
      early.close();

      // A bad agent id.
      const badId = rawStream();
      badId.send(register('has space'));
      expect((await badId.ended)?.details).toMatch(/^invalid agent id "has space"/);
      badId.close();

      // A message over ingest.max_message_bytes (64 KiB here).
      const big = rawStream();
      await registered(big, 'big-1');
      big.send(report(1, [gauge('x', 1)], { encoding: PayloadEncoding.PAYLOAD_ENCODING_RAW, payload: Buffer.alloc(100 * 1024) }));
      expect((await big.ended)?.details).toMatch(/^message of \d+ bytes; the limit is 65536$/);
      big.close();

      // Per-report refusals: the stream stays open and later reports are taken.
      const s = rawStream();
      const reg = await registered(s, 'bad-1');
      expect(reg.lastSeq).toBe(0);
      expect(Math.abs(reg.serverTimeMs - Date.now())).toBeLessThan(5000);
      const many = Array.from({ length: 101 }, (_, i) => gauge('many', i));
      s.send(report(1, many));
      expect((await ack(s)).error).toBe('101 samples in one report; the limit is 100');
      s.send(report(2, [gauge('fine', 1), gauge('bad-name', 2)]));
      expect((await ack(s)).error).toBe('sample 1: "bad-name" is not a valid metric name');
      s.send(report(3, [gauge('fine', 1, Date.now(), { 'bad label': 'x' })]));
      expect((await ack(s)).error).toMatch(/"bad label" is not a valid label name/);
      s.send(report(4, [gauge('fine', 1)], { payload: Buffer.from('not gzip at all') }));
      expect((await ack(s)).error).toMatch(/^payload is not valid gzip/);
      s.send(report(5, [gauge('fine', 1)], { encoding: PayloadEncoding.PAYLOAD_ENCODING_RAW, payload: Buffer.from([0x0a, 0xff, 0xff]) }));
      expect((await ack(s)).error).toMatch(/^malformed sample batch/);
      s.send(report(6, [gauge('future', 1, Date.now() + 3_600_000)]));
      expect((await ack(s)).error).toMatch(/stamped 3600 s ahead of the server's clock \(limit 60 s\); fix the agent host's clock/);
      s.send(report(7, [gauge('sealed', 1)], { encoding: PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM }));
      expect((await ack(s)).error).toBe('payload is sealed but no key is configured for this agent');
      s.send(report(8, [gauge('fine', 8)]));
      expect(await ack(s)).toEqual({ seq: 8, error: '' });
      s.send(report(8, [gauge('fine', 8)]));
      expect((await ack(s)).error).toBe('sequence 8 replayed: this server already holds up to 8 for this agent');
      s.send(register('bad-1'));
      expect((await s.ended)?.details).toBe('Register may only open a stream');
      s.close();

      // A new stream starts after what is stored; resending below it is refused as a replay.
      const again = rawStream();
      expect((await registered(again, 'bad-1')).lastSeq).toBe(8);
      again.send(report(3, [gauge('fine', 3)]));
      expect((await ack(again)).error).toMatch(/sequence 3 replayed/);
      again.close();

      const text = await metricsText();
      for (const reason of [
        'malformed',
        'protocol',
        'too_large',
        'too_many_samples',
        'bad_sample',
        'clock_skew',
        'decrypt_failed',
        'replayed_sequence',
      ]) {
        expect(rejected(text, 'grpc', reason), reason).toBeGreaterThan(0);
      }
      // The process's memory as a user would break it down: resident, V8 heap used and reserved, buffers.
      for (const name of [
        'process_resident_memory_bytes',
        'nodejs_heap_size_used_bytes',
        'nodejs_heap_size_total_bytes',
        'nodejs_external_memory_bytes',
      ]) {
        expect(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]), name).toBeGreaterThan(0);
      }
      expect(rejected(text, 'grpc', 'bad_sample')).toBe(2);
      expect(rejected(text, 'grpc', 'malformed')).toBe(3);
      expect(rejected(text, 'grpc', 'protocol')).toBe(3);

      // The good agent was acknowledged all along.
      await eventually(() => good.stats.acked >= goodSent - 2 && good.stats.acked > 20, 10_000);
      expect(good.stats.rejected).toBe(0);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      clearInterval(ticker);
      await good.stop();
    }
  });
});

describe('Open-Falcon compatibility', () => {
  async function points(agent: string, name: string): Promise<{ labels: Record<string, string>; points: [number, number][] }[]> {
    const now = Date.now();
    const r = await fetch(`${base}/api/metrics?agent=${encodeURIComponent(agent)}&name=${name}&from=${now - 600_000}&to=${now + 1000}`);
    if (!r.ok) return [];
    return ((await r.json()) as { series: { labels: Record<string, string>; points: [number, number][] }[] }).series;
  }

  it('takes JSON lines on the transfer port, in both tag forms, and answers bad lines', async () => {
    const t = Math.floor(Date.now() / 1000) - 60;
    const sock = createConnection({ host: '127.0.0.1', port: transferPort });
    const replies: string[] = [];
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      replies.push(...parts);
    });
    await new Promise((r) => sock.once('connect', r));
    const lines = [
      { metric: 'cpu.idle', endpoint: 'of-host-1', tags: 'core=0,dc=east', value: 97.5, timestamp: t, step: 60, counterType: 'GAUGE' },
      { metric: 'cpu.idle', endpoint: 'of-host-1', tags: 'core=1,dc=east', value: '88', timestamp: t, step: 60, counterType: 'GAUGE' },
      {
        metric: 'net.if.in.bytes',
        endpoint: 'of-host-1',
        tag: ['iface=eth0'],
        value: 1234,
        timestamp: t,
        step: 60,
        counterType: 'COUNTER',
      },
    ].map((r) => JSON.stringify(r));
    lines.push('{"metric": "broken", ');
    lines.push(JSON.stringify({ metric: 'x', endpoint: 'of-host-1', value: 'abc', timestamp: t }));
    lines.push(JSON.stringify({ metric: 'x', value: 1, timestamp: t }));
    lines.push(JSON.stringify({ metric: 'x', endpoint: 'of-host-1', value: 1, timestamp: t + 86_400 }));
    lines.push(JSON.stringify([{ metric: 'mem.free', endpoint: 'of-host-2', tags: '', value: 5, timestamp: t }]));
    lines.push('x'.repeat(70 * 1024));
    lines.push(JSON.stringify({ metric: 'after.long', endpoint: 'of-host-2', value: 6, timestamp: t }));
    sock.write(`${lines.join('\n')}\n`);
    await eventually(() => replies.length >= 5, 10_000);
    expect(replies.map((r) => JSON.parse(r).error)).toEqual([
      expect.stringMatching(/^line 4: not JSON/),
      'line 5: value: expected a number, got "abc"',
      'line 6: endpoint: expected a non-empty string (the host the value belongs to)',
      expect.stringMatching(/^line 7: timestamp is 86\d\d\d s ahead of the server's clock/),
      expect.stringMatching(/^line 9: longer than 65536 bytes; skipped$/),
    ]);
    const idle = await eventually(async () => {
      const s = await points('push:of-host-1', 'cpu_idle');
      return s.length === 2 ? s : undefined;
    }, 10_000);
    expect(idle.map((s) => s.labels).sort((a, b) => String(a.core).localeCompare(String(b.core)))).toEqual([
      { core: '0', dc: 'east', host: 'of-host-1' },
      { core: '1', dc: 'east', host: 'of-host-1' },
    ]);
    expect(idle.find((s) => s.labels.core === '1')?.points).toEqual([[t * 1000, 88]]);
    expect((await points('push:of-host-1', 'net_if_in_bytes'))[0]?.labels).toEqual({ iface: 'eth0', host: 'of-host-1' });
    expect((await points('push:of-host-2', 'mem_free'))[0]?.points).toEqual([[t * 1000, 5]]);
    expect((await points('push:of-host-2', 'after_long'))[0]?.points).toEqual([[t * 1000, 6]]);
    sock.end();
    const text = await metricsText();
    expect(rejected(text, 'tcp', 'malformed')).toBe(1);
    expect(rejected(text, 'tcp', 'bad_sample')).toBe(2);
    expect(rejected(text, 'tcp', 'clock_skew')).toBe(1);
    expect(rejected(text, 'tcp', 'too_large')).toBe(1);
    expect(text).toMatch(/^falconet_server_ingest_samples_total\{channel="tcp"\} 5$/m);
  });

  it('POST /api/v1/push takes Open-Falcon records or Falconet samples, all or nothing', async () => {
    const t = Date.now() - 10_000;
    const post = (body: unknown, query = '', raw = false) =>
      fetch(`${base}/api/v1/push${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw ? (body as string) : JSON.stringify(body),
      });
    const ok = await post([
      {
        metric: 'disk.io.util',
        endpoint: 'http-host',
        tags: 'device=sda',
        value: 12.5,
        timestamp: Math.floor(t / 1000),
        step: 60,
        counterType: 'GAUGE',
      },
      { name: 'app_requests_total', labels: { route: '/a' }, value: 42, timestampMs: t },
    ]);
    expect(ok.status).toBe(400);
    expect(await ok.json()).toEqual({
      error: { code: 'bad_sample', message: 'body 1: needs a "host" label, or ?host= on the request, to say which host it belongs to' },
    });
    const stored = await post(
      [
        {
          metric: 'disk.io.util',
          endpoint: 'http-host',
          tags: 'device=sda',
          value: 12.5,
          timestamp: Math.floor(t / 1000),
          step: 60,
          counterType: 'GAUGE',
        },
        { name: 'app_requests_total', labels: { route: '/a' }, value: 42, timestampMs: t },
      ],
      '?host=http-host',
    );
    expect(stored.status).toBe(200);
    expect(await stored.json()).toEqual({ accepted: 2, hosts: 1 });
    expect((await points('push:http-host', 'app_requests_total'))[0]).toEqual({
      name: 'app_requests_total',
      labels: { route: '/a', host: 'http-host' },
      points: [[t, 42]],
    });
    expect((await points('push:http-host', 'disk_io_util'))[0]?.labels).toEqual({ device: 'sda', host: 'http-host' });

    const bad = await post([
      { metric: 'ok', endpoint: 'h', value: 1 },
      { metric: 'no', endpoint: 'h', value: null },
    ]);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as ErrorBody).error.message).toBe('body 1: value: expected a number, got null');
    expect(await points('push:h', 'ok')).toEqual([]);
    const notJson = await post('[{"metric": ', '', true);
    expect(notJson.status).toBe(400);
    const notArray = await post({ metric: 'x' });
    expect(notArray.status).toBe(400);
    expect(((await notArray.json()) as ErrorBody).error.message).toMatch(/^body/);
    const tooMany = await post(Array.from({ length: 101 }, () => ({ metric: 'x', endpoint: 'h', value: 1 })));
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as ErrorBody).error.code).toBe('too_many_samples');
    const tooBig = await post('x'.repeat(70 * 1024), '', true);
    expect(tooBig.status).toBe(413);
    const text = await metricsText();
    expect(rejected(text, 'http', 'bad_sample')).toBe(2);
    expect(rejected(text, 'http', 'malformed')).toBe(2);
    expect(rejected(text, 'http', 'too_many_samples')).toBe(1);
    expect(rejected(text, 'http', 'too_large')).toBe(1);
    // The route is declared for operators (the auth layer enforces it once users exist).
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as { paths: Record<string, { post: { summary: string } }> };
    expect(doc.paths['/api/v1/push']?.post.summary).toMatch(/Open-Falcon records or Falconet samples/);
  });
});
