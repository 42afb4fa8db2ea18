import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CompactDecoder, CompactEncoder, encodePayload, PayloadError, pb, type Sample, SharedDefinitions } from '../src/index.ts';

const host = (t: number, k: number): Sample[] => [
  { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'idle' }, value: 12345.67 + k * 9.98, timestampMs: t },
  { name: 'node_cpu_seconds_total', labels: { cpu: '0', mode: 'user' }, value: 321.5 + k * 0.01, timestampMs: t },
  { name: 'node_load1', labels: {}, value: 0.35 + k / 100, timestampMs: t },
  { name: 'node_memory_MemFree_bytes', labels: {}, value: 1_234_567_890 - k * 4096, timestampMs: t },
  { name: 'node_weird', labels: { a: 'b' }, value: Math.PI * k, timestampMs: t + 3 },
  { name: 'node_nan', labels: {}, value: k % 2 ? Number.NaN : Number.POSITIVE_INFINITY, timestampMs: t },
  { name: 'node_negzero', labels: {}, value: -0, timestampMs: t },
  { name: 'node_big', labels: {}, value: 2 ** 60 + k * 2 ** 10, timestampMs: t },
  { name: 'node_tiny', labels: {}, value: 1e-300 * k, timestampMs: t },
];

/** Encodes through protobuf bytes, as on the wire, and decodes. */
function roundTrip(enc: CompactEncoder, dec: CompactDecoder, samples: Sample[]): Sample[] {
  return dec.decodeBytes(pb.CompactBatch.encode(enc.encode(samples)).finish());
}

describe('compact sample encoding', () => {
  it('gives back every value bit for bit, timestamps and labels, over many reports', () => {
    const enc = new CompactEncoder();
    const dec = new CompactDecoder();
    for (let k = 0; k < 50; k++) {
      const samples = host(1_700_000_000_000 + k * 10_000, k);
      const out = roundTrip(enc, dec, samples);
      expect(out.length).toBe(samples.length);
      out.forEach((s, i) => {
        const want = samples[i] as Sample;
        expect(s.name).toBe(want.name);
        expect(s.labels).toEqual(want.labels);
        expect(s.timestampMs).toBe(want.timestampMs);
        expect(Object.is(s.value, want.value), `${want.name} report ${k}: ${s.value} vs ${want.value}`).toBe(true);
      });
    }
    expect(dec.size).toBe(9);
  });

  it('sends names and labels once per stream, and nothing for ids that repeat in order', () => {
    const enc = new CompactEncoder();
    const first = enc.encode(host(1000, 0));
    const second = enc.encode(host(2000, 1));
    expect(first.newSeries.length).toBe(9);
    expect(second.newSeries.length).toBe(0);
    expect(second.sameIds).toBe(true);
    expect(second.ids).toEqual([]);
    // A new series later gets the next id; the others keep theirs.
    const third = enc.encode([...host(3000, 2), { name: 'node_new', labels: { x: 'y' }, value: 1, timestampMs: 3000 }]);
    expect(third.tableSize).toBe(9);
    expect(third.newSeries.map((s) => s.name)).toEqual(['node_new']);
    expect(third.ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('takes a value with few decimals as a small integer difference', () => {
    const enc = new CompactEncoder();
    enc.encode(host(1000, 0));
    const b = enc.encode(host(2000, 1));
    // 12345.67 → 12355.65 at scale 2: a difference of 998; 0.35 → 0.36: 1 at scale 2.
    expect(b.deltas.slice(0, 3)).toEqual([998, 1, 1]);
    expect([...b.scales.subarray(0, 3)]).toEqual([2, 2, 2]);
  });

  it('is much smaller than the SampleBatch after the first report, both gzipped', () => {
    const enc = new CompactEncoder();
    let compact = 0;
    let plain = 0;
    for (let k = 0; k < 20; k++) {
      const s = host(1_700_000_000_000 + k * 10_000, k);
      const c = enc.payload(s).payload.length;
      const p = encodePayload(s, { gzip: true }).payload.length;
      if (k > 0) {
        compact += c;
        plain += p;
      }
    }
    expect(compact * 2).toBeLessThan(plain);
    // Nine samples after the first report: ids left out, nine scale bytes, a few short differences.
    const last = enc.payload(host(1_700_000_300_000, 30));
    expect(gunzipSync(last.payload).length).toBeLessThan(100);
  });

  it('refuses a batch that does not fit the table, naming what is wrong', () => {
    const enc = new CompactEncoder();
    const dec = new CompactDecoder();
    const first = enc.encode(host(1000, 0));
    const second = enc.encode(host(2000, 1));
    // The second batch before the first: the receiver holds none of its series.
    expect(() => dec.decode(second)).toThrow(new PayloadError("compact batch expects a table of 9 series; this stream's holds 0"));
    dec.decode(first);
    expect(() => dec.decode({ ...second, sameIds: false, ids: [0, 99] })).toThrow(PayloadError);
    expect(() => dec.decode({ ...second, scales: Buffer.from([7]) })).toThrow(/9 samples but 1 scales/);
    expect(() => dec.decodeBytes(Buffer.from([0xff, 0xff, 0xff]))).toThrow(/malformed compact batch/);
  });

  it('bounds the series one stream may define', () => {
    const enc = new CompactEncoder();
    const dec = new CompactDecoder(5);
    expect(() => dec.decode(enc.encode(host(1000, 0)))).toThrow('compact batch defines more than 5 series on one stream');
  });
});

describe('compact table bound', () => {
  it('starts the table again past its bound, and the receiver follows', () => {
    const enc = new CompactEncoder(10);
    const dec = new CompactDecoder(30);
    const batchOf = (from: number) =>
      Array.from({ length: 8 }, (_, i) => ({ name: 'churn', labels: { id: String(from + i) }, value: i, timestampMs: 1000 }));
    for (let r = 0; r < 10; r++) {
      const samples = batchOf(r * 8);
      const batch = enc.encode(samples);
      expect(batch.reset).toBe(r > 0 && r % 2 === 0);
      const out = dec.decodeBytes(pb.CompactBatch.encode(batch).finish());
      expect(out.map((s) => s.labels.id)).toEqual(samples.map((s) => s.labels.id));
      expect(dec.size).toBeLessThanOrEqual(16);
    }
  });
});

describe('definitions shared across streams', () => {
  it('gives alike streams one labels object per series, and stops sharing past its bound', () => {
    const shared = new SharedDefinitions(3);
    const t = 1_700_000_000_000;
    const [a, b] = [new CompactDecoder(1000, shared), new CompactDecoder(1000, shared)];
    const outA = roundTrip(new CompactEncoder(), a, host(t, 1));
    const outB = roundTrip(new CompactEncoder(), b, host(t, 2));
    // Values stay each stream's own; the first three definitions are one object, the rest copies.
    expect(outB.map((s) => s.value)).toEqual(host(t, 2).map((s) => s.value));
    expect(outA.map((s) => s.labels)).toEqual(outB.map((s) => s.labels));
    expect(outA.map((s, i) => s.labels === outB[i]?.labels)).toEqual([true, true, true, false, false, false, false, false, false]);
    expect(shared.size).toBe(3);
  });
});
