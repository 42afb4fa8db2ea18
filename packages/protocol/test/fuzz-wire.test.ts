/**
 * Fuzz (issue 24): the SampleBatch wire codec and the payload envelope (gzip, AES-256-GCM) on
 * arbitrary bytes and on batches built from a model. See testing/fuzz.ts for seeds and replays.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  CompactDecoder,
  CompactEncoder,
  decodeLogPayload,
  decodePayload,
  encodeLogPayload,
  encodePayload,
  fromWire,
  PayloadEncoding,
  PayloadError,
  pb,
  type Sample,
  toWire,
} from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { fc, fuzz, fuzzTimeout, OBJECT_KEYS } from '../../../testing/fuzz.ts';
import { generatedEncode } from '../../../testing/generated-codec.ts';

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ maxLength: 20, unit: 'grapheme' }), fc.constantFrom(...OBJECT_KEYS));
/** What the wire carries: a double (NaN, infinities and -0 too) and a timestamp that fits in a double. */
const value = fc.oneof(fc.double(), fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY));
const timestampMs = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.maxSafeInteger(), fc.constant(0));
const labels = fc.dictionary(text, fc.string({ maxLength: 40, unit: 'grapheme' }), { maxKeys: 5, noNullPrototype: true });
/** Lone surrogates do not survive UTF-8, on any protobuf wire, so the model's strings are well formed. */
const sample: fc.Arbitrary<Sample> = fc.record({ name: text, labels, value, timestampMs });
const batch = fc.array(sample, { maxLength: 20 });

/** A decoded batch compared with its model: Object.is on values (NaN, -0), labels as plain entries. */
function same(a: readonly Sample[], b: readonly Sample[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as Sample;
    const ax = Object.entries(x.labels);
    const by = Object.entries(y.labels);
    return (
      x.name === y.name &&
      Object.is(x.value, y.value) &&
      x.timestampMs === y.timestampMs &&
      ax.length === by.length &&
      ax.every(([k, v]) => Object.hasOwn(y.labels, k) && y.labels[k] === v)
    );
  });
}

describe('fuzz: SampleBatch wire codec', () => {
  it(
    'decodes what it encodes, and what the generated code encodes, to the model',
    () =>
      fuzz(
        'wire round trip',
        fc.property(batch, (samples) => {
          expect(same(fromWire(toWire(samples)), samples)).toBe(true);
          // ts-proto leaves out a -0 as if it were the default; protobuf's own encoders (and this one) keep it.
          if (!samples.some((x) => Object.is(x.value, -0))) {
            expect(Buffer.from(toWire(samples)).equals(Buffer.from(generatedEncode(samples)))).toBe(true);
          }
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'throws only PayloadError on arbitrary bytes, naming the byte',
    () =>
      fuzz(
        'wire arbitrary bytes',
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          try {
            fromWire(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(PayloadError);
            expect((err as Error).message).toMatch(/^malformed sample batch: .+ at byte \d+$/);
          }
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'throws only PayloadError on a valid batch with bytes flipped, cut or inserted',
    () =>
      fuzz(
        'wire mutated batch',
        fc.property(batch, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 2 }))), (s, edits) => {
          const bytes = [...toWire(s)];
          for (const [at, byte, kind] of edits) {
            const i = bytes.length ? at % bytes.length : 0;
            if (kind === 0) bytes[i] = byte;
            else if (kind === 1) bytes.splice(i, 1);
            else bytes.splice(i, 0, byte);
          }
          try {
            fromWire(Uint8Array.from(bytes));
          } catch (err) {
            expect(err).toBeInstanceOf(PayloadError);
          }
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

const encodings = fc.constantFrom(
  PayloadEncoding.PAYLOAD_ENCODING_RAW,
  PayloadEncoding.PAYLOAD_ENCODING_GZIP,
  PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM,
  PayloadEncoding.UNRECOGNIZED,
  9 as PayloadEncoding,
);

describe('fuzz: payload envelope', () => {
  const key = randomBytes(32);

  it(
    'opens what it seals, in every encoding',
    () =>
      fuzz(
        'payload round trip',
        fc.property(batch, fc.constantFrom({ gzip: false }, { gzip: true }, { gzip: true, key }), fc.string(), (s, opts, aad) => {
          const sealed = encodePayload(s, { ...opts, aad: Buffer.from(aad) });
          expect(same(decodePayload(sealed.encoding, sealed.payload, { key, aad: Buffer.from(aad) }), s)).toBe(true);
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'throws only PayloadError on arbitrary bytes under any encoding, gzipped or not',
    () =>
      fuzz(
        'payload arbitrary bytes',
        fc.property(encodings, fc.uint8Array({ maxLength: 200 }), fc.boolean(), (encoding, bytes, gz) => {
          const payload = gz ? gzipSync(bytes) : bytes;
          for (const open of [() => decodePayload(encoding, payload, { key }), () => decodeLogPayload(encoding, payload, { key })]) {
            try {
              open();
            } catch (err) {
              expect(err).toBeInstanceOf(PayloadError);
              expect((err as Error).message.length).toBeGreaterThan(10);
            }
          }
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'round-trips log batches, and refuses a tampered sealed one',
    () =>
      fuzz(
        'log payload round trip',
        fc.property(
          fc.array(
            fc.record({
              message: fc.string({ unit: 'grapheme' }),
              source: fc.string({ maxLength: 10 }),
              timeMs: fc.nat(),
              fields: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3, noNullPrototype: true }),
            }),
            { maxLength: 10 },
          ),
          fc.nat(),
          (lines, flip) => {
            const batch = pb.LogBatch.fromPartial({ records: lines });
            const sealed = encodeLogPayload(batch, { gzip: true, key });
            expect(pb.LogBatch.toJSON(decodeLogPayload(sealed.encoding, sealed.payload, { key }))).toEqual(pb.LogBatch.toJSON(batch));
            const bad = Buffer.from(sealed.payload);
            const i = flip % bad.length;
            bad[i] = (bad[i] as number) ^ 0x01;
            expect(() => decodeLogPayload(sealed.encoding, bad, { key })).toThrow(PayloadError);
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

describe('fuzz: compact sample encoding', () => {
  /** Batches drawn from a small pool of series, so later batches repeat, reorder and add series. */
  const pool = fc.array(fc.record({ name: text, labels }), { minLength: 1, maxLength: 8 });
  const batches = pool.chain((series) =>
    fc.array(
      fc.array(fc.record({ at: fc.nat({ max: series.length - 1 }), value, timestampMs }), { maxLength: 12 }).map((picks) =>
        picks.map(({ at, value, timestampMs }) => ({
          ...(series[at] as { name: string; labels: Sample['labels'] }),
          value,
          timestampMs,
        })),
      ),
      { maxLength: 6 },
    ),
  );

  it(
    'gives back every batch of a stream bit for bit, through protobuf bytes',
    () =>
      fuzz(
        'compact round trip',
        fc.property(batches, fc.integer({ min: 1, max: 20 }), (stream, bound) => {
          const enc = new CompactEncoder(bound);
          const dec = new CompactDecoder();
          for (const samples of stream) {
            const out = dec.decodeBytes(pb.CompactBatch.encode(enc.encode(samples)).finish());
            expect(same(out, samples)).toBe(true);
          }
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'throws only PayloadError on arbitrary bytes and on mutated batches',
    () =>
      fuzz(
        'compact arbitrary bytes',
        fc.property(
          batches,
          fc.uint8Array({ maxLength: 200 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))),
          (stream, junk, edits) => {
            const enc = new CompactEncoder();
            const dec = new CompactDecoder(50);
            const inputs = stream.map((s) => [...pb.CompactBatch.encode(enc.encode(s)).finish()]);
            for (const [at, byte] of edits) {
              const b = inputs[at % Math.max(1, inputs.length)];
              if (b?.length) b[at % b.length] = byte;
            }
            for (const bytes of [...inputs.map((b) => Uint8Array.from(b)), junk]) {
              try {
                dec.decodeBytes(bytes);
              } catch (err) {
                expect(err).toBeInstanceOf(PayloadError);
              }
            }
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});
