import { randomBytes } from 'node:crypto';
import {
  decodeLogPayload,
  decodePayload,
  encodeLogPayload,
  encodePayload,
  LogLevel,
  PayloadEncoding,
  PayloadError,
  type pb,
  reportAad,
  type Sample,
  seriesKey,
} from '@falconet/protocol';
import { describe, expect, it } from 'vitest';

const samples: Sample[] = [
  { name: 'node_load1', labels: {}, value: 0.42, timestampMs: 1_700_000_000_000 },
  { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'idle' }, value: 12345.67, timestampMs: 1_700_000_000_000 },
  { name: 'weird', labels: { v: 'a "quoted"\nline' }, value: Number.NaN, timestampMs: 1 },
];

describe('payload codec', () => {
  it('round-trips raw, gzip and sealed payloads', () => {
    const key = randomBytes(32);
    for (const opts of [{ gzip: false }, { gzip: true }, { gzip: true, key }]) {
      const { encoding, payload } = encodePayload(samples, opts);
      const back = decodePayload(encoding, payload, { key });
      expect(back.slice(0, 2)).toEqual(samples.slice(0, 2));
      expect(back[2]?.labels).toEqual(samples[2]?.labels);
      expect(Number.isNaN(back[2]?.value)).toBe(true);
    }
  });

  it('rejects a tampered sealed payload', () => {
    const key = randomBytes(32);
    const { encoding, payload } = encodePayload(samples, { gzip: true, key });
    payload[20] = (payload[20] ?? 0) ^ 0xff;
    expect(() => decodePayload(encoding, payload, { key })).toThrow(/authentication/);
  });

  it('rejects a sealed payload opened with the wrong key, or with none', () => {
    const { encoding, payload } = encodePayload(samples, { gzip: true, key: randomBytes(32) });
    expect(() => decodePayload(encoding, payload, { key: randomBytes(32) })).toThrow(PayloadError);
    expect(() => decodePayload(encoding, payload)).toThrow(/no key/);
  });

  it('binds a sealed payload to its additional data', () => {
    const key = randomBytes(32);
    const { encoding, payload } = encodePayload(samples, { gzip: true, key, aad: Buffer.from('agent-a:1') });
    expect(() => decodePayload(encoding, payload, { key, aad: Buffer.from('agent-a:2') })).toThrow(PayloadError);
  });

  it('names what is wrong with garbage', () => {
    expect(() => decodePayload(PayloadEncoding.PAYLOAD_ENCODING_GZIP, Buffer.from('nope'))).toThrow(/not valid gzip/);
    expect(() => decodePayload(PayloadEncoding.PAYLOAD_ENCODING_RAW, Buffer.from([0x0a, 0xff, 0xff]))).toThrow(/malformed sample batch/);
    expect(() => decodePayload(7 as PayloadEncoding, Buffer.alloc(0))).toThrow(/unknown payload encoding 7/);
  });

  it('refuses a gzip bomb', async () => {
    const { gzipSync } = await import('node:zlib');
    expect(() => decodePayload(PayloadEncoding.PAYLOAD_ENCODING_GZIP, gzipSync(Buffer.alloc(1 << 20)), { maxBytes: 1024 })).toThrow(
      /not valid gzip/,
    );
  });
});

describe('log payload codec', () => {
  const batch: pb.LogBatch = {
    records: [
      {
        timeMs: 1_700_000_000_123,
        observedMs: 1_700_000_000_456,
        source: 'nginx',
        stream: '/var/log/nginx/access.log',
        level: LogLevel.LOG_LEVEL_WARN,
        message: 'GET / 200 \u4e2d\u6587 "quoted"\tand a tab',
        labels: { app: 'web' },
        fields: { status: '200', truncated: 'true' },
        offset: 4096,
      },
      {
        timeMs: 0,
        observedMs: 1,
        source: 's',
        stream: '',
        level: LogLevel.LOG_LEVEL_UNSPECIFIED,
        message: '',
        labels: {},
        fields: {},
        offset: 0,
      },
    ],
    dropped: { nginx: 12 },
  };

  it('round-trips raw, gzip and sealed log batches', () => {
    const key = randomBytes(32);
    const aad = reportAad('agent-a', 7);
    for (const opts of [{ gzip: false }, { gzip: true }, { gzip: true, key, aad }]) {
      const { encoding, payload } = encodeLogPayload(batch, opts);
      expect(decodeLogPayload(encoding, payload, { key, aad })).toEqual(batch);
    }
    expect(encodeLogPayload(batch, { gzip: true, key }).encoding).toBe(PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM);
  });

  it('refuses a sealed log batch moved to another report, tampered, or opened without a key', () => {
    const key = randomBytes(32);
    const { encoding, payload } = encodeLogPayload(batch, { gzip: true, key, aad: reportAad('agent-a', 1) });
    expect(() => decodeLogPayload(encoding, payload, { key, aad: reportAad('agent-a', 2) })).toThrow(/authentication/);
    expect(() => decodeLogPayload(encoding, payload)).toThrow(/no key/);
    const tampered = Buffer.from(payload);
    tampered[15] = (tampered[15] ?? 0) ^ 1;
    expect(() => decodeLogPayload(encoding, tampered, { key, aad: reportAad('agent-a', 1) })).toThrow(PayloadError);
  });

  it('names a malformed log batch, bad gzip and a gzip bomb', async () => {
    expect(() => decodeLogPayload(PayloadEncoding.PAYLOAD_ENCODING_RAW, Buffer.from([0x0a, 0xff, 0xff]))).toThrow(/malformed log batch/);
    expect(() => decodeLogPayload(PayloadEncoding.PAYLOAD_ENCODING_GZIP, Buffer.from('nope'))).toThrow(/not valid gzip/);
    const { gzipSync } = await import('node:zlib');
    expect(() => decodeLogPayload(PayloadEncoding.PAYLOAD_ENCODING_GZIP, gzipSync(Buffer.alloc(1 << 20)), { maxBytes: 1024 })).toThrow(
      /not valid gzip/,
    );
  });
});

describe('seriesKey', () => {
  it('sorts labels so the key does not depend on their order', () => {
    expect(seriesKey('m', { b: '2', a: '1' })).toBe(seriesKey('m', { a: '1', b: '2' }));
    expect(seriesKey('m', {})).toBe('m');
  });
});
