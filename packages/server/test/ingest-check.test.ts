import type { Sample } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { checkSamples, DEFAULT_LIMITS } from '../src/ingest/channel.ts';

const now = Date.now();
const sample = (name: string, labels: Sample['labels']): Sample => ({ name, labels, value: 1, timestampMs: now });

describe('checking a report’s samples', () => {
  it('checks a labels object again when it comes with another name, and refuses what is wrong there', () => {
    // A decoder hands every sample of a series the same labels object; the check remembers it with its name.
    const shared = { device: 'sda' };
    checkSamples([sample('node_disk_reads_completed_total', shared)], DEFAULT_LIMITS, now);
    checkSamples([sample('node_disk_reads_completed_total', shared)], DEFAULT_LIMITS, now);
    expect(() => checkSamples([sample('node disk', shared)], DEFAULT_LIMITS, now)).toThrow(
      /sample 0: "node disk" is not a valid metric name/,
    );
    const bad = { 'bad-label': 'x' };
    expect(() => checkSamples([sample('up', bad)], DEFAULT_LIMITS, now)).toThrow(/sample 0 \(up\): "bad-label" is not a valid label name/);
    // Refused once, refused every time: nothing of a refused series is remembered as checked.
    expect(() => checkSamples([sample('up', bad)], DEFAULT_LIMITS, now)).toThrow(/"bad-label" is not a valid label name/);
    expect(() => checkSamples([sample('up', { __reserved: 'x' })], DEFAULT_LIMITS, now)).toThrow(/"__reserved" is not a valid label name/);
  });
});
