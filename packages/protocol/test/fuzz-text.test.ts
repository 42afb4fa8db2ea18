/**
 * Fuzz (issue 24): the text decoders of @falconet/protocol — Open-Falcon records and the Prometheus
 * exposition format — on arbitrary input and on input written from a model.
 */
import { fromOpenFalcon, OpenFalconError, type Sample, toOpenFalcon } from '@falconet/protocol';
import { ExpositionParseError, type MetricFamily, parseExposition, renderExposition } from '@falconet/protocol/exposition';
import { describe, expect, it } from 'vitest';
import { anyText, fc, fuzz, fuzzTimeout, OBJECT_KEYS, tokenText } from '../../../testing/fuzz.ts';

const NOW = 1_750_000_000_000;

/** Any JSON value, objects with the keys of an Open-Falcon record among random ones. */
const recordKeys = ['metric', 'endpoint', 'tags', 'tag', 'value', 'timestamp', 'step', 'counterType', ...OBJECT_KEYS];
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    anyText(30),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...recordKeys), fc.string({ maxLength: 6 })), tie('value'), { maxKeys: 6 }),
  ),
})).value;

const promName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,20}$/);
const labelName = fc.oneof(
  fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,12}$/).filter((n) => !n.startsWith('__')),
  fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf'),
);

/** Records that pass most checks, so the later ones (tags, timestamp, step) are reached too. */
const nearRecord = fc.record(
  {
    metric: fc.oneof(fc.constantFrom('cpu.idle', 'df.bytes.free', ' ', '_'), jsonish),
    endpoint: fc.oneof(fc.constantFrom('host-1', 'web.example', 'a b', ''), jsonish),
    tags: fc.oneof(
      tokenText(['k', 'v', '=', ',', ' ', '.', '-', '__x', 'host', 'é'], 12),
      fc.array(anyText(8), { maxLength: 3 }),
      fc.dictionary(fc.oneof(anyText(6), fc.constantFrom(...OBJECT_KEYS)), fc.oneof(anyText(6), fc.integer(), jsonish), { maxKeys: 3 }),
      jsonish,
    ),
    value: fc.oneof(fc.double(), fc.constantFrom('1.5', ' ', '0x10', 'NaN'), jsonish),
    timestamp: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(1_700_000_000, 1_700_000_000_000, '1700000000'), jsonish),
    step: fc.oneof(fc.integer({ min: -5, max: 120 }), fc.double(), jsonish),
    counterType: fc.oneof(fc.constantFrom('GAUGE', 'counter', 'derive', 'other'), jsonish),
  },
  { requiredKeys: ['metric', 'endpoint', 'value'] },
);

describe('fuzz: Open-Falcon records', () => {
  it(
    'throw only OpenFalconError, naming a field the record has or should have, on any JSON value',
    () =>
      fuzz(
        'openfalcon arbitrary json',
        fc.property(fc.oneof(jsonish, nearRecord), (input) => {
          try {
            const { host, sample } = fromOpenFalcon(input, NOW);
            expect(sample.labels.host).toBe(host);
            expect(Number.isFinite(sample.value)).toBe(true);
            expect(Number.isFinite(sample.timestampMs)).toBe(true);
            for (const k of Object.keys(sample.labels)) expect(k).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]*$/);
          } catch (err) {
            expect(err).toBeInstanceOf(OpenFalconError);
            const e = err as OpenFalconError;
            expect(e.message.startsWith(e.field === 'record' ? 'expected' : `${e.field}`)).toBe(true);
          }
        }),
        10,
      ),
    fuzzTimeout(2, 10),
  );

  it(
    'read back what the agent writes with --transfer',
    () =>
      fuzz(
        'openfalcon round trip',
        fc.property(
          promName,
          fc.dictionary(labelName, fc.stringMatching(/^[^,=\s]{1,12}$/), { maxKeys: 4, noNullPrototype: true }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.integer({ min: 1, max: 4_000_000_000 }),
          fc.stringMatching(/^[a-z0-9.-]{1,30}$/),
          (name, labels, value, seconds, endpoint) => {
            delete labels.host;
            const sample: Sample = { name, labels, value, timestampMs: seconds * 1000 };
            const line = JSON.stringify(toOpenFalcon(sample, endpoint, 10));
            const back = fromOpenFalcon(JSON.parse(line), NOW);
            expect(back.host).toBe(endpoint);
            expect(back.sample).toEqual({ ...sample, value: value === 0 ? 0 : value, labels: { ...labels, host: endpoint } });
          },
        ),
      ),
    fuzzTimeout(),
  );
});

const EXPOSITION_TOKENS = [
  '# HELP ',
  '# TYPE ',
  '# ',
  'counter',
  'gauge',
  'histogram',
  'summary',
  'untyped',
  'metric_a',
  'metric_a_bucket',
  'metric_a_sum',
  'metric_a_count',
  'le',
  'quantile',
  'constructor',
  '__proto__',
  '{',
  '}',
  '=',
  '"',
  ',',
  '\\',
  '\\n',
  '\\"',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '1',
  '-2.5e3',
  'NaN',
  '+Inf',
  '-Inf',
  '1700000000000',
];

/** Families as the agent's collectors build them: unique names, gauges and counters, any label values. */
const families = fc.uniqueArray(
  fc.record({
    name: promName,
    help: fc.string({ maxLength: 30, unit: 'grapheme' }),
    type: fc.constantFrom('counter' as const, 'gauge' as const, 'untyped' as const),
    metrics: fc.array(
      fc.record({
        labels: fc.dictionary(fc.oneof(labelName, fc.constant('__proto__')), fc.string({ maxLength: 20, unit: 'grapheme' }), {
          maxKeys: 4,
          noNullPrototype: true,
        }),
        value: fc.oneof(fc.double(), fc.integer()),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  }),
  { selector: (f) => f.name, maxLength: 6 },
);

describe('fuzz: exposition parser', () => {
  it(
    'throws only ExpositionParseError, naming a line that exists, on arbitrary text',
    () =>
      fuzz(
        'exposition arbitrary text',
        fc.property(fc.oneof(anyText(300), tokenText(EXPOSITION_TOKENS, 40)), (text) => {
          try {
            parseExposition(text);
          } catch (err) {
            expect(err).toBeInstanceOf(ExpositionParseError);
            const e = err as ExpositionParseError;
            expect(e.line).toBeGreaterThanOrEqual(1);
            expect(e.line).toBeLessThanOrEqual(text.split('\n').length);
            expect(e.message).toMatch(/^line \d+: ./);
          }
        }),
        10,
      ),
    fuzzTimeout(2, 10),
  );

  it(
    'reads back what renderExposition writes',
    () =>
      fuzz(
        'exposition round trip',
        fc.property(families, (list: MetricFamily[]) => {
          const parsed = parseExposition(renderExposition(list));
          const want = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
          expect(parsed.hasTimestamps).toBe(false);
          expect(parsed.families.map((f) => f.name)).toEqual(want.map((f) => f.name));
          for (const [i, f] of parsed.families.entries()) {
            const w = want[i] as MetricFamily;
            // Blanks between the name and the text separate them, in Prometheus' own parser too: leading ones do not come back.
            expect(f.help).toBe(w.help.replace(/^[ \t]+/, ''));
            expect(f.type).toBe(w.type);
            expect(f.metrics.map((m) => Object.entries(m.labels))).toEqual(w.metrics.map((m) => Object.entries(m.labels)));
            // -0 is written as 0, as Prometheus' Go library (and node_exporter) write it.
            expect(f.metrics.every((m, j) => Object.is(m.value, w.metrics[j]?.value === 0 ? 0 : w.metrics[j]?.value))).toBe(true);
          }
        }),
      ),
    fuzzTimeout(),
  );
});

// Counterexamples the fuzzing found, kept as plain tests.
describe('fuzz regressions: protocol text decoders', () => {
  it('refuses an Open-Falcon tag without a name instead of storing a label named ""', () => {
    const record = { metric: 'cpu.idle', endpoint: 'host-1', tags: { '': 0 }, value: 0 };
    expect(() => fromOpenFalcon(record, NOW)).toThrow(/^tags: a tag without a name$/);
  });

  it('keeps a HELP text holding U+2028 or a carriage return (the line was taken for a comment)', () => {
    for (const help of ['\u2028', 'a\rb', 'x\u2029y']) {
      const text = renderExposition([{ name: 'with_odd_help', help, type: 'gauge', metrics: [{ labels: {}, value: 1 }] }]);
      expect(parseExposition(text).families[0]?.help).toBe(help);
    }
  });

  it('takes exposition labels named like Object.prototype members, and __proto__', () => {
    const { families } = parseExposition('m{constructor="a",toString="b",__proto__="c"} 1\n');
    expect(Object.entries(families[0]?.metrics[0]?.labels ?? {})).toEqual([
      ['constructor', 'a'],
      ['toString', 'b'],
      ['__proto__', 'c'],
    ]);
  });
});
