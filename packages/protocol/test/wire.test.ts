import { fromWire, PayloadError, type Sample, toWire } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { generatedDecode, generatedEncode } from '../../../testing/generated-codec.ts';

function randomSamples(seed: number, n: number): Sample[] {
  let x = seed;
  const rnd = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  const values = [0, 1, -1, 0.1, 1e300, -1e-300, Number.NaN, Infinity, -Infinity, 2 ** 53, 123456.789];
  const strings = ['', 'a', 'node_cpu_seconds_total', '中文标签', 'quote " and \\ and \n', 'x'.repeat(300), '😀'];
  return Array.from({ length: n }, () => {
    const labels: Record<string, string> = {};
    const k = Math.floor(rnd() * 4);
    for (let i = 0; i < k; i++) labels[`l${i}`] = strings[Math.floor(rnd() * strings.length)] as string;
    return {
      name: strings[Math.floor(rnd() * 3)] as string,
      labels,
      value: rnd() < 0.5 ? (values[Math.floor(rnd() * values.length)] as number) : (rnd() - 0.5) * 1e6,
      timestampMs: [0, 1, 1_700_000_000_123, 2 ** 53 - 1, -1, -1_000][Math.floor(rnd() * 6)] as number,
    };
  });
}

describe('SampleBatch wire codec', () => {
  it('writes exactly the bytes the generated code writes', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const samples = randomSamples(seed, 40);
      expect(Buffer.from(toWire(samples)).equals(Buffer.from(generatedEncode(samples)))).toBe(true);
    }
  });

  it('reads what the generated code writes, and the generated code reads what it writes', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const samples = randomSamples(seed, 40);
      expect(fromWire(generatedEncode(samples))).toEqual(samples);
      expect(generatedDecode(toWire(samples))).toEqual(samples);
    }
  });

  it('keeps the sign of negative zero', () => {
    const [back] = fromWire(toWire([{ name: 'z', labels: {}, value: -0, timestampMs: 5 }]));
    expect(Object.is(back?.value, -0)).toBe(true);
  });

  it('skips unknown fields of every wire type, and takes fields in any order', () => {
    // Sample: timestamp (4) before name (1), then unknown varint 9, fixed64 10, bytes 11, fixed32 12.
    const sample = Buffer.from([
      0x20, 0x07, 0x0a, 0x01, 0x61, 0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5a, 0x02, 0x10, 0x20, 0x65, 1, 2, 3, 4,
    ]);
    const unknownBatchField = Buffer.from([0x10, 0x05]);
    const batch = Buffer.concat([unknownBatchField, Buffer.from([0x0a, sample.length]), sample]);
    expect(fromWire(batch)).toEqual([{ name: 'a', labels: {}, value: 0, timestampMs: 7 }]);
  });

  it('refuses every truncation that is not at a sample boundary, naming the byte', () => {
    const samples = randomSamples(3, 5);
    const bytes = Buffer.from(toWire(samples));
    const boundaries = new Set<number>([0]);
    let at = 0;
    for (const s of samples) {
      at += Buffer.from(toWire([s])).length;
      boundaries.add(at);
    }
    for (let cut = 1; cut < bytes.length; cut++) {
      if (boundaries.has(cut)) expect(fromWire(bytes.subarray(0, cut)).length).toBeGreaterThan(0);
      else expect(() => fromWire(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(/malformed sample batch: .* at byte \d+/);
    }
  });

  it('refuses a length that runs past its message and an unknown wire type', () => {
    expect(() => fromWire(Buffer.from([0x0a, 0x05, 0x0a, 0x09, 0x61]))).toThrow(PayloadError);
    expect(() => fromWire(Buffer.from([0x0b]))).toThrow(/wire type 3/);
    expect(() => fromWire(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toThrow(/64 bits/);
  });

  // Found by fuzz-wire.test.ts: the decoder assigned labels["__proto__"], which sets the prototype and loses the label.
  it('keeps a label named __proto__', () => {
    const labels = JSON.parse('{"__proto__":"x","a":"b"}') as Record<string, string>;
    const [back] = fromWire(toWire([{ name: 'm', labels, value: 1, timestampMs: 1 }]));
    expect(Object.entries(back?.labels ?? {})).toEqual([
      ['__proto__', 'x'],
      ['a', 'b'],
    ]);
  });
});
