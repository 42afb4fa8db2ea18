import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnappyError, snappyDecode } from '../src/remote-write/snappy.ts';
import { decodeWriteRequest, decodeWriteRequestV2, WriteRequestError } from '../src/remote-write/write-request.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

import { field, snappy, writeRequest, writeRequestV2 } from './support/remote-write.ts';

describe('snappy block decoding', () => {
  it('decodes literals and overlapping copies', () => {
    // "abcd" then a copy of 8 bytes from offset 4 (a run), as a 1-byte-offset copy: tag 0b001_100_01.
    const src = new Uint8Array([12, 3 << 2, 97, 98, 99, 100, (0 << 5) | ((8 - 4) << 2) | 1, 4]);
    expect(new TextDecoder().decode(snappyDecode(src, 100))).toBe('abcdabcdabcd');
    // A 2-byte-offset copy.
    const src2 = new Uint8Array([6, 2 << 2, 120, 121, 122, ((3 - 1) << 2) | 2, 3, 0]);
    expect(new TextDecoder().decode(snappyDecode(src2, 100))).toBe('xyzxyz');
  });

  it('refuses truncated input, bad offsets, wrong lengths and bombs, saying which', () => {
    expect(() => snappyDecode(new Uint8Array([0x80]), 100)).toThrow(/truncated length/);
    expect(() => snappyDecode(new Uint8Array([4, 3 << 2, 97]), 100)).toThrow(/runs past the end/);
    expect(() => snappyDecode(new Uint8Array([8, 0, 97, (3 << 2) | 1, 9]), 100)).toThrow(/offset 9/);
    expect(() => snappyDecode(new Uint8Array([5, 0, 97]), 100)).toThrow(/declares 5/);
    expect(() => snappyDecode(new Uint8Array([0xff, 0xff, 0xff, 0x7f]), 1000)).toThrow(SnappyError);
    expect(() => snappyDecode(new Uint8Array([0xff, 0xff, 0xff, 0x7f]), 1000)).toThrow(/at most 1000/);
  });
});

describe('WriteRequest decoding', () => {
  it('reads labels, samples, negative and large timestamps, and the staleness marker by its bits', () => {
    const body = writeRequest([
      {
        labels: { __name__: 'up', job: 'node', instance: 'a:9100' },
        samples: [
          { v: 1, t: 1_700_000_000_123 },
          { v: Number.NaN, t: 1_700_000_005_123, stale: true },
          { v: Number.NaN, t: 1_700_000_010_123 },
        ],
      },
      { labels: { __name__: 'old' }, samples: [{ v: -2.5, t: -1000 }] },
    ]);
    const series = decodeWriteRequest(body);
    expect(series).toHaveLength(2);
    expect(series[0]?.labels).toEqual([
      { name: '__name__', value: 'up' },
      { name: 'job', value: 'node' },
      { name: 'instance', value: 'a:9100' },
    ]);
    expect(series[0]?.samples.map((s) => [s.timestampMs, s.stale])).toEqual([
      [1_700_000_000_123, false],
      [1_700_000_005_123, true],
      [1_700_000_010_123, false],
    ]);
    expect(series[1]?.samples[0]).toMatchObject({ value: -2.5, timestampMs: -1000 });
  });

  it('refuses a truncated or mistyped message, naming the field', () => {
    const good = writeRequest([{ labels: { __name__: 'up' }, samples: [{ v: 1, t: 1 }] }]);
    expect(() => decodeWriteRequest(good.subarray(0, good.length - 3))).toThrow(/timeseries\[0\].*runs past|truncated/);
    expect(() => decodeWriteRequest(new Uint8Array([...field(1, 0), 1]))).toThrow(/timeseries\[0\]: wire type 0/);
    expect(() => decodeWriteRequest(new Uint8Array([...field(1, 7)]))).toThrow(WriteRequestError);
  });
});

const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;

describe('remote_write 2.0 Request decoding', () => {
  it('resolves labels through the symbols table', () => {
    const series = decodeWriteRequestV2(
      writeRequestV2([{ labels: { __name__: 'up', job: 'node', instance: 'up' }, samples: [{ v: 1, t: 1_700_000_000_000 }] }], {
        exemplar: true,
      }),
    );
    expect(series[0]?.labels).toEqual([
      { name: '__name__', value: 'up' },
      { name: 'job', value: 'node' },
      { name: 'instance', value: 'up' },
    ]);
    expect(series[0]?.samples).toEqual([{ value: 1, timestampMs: 1_700_000_000_000, stale: false }]);
    expect(series[0]?.exemplars).toBe(1);
  });

  it('refuses references past the symbols, and odd pairs', () => {
    const one = [{ labels: { __name__: 'up' }, samples: [{ v: 1, t: 1 }] }];
    expect(() => decodeWriteRequestV2(writeRequestV2(one, { refs: (r) => [...r, 0, 99] }))).toThrow(/reference 99 is past the 3 symbols/);
    expect(() => decodeWriteRequestV2(writeRequestV2(one, { refs: (r) => [...r, 1] }))).toThrow(/odd number of references/);
  });
});

describe('POST /api/v1/write', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      config: {
        ingest: {
          push: {
            max_series_per_sender: 5,
            max_hosts_per_sender: 5,
            max_labels_per_series: 8,
            max_label_name_length: 64,
            max_label_value_length: 128,
            samples_per_second: 1,
            burst: 20,
          },
        },
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });
  const post = (headers: Record<string, string>, body: Uint8Array, extra: Record<string, string> = {}) =>
    fetch(`${t.base}/api/v1/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', ...headers, ...extra },
      body,
    });

  it('stores the series under push:<instance> with their labels, a staleness marker as NaN that ends the series', async () => {
    const op = await t.token('operator');
    const now = Date.now();
    const res = await post(
      op.headers,
      snappy(
        writeRequest([
          {
            labels: { __name__: 'node_load1', job: 'node', instance: 'web-1:9100' },
            samples: [
              { v: 0.5, t: now - 2000 },
              { v: 0.75, t: now - 1000 },
              { v: 0, t: now, stale: true },
            ],
          },
        ]),
      ),
    );
    expect(res.status).toBe(204);
    const got = await t.server.store.querySeries({
      agentId: 'push:web-1:9100',
      name: 'node_load1',
      fromMs: now - 10_000,
      toMs: now + 1000,
    });
    expect(got).toHaveLength(1);
    expect(got[0]?.labels).toEqual({ job: 'node', instance: 'web-1:9100' });
    expect(got[0]?.points).toEqual([
      [now - 2000, 0.5],
      [now - 1000, 0.75],
      [now, Number.NaN],
    ]);
    // Queried back through the PromQL API, with a viewer's token (a Grafana data source credential):
    // there until the marker, gone from it on (Prometheus would keep it 5 minutes without one).
    const after = await fetch(`${t.base}/api/v1/query?query=node_load1&time=${(now + 1000) / 1000}`, {
      headers: (await t.token('viewer')).headers,
    });
    expect(((await after.json()) as { data: { result: unknown[] } }).data.result).toEqual([]);
    const counted = await fetch(`${t.base}/api/v1/query?query=count_over_time(node_load1[1m])&time=${(now + 1000) / 1000}`, {
      headers: (await t.token('viewer')).headers,
    });
    expect(((await counted.json()) as { data: { result: { value: [number, string] }[] } }).data.result[0]?.value[1]).toBe('2');
    const viewer = await t.token('viewer');
    const q = await fetch(`${t.base}/api/v1/query?query=node_load1&time=${(now - 500) / 1000}`, { headers: viewer.headers });
    expect(await q.json()).toEqual({
      status: 'success',
      data: {
        resultType: 'vector',
        result: [{ metric: { __name__: 'node_load1', job: 'node', instance: 'web-1:9100' }, value: [(now - 500) / 1000, '0.75'] }],
      },
    });
  });

  it('takes remote_write 2.0 and says what it wrote in the X-Prometheus-Remote-Write-*-Written headers', async () => {
    const op = await t.token('operator');
    const now = Date.now();
    const v2 = {
      'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
      'x-prometheus-remote-write-version': '2.0.0',
    };
    const res = await post(
      op.headers,
      snappy(
        writeRequestV2(
          [
            {
              labels: { __name__: 'v2_metric', instance: 'v2-host' },
              samples: [
                { v: 3, t: now - 1000 },
                { v: 0, t: now, stale: true },
              ],
            },
          ],
          { exemplar: true },
        ),
      ),
      v2,
    );
    expect(res.status).toBe(204);
    expect(res.headers.get('x-prometheus-remote-write-samples-written')).toBe('2');
    expect(res.headers.get('x-prometheus-remote-write-exemplars-written')).toBe('0');
    expect(res.headers.get('x-prometheus-remote-write-histograms-written')).toBe('0');
    const got = await t.server.store.querySeries({ agentId: 'push:v2-host', name: 'v2_metric', fromMs: now - 10_000, toMs: now + 1000 });
    expect(got[0]?.points).toEqual([
      [now - 1000, 3],
      [now, Number.NaN],
    ]);
    const bad = await post(op.headers, snappy(new Uint8Array([0x22, 0x01, 0x41])), v2);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-prometheus-remote-write-samples-written')).toBe('0');
    expect((await errorOf(bad)).message).toMatch(/symbols\[0\]: must be the empty string/);
  });

  it('refuses viewers, bad bodies, bad names and senders past their caps, with the cap named', async () => {
    const viewer = await t.token('viewer');
    const op = await t.token('operator');
    const one = (name: string, labels: Record<string, string> = {}, n = 1) =>
      snappy(
        writeRequest([
          {
            labels: { __name__: name, instance: 'h', ...labels },
            samples: Array.from({ length: n }, (_, i) => ({ v: i, t: Date.now() - 1000 + i })),
          },
        ]),
      );
    expect((await post(viewer.headers, one('up'))).status).toBe(403);
    // An operator's token scoped to other routes (here: JSON pushes only) may not write either.
    const pushOnly = await t.token('operator', ['/api/v1/push']);
    expect((await post(pushOnly.headers, one('up'))).status).toBe(403);
    const noSnappy = await post(op.headers, one('up'), { 'content-encoding': 'gzip' });
    expect(noSnappy.status).toBe(415);
    expect((await errorOf(noSnappy)).message).toMatch(/snappy/);
    const badName = await post(op.headers, one('1bad'));
    expect(badName.status).toBe(400);
    expect((await errorOf(badName)).message).toMatch(/timeseries\[0\].*not a valid metric name/);
    const future = await post(
      op.headers,
      snappy(writeRequest([{ labels: { __name__: 'up' }, samples: [{ v: 1, t: Date.now() + 3_600_000 }] }])),
    );
    expect(future.status).toBe(400);
    expect((await errorOf(future)).code).toBe('clock_skew');
    // Five series per sender: the sixth is refused with 429, naming the cap.
    for (let i = 0; i < 4; i++) expect((await post(op.headers, one(`s${i}`))).status).toBe(204);
    const sixth = await post(
      op.headers,
      snappy(
        writeRequest([
          { labels: { __name__: 's4', instance: 'h' }, samples: [{ v: 1, t: Date.now() }] },
          { labels: { __name__: 's5', instance: 'h' }, samples: [{ v: 1, t: Date.now() }] },
        ]),
      ),
    );
    expect(sixth.status).toBe(429);
    expect((await errorOf(sixth)).message).toMatch(/max_series_per_sender/);
    // Past the sample rate (burst 20, 1/s): 429 with Retry-After.
    const second = await t.token('operator');
    const burst = await post(second.headers, one('rate_test', {}, 15));
    expect(burst.status).toBe(204);
    const over = await post(second.headers, one('rate_test', {}, 10));
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await errorOf(over)).message).toMatch(/samples_per_second/);
  });
});
