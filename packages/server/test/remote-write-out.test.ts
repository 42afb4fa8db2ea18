import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { type RemoteWriteOutConfig, remoteWriteOutListSchema } from '../src/remote-write/out/config.ts';
import { encodeWriteRequest, snappyEncode } from '../src/remote-write/out/encode.ts';
import { RemoteWriteOut } from '../src/remote-write/out/index.ts';
import { DurableQueue } from '../src/remote-write/out/queue.ts';
import { SeriesFilter } from '../src/remote-write/out/relabel.ts';
import { snappyDecode } from '../src/remote-write/snappy.ts';
import { decodeWriteRequest, type RemoteSeries } from '../src/remote-write/write-request.ts';

const log = pino({ level: 'silent' });

/** A remote_write receiver on loopback whose answers the test scripts. */
interface Receiver {
  url: string;
  requests: { headers: IncomingMessage['headers']; series: RemoteSeries[] }[];
  answer: (n: number) => { status: number; headers?: Record<string, string> };
  close(): Promise<void>;
}

async function receiver(): Promise<Receiver> {
  const r: Receiver = { url: '', requests: [], answer: () => ({ status: 204 }), close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const series = decodeWriteRequest(snappyDecode(Buffer.concat(chunks), 64 << 20));
      const a = r.answer(r.requests.length);
      r.requests.push({ headers: req.headers, series });
      res.writeHead(a.status, a.headers);
      res.end(a.status >= 300 ? 'scripted failure' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/write`;
  r.close = () => new Promise((resolve) => server.close(() => resolve()));
  return r;
}

function config(over: Record<string, unknown>): RemoteWriteOutConfig[] {
  return remoteWriteOutListSchema.parse([{ queue: { batch_send_deadline: '50ms', min_backoff: '10ms', max_backoff: '50ms' }, ...over }]);
}

const sample = (name: string, value: number, timestampMs: number, labels: Record<string, string> = {}) => ({
  name,
  labels,
  value,
  timestampMs,
});

/** Every received sample as `name{labels} t=v`, in arrival order. */
function received(r: Receiver): string[] {
  const out: string[] = [];
  for (const q of r.requests)
    for (const s of q.series)
      for (const p of s.samples) out.push(`${s.labels.map((l) => `${l.name}=${l.value}`).join(',')} ${p.timestampMs}=${p.value}`);
  return out;
}

const open: { stop(): Promise<void> }[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.stop();
  for (const r of receivers.splice(0)) await r.close();
});

async function setUp(over: Record<string, unknown>, dataDir = tempDir()) {
  const r = await receiver();
  receivers.push(r);
  const out = new RemoteWriteOut(config({ url: r.url, ...over }), dataDir, () => 'web-1', log);
  out.start();
  open.push(out);
  return { r, out, dataDir };
}

describe('remote_write out: encoding', () => {
  it('round-trips through the receiver side decoder, staleness marker and big timestamps included', () => {
    const series = [
      {
        labels: [
          { name: '__name__', value: 'up' },
          { name: 'job', value: 'ünïcode' },
        ],
        samples: [
          { value: 1.5, timestampMs: 1_765_000_000_123 },
          { value: 0, timestampMs: 1_765_000_001_000, stale: true },
        ],
      },
    ];
    const body = encodeWriteRequest(series);
    const back = decodeWriteRequest(snappyDecode(snappyEncode(body), 1 << 20));
    expect(back[0]?.labels).toEqual(series[0]?.labels);
    expect(back[0]?.samples).toEqual([
      { value: 1.5, timestampMs: 1_765_000_000_123, stale: false },
      { value: Number.NaN, timestampMs: 1_765_000_001_000, stale: true },
    ]);
  });

  it('snappy compresses repetitive input and every output decodes to the input', () => {
    const rnd = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7919 + ((i * i) % 251)) & 0xff);
    for (const input of [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(200_000).fill(7), rnd(70_000)]) {
      const z = snappyEncode(input);
      expect(Buffer.from(snappyDecode(z, 1 << 20))).toEqual(Buffer.from(input));
    }
    const labels = Buffer.from('node_cpu_seconds_total{cpu="0",mode="idle",instance="web-1"}'.repeat(500));
    expect(snappyEncode(labels).length).toBeLessThan(labels.length / 10);
  });
});

describe('remote_write out: relabelling and match', () => {
  it('keeps, drops, replaces and filters by selector as Prometheus does', () => {
    const f = new SeriesFilter(
      [
        { source_labels: ['__name__'], separator: ';', regex: 'node_(cpu|load).*', target_label: '', replacement: '$1', action: 'keep' },
        { source_labels: ['mode'], separator: ';', regex: 'steal', target_label: '', replacement: '$1', action: 'drop' },
        {
          source_labels: ['instance', 'job'],
          separator: '@',
          regex: '(.*)@(.*)',
          target_label: 'origin',
          // Go's regexp.Expand syntax, not a JS template.
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a relabel replacement
          replacement: '${2}/$1',
          action: 'replace',
        },
        { source_labels: [], separator: ';', regex: 'job', target_label: '', replacement: '', action: 'labeldrop' },
      ],
      ['{instance="web-1"}'],
      'remote_write[0]',
    );
    expect(f.apply({ __name__: 'node_cpu_seconds_total', mode: 'idle', instance: 'web-1', job: 'falconet' })).toEqual({
      __name__: 'node_cpu_seconds_total',
      mode: 'idle',
      instance: 'web-1',
      origin: 'falconet/web-1',
    });
    expect(f.apply({ __name__: 'node_cpu_seconds_total', mode: 'steal', instance: 'web-1' })).toBeUndefined();
    expect(f.apply({ __name__: 'node_memory_MemFree_bytes', instance: 'web-1' })).toBeUndefined();
    expect(f.apply({ __name__: 'node_load1', instance: 'db-1' })).toBeUndefined();
  });

  it('names the bad entry in config errors', () => {
    expect(() => new SeriesFilter([], ['rate(x[1m])'], 'remote_write[1]')).toThrow(
      /remote_write\[1\]\.match\[0\]: .* not a series selector/,
    );
    expect(
      () =>
        new SeriesFilter(
          [{ source_labels: [], separator: ';', regex: '(', target_label: 'x', replacement: '', action: 'replace' }],
          [],
          'remote_write[0]',
        ),
    ).toThrow(/remote_write\[0\]\.write_relabel_configs\[0\]\.regex/);
    const bad = remoteWriteOutListSchema.safeParse([
      { url: 'ftp://x/y' },
      { url: 'http://a/w', bearer_token: 't', basic_auth: { username: 'u' } },
      { url: 'http://a/w', write_relabel_configs: [{ action: 'replace' }] },
      { url: 'http://a/w', queue: { shards: 0 } },
    ]);
    expect(bad.success).toBe(false);
    const paths = bad.error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['0.url', '1.bearer_token', '2.write_relabel_configs.0.target_label', '3.queue.shards']));
    // Two destinations that would share a queue directory.
    const twice = remoteWriteOutListSchema.safeParse([{ url: 'http://a:1/w' }, { url: 'http://a:1/other' }]);
    expect(twice.error?.issues[0]?.message).toMatch(/two destinations named a_1/);
  });
});

describe('remote_write out: the durable queue', () => {
  it('resumes from its cursor after a reopen, and cuts a torn last record', () => {
    const dir = tempDir();
    const q = new DurableQueue(dir, 1 << 20);
    for (let i = 0; i < 5; i++)
      q.append(
        encodeWriteRequest([{ labels: [{ name: '__name__', value: 'x' }], samples: [{ value: i, timestampMs: 1000 + i }] }]),
        1,
        1000 + i,
      );
    const b = q.read(2);
    expect(b?.samples).toBe(2);
    q.commit(b?.end ?? { seq: 0, offset: 0 });
    q.close();
    // A crash in the middle of an append leaves a partial record at the end.
    const seg = join(dir, readdirSync(dir).find((f) => f.endsWith('.seg')) as string);
    writeFileSync(seg, Buffer.from([200, 0, 0, 0, 1]), { flag: 'a' });
    const again = new DurableQueue(dir, 1 << 20);
    expect(again.pendingSamples).toBe(3);
    const rest = again.read(100);
    expect(decodeWriteRequest(rest?.body ?? new Uint8Array()).map((s) => s.samples[0]?.value)).toEqual([2, 3, 4]);
    again.close();
  });

  it('drops the oldest segments past its byte cap and counts what it dropped', () => {
    const dir = tempDir();
    const q = new DurableQueue(dir, 256 * 1024);
    const body = encodeWriteRequest([
      {
        labels: [{ name: '__name__', value: 'x'.repeat(1000) }],
        samples: Array.from({ length: 10 }, (_, i) => ({ value: i, timestampMs: i + 1 })),
      },
    ]);
    for (let i = 0; i < 1000; i++) q.append(body, 10, i + 1);
    const onDisk = readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(onDisk).toBeLessThanOrEqual(256 * 1024);
    expect(q.droppedByCap).toBeGreaterThan(0);
    expect(q.droppedByCap + q.pendingSamples).toBe(10_000);
    q.close();
  });
});

describe('remote_write out: sending', () => {
  it('sends with the 1.0 headers, auth, extra headers and the labels the PromQL API shows', async () => {
    const { r, out } = await setUp({ bearer_token: 's3cret', headers: { 'X-Scope-OrgID': 'team-a' } });
    out.stored('agent-1', [sample('node_load1', 0.5, 1_000_000), sample('node_load1', 0.75, 1_001_000)]);
    out.stored('push:db-1', [
      sample('up', 1, 1_000_000, { instance: 'db-1:9100', job: 'node' }),
      sample('up', Number.NaN, 1_002_000, { instance: 'db-1:9100', job: 'node' }),
    ]);
    await eventually(() => received(r).length === 4);
    const h = r.requests[0]?.headers ?? {};
    expect(h['content-encoding']).toBe('snappy');
    expect(h['content-type']).toBe('application/x-protobuf');
    expect(h['x-prometheus-remote-write-version']).toBe('0.1.0');
    expect(h['user-agent']).toMatch(/^falconet-server\//);
    expect(h.authorization).toBe('Bearer s3cret');
    expect(h['x-scope-orgid']).toBe('team-a');
    expect(received(r).sort()).toEqual([
      '__name__=node_load1,instance=web-1,job=falconet 1000000=0.5',
      '__name__=node_load1,instance=web-1,job=falconet 1001000=0.75',
      '__name__=up,instance=db-1:9100,job=node 1000000=1',
      '__name__=up,instance=db-1:9100,job=node 1002000=NaN',
    ]);
    const stale = r.requests.flatMap((q) => q.series).find((s) => s.labels.some((l) => l.value === 'up'));
    expect(stale?.samples[1]?.stale).toBe(true);
  });

  it('retries 5xx and 429 (honouring Retry-After), drops other 4xx with the status counted, keeps order', async () => {
    const { r, out } = await setUp({
      basic_auth: { username: 'u', password: 'p' },
      queue: { shards: 1, batch_send_deadline: '20ms', min_backoff: '10ms', max_backoff: '40ms', max_samples_per_send: 2 },
    });
    const plan = [{ status: 500 }, { status: 503 }, { status: 429, headers: { 'retry-after': '1' } }];
    r.answer = (n) => plan[n] ?? { status: 204 };
    out.stored('agent-1', [sample('a', 1, 1000), sample('a', 2, 2000)]);
    await eventually(() => received(r).length >= 8, 20_000);
    const d = out.destinations[0];
    expect(d?.counters.failedRequests).toBe(3);
    expect(d?.counters.retried).toBe(6);
    expect(d?.counters.sent).toBe(2);
    // The wait after the 429 is Retry-After's second, not the 40 ms backoff.
    expect(r.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);

    r.answer = () => ({ status: 400 });
    out.stored('agent-1', [sample('a', 3, 3000), sample('a', 4, 4000), sample('a', 5, 5000)]);
    await eventually(() => (d?.counters.dropped.get('400') ?? 0) === 3, 20_000);
    r.answer = () => ({ status: 204 });
    out.stored('agent-1', [sample('a', 6, 6000)]);
    await eventually(() => d?.counters.sent === 3);
    expect(d?.pendingSamples).toBe(0);
    const text = out.metricFamilies().map((f) => `${f.name} ${f.metrics.map((m) => `${JSON.stringify(m.labels)}=${m.value}`).join(' ')}`);
    expect(text).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^falconet_remote_write_out_dropped_samples_total .*"reason":"400"\}=3/),
        expect.stringMatching(/^falconet_remote_write_out_highest_sent_timestamp_seconds .*=6$/),
      ]),
    );
  });

  it('what was not sent survives a stop and goes out after the next start, none twice', async () => {
    const dataDir = tempDir();
    const { r, out } = await setUp({ queue: { batch_send_deadline: '20ms', min_backoff: '10ms', max_backoff: '20ms' } }, dataDir);
    r.answer = () => ({ status: 503 });
    out.stored(
      'agent-1',
      Array.from({ length: 50 }, (_, i) => sample('b', i, 1000 + i)),
    );
    await eventually(() => r.requests.length >= 3);
    await out.stop();
    open.splice(open.indexOf(out), 1);
    expect(received(r).length).toBeGreaterThan(0);
    r.requests.length = 0;
    r.answer = () => ({ status: 204 });
    const next = new RemoteWriteOut(config({ url: r.url }), dataDir, () => 'web-1', log);
    expect(next.destinations[0]?.pendingSamples).toBe(50);
    next.start();
    open.push(next);
    await eventually(() => next.destinations[0]?.pendingSamples === 0);
    expect(received(r).length).toBe(50);
  });
});
