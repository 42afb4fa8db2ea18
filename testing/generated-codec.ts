/**
 * SampleBatch through the ts-proto generated code, the reference the hand-written wire codec
 * (packages/protocol/src/wire.ts) is held to by its tests and compared with by bench/codec.
 */
import { pb, type Sample } from '@falconet/protocol';

export const generatedEncode = (samples: readonly Sample[]): Uint8Array =>
  pb.SampleBatch.encode({
    samples: samples.map((s) => ({
      name: s.name,
      labels: Object.entries(s.labels).map(([name, value]) => ({ name, value })),
      value: s.value,
      timestampMs: s.timestampMs,
    })),
  }).finish();

export const generatedDecode = (bytes: Uint8Array): Sample[] =>
  pb.SampleBatch.decode(bytes).samples.map((s) => {
    const labels: Record<string, string> = {};
    for (const l of s.labels) labels[l.name] = l.value;
    return { name: s.name, labels, value: s.value, timestampMs: s.timestampMs };
  });
