/**
 * Fuzz (issue 24): the server's decoders of outside input, called directly — remote_write (snappy
 * and both protobuf versions), the syslog receiver's parser, the log query language, the PromQL
 * parser and the server's config file. The same decoders behind their HTTP routes are in
 * fuzz-http.test.ts. Seeds and replays: testing/fuzz.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@falconet/protocol/config';
import { describe, expect, it } from 'vitest';
import { anyText, fc, fuzz, fuzzTimeout, OBJECT_KEYS, tokenText } from '../../../testing/fuzz.ts';
import { tempDir } from '../../../testing/processes.ts';
import { serverConfigSchema } from '../src/config.ts';
import { PushError } from '../src/ingest/push.ts';
import { parseQuery, QueryError } from '../src/logs/query.ts';
import { parseSyslog, SyslogParseError } from '../src/logs/syslog.ts';
import { PromQLParseError, parsePromQL } from '../src/promql/parser.ts';
import { remoteSamples } from '../src/remote-write/routes.ts';
import { SnappyError, snappyDecode } from '../src/remote-write/snappy.ts';
import { decodeWriteRequest, decodeWriteRequestV2, WriteRequestError } from '../src/remote-write/write-request.ts';
import { modelSeries, PROMQL_TOKENS, snappyEncode, writeRequestV1, writeRequestV2 } from './support/fuzz-inputs.ts';

/** Runs `f`; anything thrown must be an instance of `type`. */
function onlyThrows(type: new (...args: never[]) => Error, f: () => unknown): Error | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as Error;
  }
}

const plain = (series: ReturnType<typeof decodeWriteRequest>) =>
  series.map((s) => ({ labels: s.labels, samples: s.samples.map((p) => ({ value: p.value, timestampMs: p.timestampMs })) }));

describe('fuzz: remote_write decoding', () => {
  it(
    'snappy: decodes what a sender encodes, and throws only SnappyError on arbitrary or damaged bytes',
    () =>
      fuzz(
        'snappy',
        fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.integer({ min: 1, max: 80 })), fc.nat(), (data, cuts, flip) => {
          const block = snappyEncode(data, cuts);
          expect(Buffer.from(snappyDecode(block, 1 << 20)).equals(Buffer.from(data))).toBe(true);
          onlyThrows(SnappyError, () => snappyDecode(data, 1 << 20));
          const bad = Uint8Array.from(block);
          bad[flip % bad.length] = (bad[flip % bad.length] as number) ^ (1 + (flip % 255));
          onlyThrows(SnappyError, () => snappyDecode(bad, 1 << 20));
          onlyThrows(SnappyError, () => snappyDecode(block.subarray(0, flip % block.length), 1 << 20));
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'WriteRequest 1.0 and 2.0: decode to the model they were written from',
    () =>
      fuzz(
        'remote_write round trip',
        fc.property(modelSeries, (series) => {
          expect(plain(decodeWriteRequest(writeRequestV1(series)))).toEqual(series);
          expect(plain(decodeWriteRequestV2(writeRequestV2(series)))).toEqual(series);
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'WriteRequest 1.0 and 2.0: throw only WriteRequestError, naming the field, on arbitrary or damaged bytes',
    () =>
      fuzz(
        'remote_write arbitrary bytes',
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc
              .tuple(modelSeries, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
              .map(([series, edits]) => {
                const b = writeRequestV1(series);
                const out = Uint8Array.from(b.length ? b : [0]);
                for (const [at, v] of edits) out[at % out.length] = v;
                return out;
              }),
          ),
          (bytes) => {
            for (const decode of [decodeWriteRequest, decodeWriteRequestV2]) {
              let series: ReturnType<typeof decodeWriteRequest> = [];
              const err = onlyThrows(WriteRequestError, () => {
                series = decode(bytes);
              });
              if (err) expect(err.message).toMatch(/^(WriteRequest|Request|timeseries\[\d+\]|symbols\[\d+\]|metadata\[\d+\])/);
              // What decodes must turn into samples or a PushError naming the series.
              const pushErr = onlyThrows(PushError, () => remoteSamples(series, 'sender', 1_750_000_000_000, 600_000));
              if (pushErr) expect(pushErr.message).toMatch(/^timeseries\[\d+\]/);
            }
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'remoteSamples: takes every valid label name, Object.prototype members among them',
    () =>
      fuzz(
        'remote_write label names',
        fc.property(
          fc.uniqueArray(fc.oneof(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,10}$/), fc.constantFrom(...OBJECT_KEYS)), { maxLength: 5 }),
          (names) => {
            const valid = names.filter((n) => !n.startsWith('__'));
            const labels = [{ name: '__name__', value: 'up' }, ...valid.map((name) => ({ name, value: 'v' }))];
            const [p] = remoteSamples(
              [{ labels, samples: [{ value: 1, timestampMs: 1, stale: false }], histograms: 0, exemplars: 0 }],
              's',
              2,
              1000,
            );
            expect(Object.keys(p?.sample.labels ?? {}).sort()).toEqual([...valid].sort());
          },
        ),
        5,
      ),
    fuzzTimeout(),
  );
});

// --- syslog receiver ---

const SYSLOG_TOKENS = [
  '<13>',
  '<34>',
  '<191>',
  '<192>',
  '<999>',
  '<',
  '>',
  '1 ',
  '2026-12-06T16:56:36.123Z',
  '2026-13-45T99:99:99Z',
  '-',
  ' ',
  'host',
  'app',
  '[id a="b"]',
  '[',
  ']',
  '"',
  '\\',
  '=',
  '\uFEFF',
  'Dec  6 16:56:36',
  'Feb 30 25:61:61',
  'app[123]:',
  ':',
  'message text',
];

describe('fuzz: syslog receiver parser', () => {
  it(
    'throws only SyslogParseError, and returns a message with its numbers in range',
    () =>
      fuzz(
        'syslog parse',
        fc.property(fc.oneof(anyText(200), tokenText(SYSLOG_TOKENS, 20)), (text) => {
          let m: ReturnType<typeof parseSyslog> | undefined;
          const err = onlyThrows(SyslogParseError, () => {
            m = parseSyslog(text, 1_750_000_000_000);
          });
          if (err) expect(err.message.length).toBeGreaterThan(5);
          if (m) {
            expect(m.facility).toBeGreaterThanOrEqual(0);
            expect(m.facility).toBeLessThanOrEqual(23);
            expect(m.severity).toBeLessThanOrEqual(7);
            expect(Number.isFinite(m.timeMs)).toBe(true);
          }
        }),
        10,
      ),
    fuzzTimeout(2, 10),
  );
});

/** RFC 5424 header fields: printable US-ASCII without spaces (or "-", the nil value). */
const printable = (max: number) => fc.stringMatching(new RegExp(`^[!-~]{1,${max}}$`)).filter((v) => v !== '-');
/** SD-NAME: printable US-ASCII except '=', ' ', ']' and '"'. */
const sdName = fc.stringMatching(/^[!#-<>-\\^-~]{1,12}$/);

describe('fuzz: syslog receiver reads RFC 5424 written from a model', () => {
  it(
    'gives back header fields, structured data (escapes included) and message',
    () =>
      fuzz(
        'syslog 5424 round trip',
        fc.property(
          fc.integer({ min: 0, max: 191 }),
          fc.integer({ min: 1_000_000_000_000, max: 2_000_000_000_000 }),
          fc.tuple(printable(20), printable(20), printable(10), printable(10)),
          fc.uniqueArray(
            fc.record({
              id: sdName,
              params: fc.uniqueArray(fc.tuple(sdName, fc.string({ maxLength: 12 })), { selector: (p) => p[0], maxLength: 3 }),
            }),
            { selector: (e) => e.id, maxLength: 3 },
          ),
          fc.string({ maxLength: 40, unit: 'grapheme' }),
          (pri, timeMs, [host, app, procId, msgId], sd, message) => {
            const esc = (v: string) => v.replace(/[\\"\]]/g, (c) => `\\${c}`);
            const sdText = sd.length ? sd.map((e) => `[${e.id}${e.params.map(([n, v]) => ` ${n}="${esc(v)}"`).join('')}]`).join('') : '-';
            const text = `<${pri}>1 ${new Date(timeMs).toISOString()} ${host} ${app} ${procId} ${msgId} ${sdText} ${message}`;
            const m = parseSyslog(text, 0);
            expect(m).toMatchObject({
              facility: pri >> 3,
              severity: pri & 7,
              timeMs,
              hostname: host,
              app,
              procId,
              msgId,
              format: 'rfc5424',
            });
            expect(m.message).toBe(message.replace(/^\uFEFF/, ''));
            const want: Record<string, string> = {};
            for (const e of sd) for (const [n, v] of e.params) want[`sd.${e.id}.${n}`] = v;
            expect(m.structured).toEqual(want);
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

// --- log query language ---

const LOG_QUERY_TOKENS = [
  'timeout',
  ' ',
  '"connection reset"',
  '"',
  'host:',
  'web-1',
  'level>=warn',
  'level<',
  'level=bogus',
  '/5\\d\\d/',
  '/(a+)+/',
  '/[/',
  '/x/i',
  '/',
  '-debug',
  '-',
  'NOT ',
  'AND ',
  'OR ',
  '(',
  ')',
  'source:cron',
  'field:"a b"',
  '\\',
  '*',
  '中文',
];

describe('fuzz: log query language', () => {
  it(
    'throws only QueryError, at a position inside the query',
    () =>
      fuzz(
        'log query parse',
        fc.property(fc.oneof(anyText(100), tokenText(LOG_QUERY_TOKENS, 16)), (q) => {
          const err = onlyThrows(QueryError, () => parseQuery(q));
          if (err) {
            const pos = (err as QueryError).position;
            expect(pos).toBeGreaterThanOrEqual(1);
            expect(pos).toBeLessThanOrEqual(q.length + 1);
            expect(err.message).toMatch(/^position \d+: ./);
          }
        }),
        10,
      ),
    fuzzTimeout(2, 10),
  );
});

describe('fuzz: log query levels', () => {
  it(
    'level:WORD is a level number or a QueryError naming the word',
    () =>
      fuzz(
        'log query level words',
        fc.property(
          fc.oneof(fc.constantFrom(...OBJECT_KEYS, 'warn', 'ERROR', 'none'), fc.stringMatching(/^[a-zA-Z_]{1,10}$/)),
          fc.constantFrom(':', '>=', '<'),
          (word, op) => {
            const err = onlyThrows(QueryError, () => {
              const node = parseQuery(`level${op}${word}`);
              expect(node.k === 'field' && typeof node.level === 'number').toBe(true);
            });
            if (err) expect(err.message).toContain(`unknown level "${word}"`);
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

// --- PromQL parser (evaluation is behind the HTTP route, fuzz-http.test.ts) ---

describe('fuzz: PromQL parser', () => {
  it(
    'throws only PromQLParseError on arbitrary text',
    () =>
      fuzz(
        'promql parse',
        fc.property(fc.oneof(anyText(100), tokenText(PROMQL_TOKENS, 14)), (q) => {
          const err = onlyThrows(PromQLParseError, () => parsePromQL(q));
          if (err) expect(err.message.length).toBeGreaterThan(5);
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

// --- the server's config file ---

const CONFIG_KEYS = [
  'listen',
  'grpc_listen',
  'data_dir',
  'database',
  'url',
  'log',
  'level',
  'auth',
  'logs',
  'syslog',
  'retention',
  ...OBJECT_KEYS,
];
const yamlScalar = fc.oneof(
  anyText(12),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constantFrom('1h', '10MB', '127.0.0.1:7070', '~', 'null'),
);
const yamlTree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    yamlScalar,
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...CONFIG_KEYS), fc.string({ maxLength: 8 })), tie('node'), { maxKeys: 4 }),
  ),
})).node;
const YAML_TOKENS = [
  'listen: ',
  'database:\n  url: ',
  '  ',
  '- ',
  ': ',
  '\n',
  '&a ',
  '*a',
  '<<: ',
  '{',
  '}',
  '[',
  ']',
  '"',
  "'",
  '#',
  '!!binary ',
  '!!js/function ',
  '? ',
  '|',
  '>',
];

describe('fuzz: server config file', () => {
  const dir = tempDir('falconet-fuzz-config-');
  let n = 0;
  it(
    'throws only ConfigError, each problem naming the file, a variable or the configuration',
    () =>
      fuzz(
        'server config yaml',
        fc.property(
          fc.oneof(
            yamlTree.map((t) => JSON.stringify(t)),
            anyText(200),
            tokenText(YAML_TOKENS, 25),
          ),
          (text) => {
            const file = join(dir, `c${n++}.yaml`);
            writeFileSync(file, text);
            const err = onlyThrows(ConfigError, () => loadConfig(serverConfigSchema, { file, required: true, env: {} }));
            if (err) for (const p of (err as ConfigError).problems) expect(p).toMatch(new RegExp(`^(${file}|configuration)`));
          },
        ),
        2,
      ),
    fuzzTimeout(10, 2),
  );
});

// Counterexamples the fuzzing found, kept as plain tests.
describe('fuzz regressions: server decoders', () => {
  it('refuses level:__proto__ and level>=constructor as unknown levels (they matched Object.prototype members)', () => {
    expect(() => parseQuery('level:__proto__')).toThrow(/^position 1: unknown level "__proto__"/);
    expect(() => parseQuery('level>=constructor')).toThrow(/unknown level "constructor"/);
  });

  it('remote_write takes a label named valueOf or constructor (it was refused as appearing twice)', () => {
    const labels = ['__name__', 'valueOf', 'constructor'].map((name) => ({ name, value: name === '__name__' ? 'up' : 'v' }));
    const [p] = remoteSamples(
      [{ labels, samples: [{ value: 1, timestampMs: 1, stale: false }], histograms: 0, exemplars: 0 }],
      's',
      2,
      1000,
    );
    expect(p?.sample.labels).toEqual({ valueOf: 'v', constructor: 'v' });
  });

  it('a config file with an alias of no anchor, or an alias bomb, is a ConfigError naming the line (it was a ReferenceError)', () => {
    const dir = tempDir('falconet-fuzz-config-');
    const file = join(dir, 'alias.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:7070\ndata_dir: *a\n');
    expect(() => loadConfig(serverConfigSchema, { file, env: {} })).toThrow(
      new ConfigError([`${file}:2:11: invalid YAML: Unresolved alias (the anchor must be set before the alias): a`]),
    );
    const bomb = ['a: &a [1, 2]', ...'bcdef'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdef'[i]}`).join(', ')}]`)];
    writeFileSync(file, `${bomb.join('\n')}\n`);
    expect(() => loadConfig(serverConfigSchema, { file, env: {} })).toThrow(/alias\.yaml:\d+:\d+: invalid YAML: Excessive alias count/);
  });
});
