import { derivePayloadKey, fromOpenFalcon, reportAad, seal, toOpenFalcon, unseal } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';

const now = 1_700_000_000_000;

describe('Open-Falcon records', () => {
  it('writes a sample as a record: tags sorted, seconds, counters as COUNTER', () => {
    expect(
      toOpenFalcon(
        { name: 'node_cpu_seconds_total', labels: { mode: 'idle', cpu: '0' }, value: 12.5, timestampMs: now + 999 },
        'web-1',
        10,
      ),
    ).toEqual({
      metric: 'node_cpu_seconds_total',
      endpoint: 'web-1',
      tags: 'cpu=0,mode=idle',
      value: 12.5,
      timestamp: 1_700_000_000,
      step: 10,
      counterType: 'COUNTER',
    });
    expect(toOpenFalcon({ name: 'node_load1', labels: {}, value: 1, timestampMs: now }, 'h', 0.5).counterType).toBe('GAUGE');
  });

  it('reads both tag forms, tags as an object, numeric strings, ms timestamps; names made Prometheus-safe', () => {
    const base = { metric: 'df.bytes.free.percent', endpoint: 'db-2', value: '17.5', timestamp: 1_700_000_100 };
    expect(fromOpenFalcon({ ...base, tags: 'mount=/,fstype=ext4' }, now)).toEqual({
      host: 'db-2',
      sample: {
        name: 'df_bytes_free_percent',
        labels: { mount: '/', fstype: 'ext4', host: 'db-2' },
        value: 17.5,
        timestampMs: 1_700_000_100_000,
      },
    });
    expect(fromOpenFalcon({ ...base, tag: ['mount=/', 'fstype=ext4'] }, now).sample.labels).toEqual({
      mount: '/',
      fstype: 'ext4',
      host: 'db-2',
    });
    expect(fromOpenFalcon({ ...base, tags: { 'disk.name': 'sda' } }, now).sample.labels).toEqual({ disk_name: 'sda', host: 'db-2' });
    expect(fromOpenFalcon({ ...base, timestamp: now + 5 }, 0).sample.timestampMs).toBe(now + 5);
    expect(fromOpenFalcon({ metric: '1m.load', endpoint: 'x', value: 1 }, now).sample).toMatchObject({
      name: '_1m_load',
      timestampMs: now,
    });
  });

  it('names the field at fault', () => {
    const ok = { metric: 'm', endpoint: 'e', value: 1 };
    const err = (r: unknown) => {
      try {
        fromOpenFalcon(r, now);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(err('text')).toMatch(/^expected a JSON object/);
    expect(err({ ...ok, metric: '' })).toBe('metric: expected a non-empty string');
    expect(err({ ...ok, endpoint: 'a b' })).toMatch(/^endpoint: "a b" must be at most 255 characters without spaces/);
    expect(err({ ...ok, value: 'NaN' })).toBe('value: expected a number, got "NaN"');
    expect(err({ ...ok, timestamp: -5 })).toBe('timestamp: expected seconds since 1970');
    expect(err({ ...ok, step: 0.5 })).toBe('step: expected a positive whole number of seconds');
    expect(err({ ...ok, counterType: 'RATE' })).toBe('counterType: expected GAUGE or COUNTER, got "RATE"');
    expect(err({ ...ok, tags: 'novalue' })).toBe('tags: "novalue" is not k=v');
    expect(err({ ...ok, tag: [1] })).toBe('tag: expected strings "k=v"');
    expect(err({ ...ok, tags: '__name__=x' })).toBe('tags: "__name__" is reserved');
  });
});

describe('payload keys', () => {
  it('derives one key per token and binds a sealed payload to its agent and sequence', () => {
    const key = derivePayloadKey('fnt_abc');
    expect(key).toHaveLength(32);
    expect(derivePayloadKey('fnt_abc').equals(key)).toBe(true);
    expect(derivePayloadKey('fnt_abd').equals(key)).toBe(false);
    const sealed = seal(Buffer.from('batch'), key, reportAad('a1', 7));
    expect(unseal(sealed, key, reportAad('a1', 7)).toString()).toBe('batch');
    expect(() => unseal(sealed, key, reportAad('a1', 8))).toThrow(/failed authentication/);
    expect(() => unseal(sealed, key, reportAad('a2', 7))).toThrow(/failed authentication/);
  });
});
