import type { Sample } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { PushError } from '../src/ingest/push.ts';
import { type PushCaps, type PushedSample, PushLimits } from '../src/ingest/push-limits.ts';

/** The caps every push path shares, on a clock the test moves (no sleeping). */
const CAPS: PushCaps = {
  max_series_per_sender: 10,
  max_hosts_per_sender: 3,
  max_labels_per_series: 4,
  max_label_name_length: 20,
  max_label_value_length: 30,
  samples_per_second: 100,
  burst: 50,
};

const sample = (name: string, labels: Record<string, string>): Sample => ({ name, labels, value: 1, timestampMs: 0 });
const pushed = (host: string, name = 'm', labels: Record<string, string> = {}): PushedSample => ({
  host,
  sample: sample(name, { ...labels, host }),
});
const alice = { key: 'token:a', name: 'token:alice' };
const bob = { key: 'token:b', name: 'token:bob' };

function refusal(fn: () => void): PushError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PushError) return err;
    throw err;
  }
  throw new Error('expected a PushError');
}

describe('PushLimits', () => {
  it('refuses series past the shape caps, naming the cap and where', () => {
    const l = new PushLimits(CAPS);
    expect(() => l.checkShape(sample('ok', { a: '1', b: '2', host: 'h' }), 'line 1')).not.toThrow();
    const labels = refusal(() => l.checkShape(sample('m', { a: '1', b: '2', c: '3', d: '4', host: 'h' }), 'line 2'));
    expect(labels.reason).toBe('too_many_labels');
    expect(labels.message).toBe('line 2: 5 labels; at most 4 per series (ingest.push.max_labels_per_series)');
    const name = refusal(() => l.checkShape(sample('m', { ['n'.repeat(21)]: 'v' }), 'body 3'));
    expect(name.reason).toBe('label_too_long');
    expect(name.message).toMatch(/^body 3: label name "n+\.\.\." of 21 characters; at most 20 \(ingest\.push\.max_label_name_length\)$/);
    const value = refusal(() => l.checkShape(sample('m', { a: 'v'.repeat(31) }), 'body 4'));
    expect(value.message).toBe('body 4: label a has a value of 31 characters; at most 30 (ingest.push.max_label_value_length)');
    expect(refusal(() => l.checkShape(sample('m'.repeat(21), {}), 'x')).reason).toBe('label_too_long');
  });

  it('caps the series and hosts of each sender, all or nothing, and forgets what was not pushed for an hour', () => {
    let now = 0;
    const l = new PushLimits({ ...CAPS, burst: 1000, samples_per_second: 1000 }, { now: () => now });
    // Three hosts are allowed; a batch that would make a fourth is refused whole.
    l.admit(alice, [pushed('h1'), pushed('h2'), pushed('h3')], 'body');
    const hosts = refusal(() => l.admit(alice, [pushed('h1', 'x'), pushed('h4')], 'body'));
    expect(hosts.reason).toBe('too_many_hosts');
    expect(hosts.message).toBe(
      'body: token:alice has pushed for 3 hosts within the last hour; at most 3 (ingest.push.max_hosts_per_sender), so new hosts are refused',
    );
    // Nothing of the refused batch counted: h1's series "x" is still new.
    for (let i = 0; i < 7; i++) l.admit(alice, [pushed('h1', 's', { i: String(i) })], 'line');
    const series = refusal(() => l.admit(alice, [pushed('h1', 'x')], 'line 9'));
    expect(series.reason).toBe('too_many_series');
    expect(series.message).toMatch(/^line 9: token:alice has pushed 10 series within the last hour; at most 10 /);
    // Known series go on; another sender has a budget of its own.
    l.admit(alice, [pushed('h1', 's', { i: '0' }), pushed('h2')], 'line');
    l.admit(bob, [pushed('b1'), pushed('b2'), pushed('b3')], 'line');
    // An hour later, what alice has not pushed since is forgotten.
    now = 3_600_001;
    l.admit(alice, [pushed('h4', 'x')], 'line');
  });

  it('limits samples per second per sender with a burst, and says when to retry', () => {
    let now = 0;
    const l = new PushLimits(CAPS, { now: () => now });
    const many = (n: number) => Array.from({ length: n }, () => pushed('h1'));
    l.admit(alice, many(50), 'body');
    const over = refusal(() => l.admit(alice, many(10), 'body'));
    expect(over.reason).toBe('rate_limited');
    expect(over.retryAfterMs).toBe(100);
    expect(over.message).toBe('body: token:alice is over 100 samples per second (ingest.push.samples_per_second); retry in 1 s');
    l.admit(bob, many(50), 'body');
    now = 100;
    l.admit(alice, many(10), 'body');
    const huge = refusal(() => l.admit(alice, many(51), 'body'));
    expect(huge.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    expect(huge.message).toBe('body: 51 samples at once; at most 50 (ingest.push.burst)');
  });
});
