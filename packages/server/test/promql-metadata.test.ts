import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { familyOf, MetadataStore } from '../src/promql/metadata.ts';
import { decodeWriteRequest, decodeWriteRequestV2, type RemoteMetadata } from '../src/remote-write/write-request.ts';
import { startTestServer, type TestServer } from './support/auth.ts';
import { bytesField, field, snappy, str, varint, writeRequest, writeRequestV2 } from './support/remote-write.ts';

describe('remote_write metadata decoding', () => {
  it("reads 1.0's metadata list and 2.0's per-series metadata", () => {
    const list: RemoteMetadata[] = [];
    const series = decodeWriteRequest(
      writeRequest(
        [{ labels: { __name__: 'up' }, samples: [{ v: 1, t: 1 }] }],
        [{ family: 'node_cpu_seconds_total', type: 1, help: 'Seconds the CPUs spent in each mode.' }],
      ),
      list,
    );
    expect(series).toHaveLength(1);
    expect(list).toEqual([{ family: 'node_cpu_seconds_total', type: 1, help: 'Seconds the CPUs spent in each mode.', unit: '' }]);
    const v2 = decodeWriteRequestV2(
      writeRequestV2([
        { labels: { __name__: 'node_load1' }, samples: [{ v: 1, t: 1 }], meta: { type: 2, help: '1m load average.', unit: 'ratio' } },
      ]),
    );
    expect(v2[0]?.metadata).toEqual({ family: '', type: 2, help: '1m load average.', unit: 'ratio' });
  });

  it('refuses a help reference past the symbols, naming it', () => {
    const ts = bytesField(5, [...bytesField(5, [...field(1, 0), ...varint(2), ...field(3, 0), ...varint(9)])]);
    const body = new Uint8Array([...bytesField(4, str('')), ...ts]);
    expect(() => decodeWriteRequestV2(body)).toThrow(/timeseries\[0\]\.metadata\.help_ref: reference 9 is past the 1 symbols/);
  });

  it('keeps distinct variants per family, bounded, and a histogram under its family name', () => {
    const m = new MetadataStore();
    m.record('a', { type: 'gauge', help: 'x', unit: '' });
    m.record('a', { type: 'gauge', help: 'x', unit: '' });
    m.record('a', { type: 'gauge', help: 'y', unit: '' });
    expect(m.query()).toEqual({
      a: [
        { type: 'gauge', help: 'x', unit: '' },
        { type: 'gauge', help: 'y', unit: '' },
      ],
    });
    expect(m.query({ limitPerMetric: 1 }).a).toHaveLength(1);
    expect(familyOf('http_seconds_bucket', 'histogram')).toBe('http_seconds');
    expect(familyOf('http_requests_total', 'counter')).toBe('http_requests_total');
  });
});

/** /api/v1/metadata over a real server, fed by remote_write 1.0 (metadata-only requests, as Prometheus sends them) and 2.0. */
describe('/api/v1/metadata', () => {
  let t: TestServer;
  const now = Date.now();
  const v2 = {
    'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
    'x-prometheus-remote-write-version': '2.0.0',
  };

  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.stop();
  });

  const write = (headers: Record<string, string>, body: Uint8Array, extra: Record<string, string> = {}) =>
    fetch(`${t.base}/api/v1/write`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', ...headers, ...extra },
      body: snappy(body),
    });
  const metadata = async (query = '', headers?: Record<string, string>) => {
    const res = await fetch(`${t.base}/api/v1/metadata${query}`, { headers: headers ?? (await t.token('viewer')).headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers {} before any sender said anything', async () => {
    expect(await metadata()).toEqual({ status: 200, body: { status: 'success', data: {} } });
  });

  it('answers what remote_write 1.0 and 2.0 senders gave, in Prometheus’ shape and with its parameters', async () => {
    const op = (await t.token('operator')).headers;
    const one = await write(
      op,
      writeRequest(
        [],
        [
          { family: 'node_cpu_seconds_total', type: 1, help: 'Seconds the CPUs spent in each mode.' },
          { family: 'node_memory_MemTotal_bytes', type: 2, help: 'Memory information field MemTotal_bytes.', unit: 'bytes' },
        ],
      ),
    );
    expect(one.status).toBe(204);
    const two = await write(
      op,
      writeRequestV2([
        {
          labels: { __name__: 'http_request_seconds_bucket', instance: 'web-1', le: '0.5' },
          samples: [{ v: 3, t: now }],
          meta: { type: 3, help: 'Request latency.', unit: 'seconds' },
        },
      ]),
      v2,
    );
    expect(two.status).toBe(204);
    expect(await metadata()).toEqual({
      status: 200,
      body: {
        status: 'success',
        data: {
          http_request_seconds: [{ type: 'histogram', help: 'Request latency.', unit: 'seconds' }],
          node_cpu_seconds_total: [{ type: 'counter', help: 'Seconds the CPUs spent in each mode.', unit: '' }],
          node_memory_MemTotal_bytes: [{ type: 'gauge', help: 'Memory information field MemTotal_bytes.', unit: 'bytes' }],
        },
      },
    });
    expect((await metadata('?metric=node_cpu_seconds_total')).body.data).toEqual({
      node_cpu_seconds_total: [{ type: 'counter', help: 'Seconds the CPUs spent in each mode.', unit: '' }],
    });
    expect(Object.keys((await metadata('?limit=1')).body.data as object)).toEqual(['http_request_seconds']);
    expect((await metadata('?metric=nothing_here')).body.data).toEqual({});
    expect(await metadata('?limit=many')).toEqual({
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error: 'invalid parameter "limit": "many" is not an integer' },
    });
  });

  it('takes nothing from a refused request, a viewer, or nobody', async () => {
    const viewer = (await t.token('viewer')).headers;
    const refused = await write(viewer, writeRequest([], [{ family: 'sneaky_total', type: 1, help: 'from a viewer' }]));
    expect(refused.status).toBe(403);
    const op = (await t.token('operator')).headers;
    const malformed = await write(op, new Uint8Array([...writeRequest([], [{ family: 'bad_total', type: 1, help: 'h' }]), 0x0a, 0x05]));
    expect(malformed.status).toBe(400);
    expect((await metadata('?metric=sneaky_total')).body.data).toEqual({});
    expect((await metadata('?metric=bad_total')).body.data).toEqual({});
    expect((await fetch(`${t.base}/api/v1/metadata`)).status).toBe(401);
  });
});
