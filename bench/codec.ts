/**
 * The report payload codec: the hand-written SampleBatch wire codec (packages/protocol/src/wire.ts)
 * against the ts-proto generated code it replaced on the hot path, same data, same run, CPU time
 * per sample (best of several rounds) and the ratio.
 *
 *   npm run bench -- codec [--quick]
 */
import { fromWire, toWire } from '@falconet/protocol';
import { generatedDecode, generatedEncode } from '../testing/generated-codec.ts';
import { realisticHostSeries } from '../testing/series.ts';
import { emit, progress, quick } from './lib.ts';

const REPORTS = quick ? 1000 : 3000;
const ROUNDS = quick ? 4 : 8;
const gen = realisticHostSeries({ seriesPerHost: 200 });
const reports = Array.from({ length: REPORTS }, (_, i) => gen(i, Date.now()));
const samples = reports.reduce((n, r) => n + r.length, 0);
const wires = reports.map(toWire);

/** Best CPU nanoseconds per sample over the rounds (the machine is shared; the best is the least disturbed). */
function nsPerSample(run: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < ROUNDS; k++) {
    const before = process.cpuUsage();
    run();
    const used = process.cpuUsage(before);
    best = Math.min(best, ((used.user + used.system) * 1000) / samples);
  }
  return best;
}

progress(`codec: ${REPORTS} reports of 200 realistic samples, ${ROUNDS} rounds each`);
const figures = {
  encode: [nsPerSample(() => reports.forEach(generatedEncode)), nsPerSample(() => reports.forEach(toWire))],
  decode: [nsPerSample(() => wires.forEach(generatedDecode)), nsPerSample(() => wires.forEach(fromWire))],
} as const;
for (const [op, [reference, ours]] of Object.entries(figures)) {
  emit({ bench: 'codec', metric: `${op}_ns_per_sample`, value: Math.round(ours), unit: 'ns' });
  emit({ bench: 'codec', metric: `${op}_ns_per_sample_generated`, value: Math.round(reference), unit: 'ns' });
  emit({
    bench: 'codec',
    metric: `${op}_ratio`,
    value: Number((ours / reference).toFixed(3)),
    unit: 'ratio',
    ref: 'ts-proto generated code',
  });
}
