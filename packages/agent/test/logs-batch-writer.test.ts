import { LogLevel, pb } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { LogBatchWriter } from '../src/transport/log-batch.ts';

function record(over: Partial<pb.LogRecord> = {}): pb.LogRecord {
  return {
    timeMs: 1_765_000_000_123,
    observedMs: 1_765_000_000_456,
    source: 'app',
    stream: '/var/log/app.log',
    level: LogLevel.LOG_LEVEL_INFO,
    message: 'GET /index.html 200 12ms',
    labels: {},
    fields: {},
    offset: 4096,
    ...over,
  };
}

/** A seeded generator, so a failure names the batch that made it. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ['a', 'é', '日本', '🦅', '\uD800', '\n', '"', 'x'.repeat(100), ' ', '\u0000'];

function text(rnd: () => number, max: number): string {
  let s = '';
  const n = Math.floor(rnd() * max);
  while (s.length < n) s += PIECES[Math.floor(rnd() * PIECES.length)];
  return s;
}

describe('LogBatchWriter', () => {
  const writer = new LogBatchWriter();
  const same = (batch: pb.LogBatch) => {
    const want = Buffer.from(pb.LogBatch.encode(batch).finish());
    expect(Buffer.from(writer.encode(batch).bytes).equals(want)).toBe(true);
  };

  it('writes the bytes pb.LogBatch.encode writes', () => {
    same({ records: [], dropped: {} });
    same({ records: [record()], dropped: {} });
    same({ records: [record({ timeMs: 0, observedMs: 0, source: '', stream: '', level: 0, message: '', offset: 0 })], dropped: {} });
    same({ records: [record({ labels: { app: 'web', '': 'empty key', e: '' }, fields: { __proto__: 'x', n: '1' } })], dropped: {} });
    same({ records: [record({ timeMs: -5, level: -1 as LogLevel })], dropped: { app: 3, other: 0 } });
    same({ records: [record({ offset: 2 ** 40 + 7, timeMs: 2 ** 52 })], dropped: { big: 2 ** 33 } });
  });

  it('writes lengths of every width: short, long and 64 KiB messages, records past 16 KiB and 2 MiB', () => {
    for (const n of [0, 1, 42, 43, 127, 128, 5_461, 5_462, 16_383, 16_384, 65_536])
      same({ records: [record({ message: 'm'.repeat(n) })], dropped: {} });
    same({ records: [record({ message: 'é'.repeat(40) }), record({ message: '🦅'.repeat(3_000) })], dropped: {} });
    const fields: Record<string, string> = {};
    for (let i = 0; i < 40; i++) fields[`f${i}`] = 'v'.repeat(60_000);
    same({ records: [record({ fields })], dropped: {} });
  });

  it('writes random batches as pb.LogBatch.encode does', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = random(seed);
      const records = Array.from({ length: Math.floor(rnd() * 30) }, () => {
        const labels: Record<string, string> = {};
        const fields: Record<string, string> = {};
        for (let i = Math.floor(rnd() * 4); i > 0; i--) labels[text(rnd, 8)] = text(rnd, 20);
        for (let i = Math.floor(rnd() * 6); i > 0; i--) fields[text(rnd, 12)] = text(rnd, 300);
        return record({
          timeMs: Math.floor(rnd() * 2 ** 45),
          level: Math.floor(rnd() * 7) as LogLevel,
          message: text(rnd, 600),
          stream: text(rnd, 60),
          labels,
          fields,
          offset: Math.floor(rnd() * 2 ** 36),
        });
      });
      same({ records, dropped: rnd() < 0.3 ? { [text(rnd, 10)]: Math.floor(rnd() * 1000) } : {} });
    }
  });

  it('leaves numbers it does not write exactly to the generic encoder, refusals included', () => {
    for (const odd of [record({ timeMs: 1.5 }), record({ offset: Number.NaN }), record({ observedMs: 2 ** 60 })]) {
      const batch = { records: [odd], dropped: {} };
      let want: Buffer | Error;
      try {
        want = Buffer.from(pb.LogBatch.encode(batch).finish());
      } catch (err) {
        want = err as Error;
      }
      if (want instanceof Error) expect(() => writer.encode(batch)).toThrow(want.message);
      else expect(Buffer.from(writer.encode(batch).bytes).equals(want)).toBe(true);
    }
    same({ records: [record()], dropped: {} });
  });
});
