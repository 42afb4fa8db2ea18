import { describe, expect, it } from 'vitest';
import { decodeRawChunk, decodeRollupChunk, encodeRawChunk, encodeRollupChunk } from '../src/store/codec/chunk.ts';
import { rollup } from '../src/store/embedded/build.ts';

const roundTrip = (ts: number[], vs: number[], base = 0) =>
  decodeRawChunk(Uint8Array.from(encodeRawChunk(ts, vs, 0, ts.length, base)), base);

describe('chunk codec', () => {
  it('round-trips values bit for bit through the decimal and the XOR paths', () => {
    const families: Record<string, number[]> = {
      constant: new Array(500).fill(42),
      counter: Array.from({ length: 500 }, (_, i) => i * 123_457 + (i % 13)),
      hundredths: Array.from({ length: 500 }, (_, i) => Math.round(i * 987.65) / 100),
      nanoseconds: Array.from({ length: 500 }, (_, i) => (1_234_567_891_234 + i * 98_765_432) / 1e9),
      random: Array.from({ length: 500 }, () => Math.random() * 1e6 - 5e5),
      specials: [
        0,
        -0,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        5e-324,
        -5e-324,
        1.7976931348623157e308,
        0.1 + 0.2,
        2 ** 53,
        -(2 ** 60),
        1e-7,
      ],
      nanEvery7: Array.from({ length: 500 }, (_, i) => (i % 7 ? i / 4 : Number.NaN)),
      one: [Math.PI],
    };
    for (const [name, vs] of Object.entries(families)) {
      const ts = vs.map((_, i) => 1_767_225_600_000 + i * 10_000 + (i % 3) * 7);
      const d = roundTrip(ts, vs, 1_767_225_600_000);
      expect(Array.from(d.ts), name).toEqual(ts);
      vs.forEach((v, i) => {
        expect(Object.is(d.vs[i], v), `${name}[${i}]: ${d.vs[i]} vs ${v}`).toBe(true);
      });
    }
  });

  it('keeps irregular timestamps, gaps and large jumps exact', () => {
    const ts = [0, 1, 2, 1000, 1001, 5_000_000, 5_000_000 + 86_400_000, 2 ** 43, 2 ** 43 + 1];
    const d = roundTrip(
      ts,
      ts.map(() => 1),
    );
    expect(Array.from(d.ts)).toEqual(ts);
  });

  it('compresses regular series well: a constant costs about one bit per sample plus the header', () => {
    const ts = Array.from({ length: 720 }, (_, i) => 1_767_225_600_000 + i * 10_000);
    expect(encodeRawChunk(ts, new Array(720).fill(1), 0, 720, 1_767_225_600_000).length).toBeLessThan(200);
    const counter = ts.map((_, i) => i * 1000);
    expect(encodeRawChunk(ts, counter, 0, 720, 1_767_225_600_000).length).toBeLessThan(250);
  });

  it('rolls up samples into 1 m rows skipping NaN, and round-trips the rows', () => {
    const ts = [0, 10_000, 20_000, 60_000, 70_000, 130_000];
    const vs = [1, Number.NaN, 3, 5, 7, Number.NaN];
    const r = rollup(ts, vs, ts.length, 60_000);
    expect(Array.from(r.ts)).toEqual([0, 60_000]);
    expect(Array.from(r.min)).toEqual([1, 5]);
    expect(Array.from(r.max)).toEqual([3, 7]);
    expect(Array.from(r.sum)).toEqual([4, 12]);
    expect(Array.from(r.count)).toEqual([2, 2]);
    expect(Array.from(r.last)).toEqual([3, 7]);
    expect(Array.from(r.lastTs)).toEqual([20_000, 70_000]);
    const back = decodeRollupChunk(Uint8Array.from(encodeRollupChunk(r, 0, 2)));
    expect(back).toEqual(r);
  });

  it('refuses a chunk that ends before its data', () => {
    const bytes = encodeRawChunk([1, 2, 3], [1.5, 2.5, 3.5], 0, 3);
    expect(() => decodeRawChunk(Uint8Array.from(bytes).subarray(0, 3))).toThrow(/chunk ends before its data/);
  });
});

describe('shared timestamp columns', () => {
  it('stores a column once for the series that share it and decodes each chunk exactly', async () => {
    const { PartWriter, readPartIndexSync, readTimestampsSync, timestampBlock } = await import('../src/store/embedded/part.ts');
    const { openSync, closeSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tempDir } = await import('../../../testing/processes.ts');
    const file = join(tempDir(), 'raw-t.part');
    const base = 1_767_225_600_000;
    const ts = Array.from({ length: 60 }, (_, i) => base + i * 10_000 + ((i * 37) % 150));
    const w = new PartWriter(file, 'raw');
    const series = [0, 1, 2, 3].map((s) => ts.map((_, i) => s * 1000 + i));
    series.forEach((vs, s) => {
      w.add(s + 1, encodeRawChunk(ts, vs, 0, ts.length, base, w.timestamps), ts.length, ts[0] as number, ts.at(-1) as number);
    });
    // Short runs share too (a flush of a big fleet writes 1 to 3 samples a series): two series of
    // the same two report times, one column of their own.
    w.add(9, encodeRawChunk(ts, [1, 2], 0, 2, base, w.timestamps), 2, ts[0] as number, ts[1] as number);
    w.add(10, encodeRawChunk(ts, [3, 4], 0, 2, base, w.timestamps), 2, ts[0] as number, ts[1] as number);
    const size = w.finish();
    const fd = openSync(file, 'r');
    const index = readPartIndexSync(file, fd, size);
    const section = readTimestampsSync(fd, index);
    closeSync(fd);
    expect(index.tsOffsets.length - 1).toBe(2);
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(file);
    for (let i = 0; i < 6; i++) {
      const chunk = bytes.subarray(index.offsets[i] as number, index.offsets[i + 1] as number);
      expect((chunk[0] as number) & 0x80, `chunk ${i} refers to a column`).toBe(0x80);
      const d = decodeRawChunk(chunk, base, (ref) => timestampBlock(index, section, ref));
      const want = i < 4 ? series[i] : i === 4 ? [1, 2] : [3, 4];
      expect(Array.from(d.vs)).toEqual(want);
      expect(Array.from(d.ts)).toEqual(ts.slice(0, want?.length));
    }
  });
});
