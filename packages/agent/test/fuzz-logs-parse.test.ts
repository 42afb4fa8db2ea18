/**
 * Fuzz (issue 24): the agent's log line parsers (JSON, logfmt, regex, syslog 3164/5424, nginx and
 * apache presets), the multi-line joiner, and the agent's config file. A parser never throws: a line
 * it cannot read is kept whole with fields.parse_error. Seeds and replays: testing/fuzz.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel } from '@falconet/protocol';
import { ConfigError, loadConfig } from '@falconet/protocol/config';
import { describe, expect, it } from 'vitest';
import { anyText, fc, fuzz, fuzzTimeout, OBJECT_KEYS, tokenText } from '../../../testing/fuzz.ts';
import { tempDir } from '../../../testing/processes.ts';
import { agentConfigSchema } from '../src/config.ts';
import type { ParserConfig } from '../src/logs/config.ts';
import { type Chunk, Multiline } from '../src/logs/multiline.ts';
import { levelOf, makeParser, type Parsed, parseLogfmt } from '../src/logs/parse.ts';

const NOW = 1_750_000_000_000;
const LEVELS = new Set<number>(Object.values(LogLevel).filter((v) => typeof v === 'number'));

const parsers: ParserConfig[] = [
  { type: 'none' },
  { type: 'json' },
  { type: 'json', time_field: 'when', level_field: 'sev', message_field: 'text' },
  { type: 'logfmt' },
  { type: 'regex', pattern: '^(?<time>\\S+) (?<level>\\w+) (?<msg>.*)$' },
  { type: 'syslog' },
  { type: 'nginx' },
  { type: 'apache' },
] as ParserConfig[];

const LINE_TOKENS = [
  'level=',
  '{"level":"',
  '"}',
  ...OBJECT_KEYS,
  '{',
  '}',
  '"level":"warn"',
  '"msg":"hi"',
  '"time":1750000000',
  '"ts":"2026-12-06T10:00:00Z"',
  '"nested":{"a":{"b":[1,2]}}',
  '"__proto__":"x"',
  ',',
  ':',
  ' ',
  'level=error',
  'msg="a \\"quoted\\" b"',
  'ts=2026-12-06T10:00:00.123Z',
  'key',
  '=',
  '"',
  '\\',
  '<34>',
  '<999>',
  '1 ',
  '2026-12-06T16:56:36Z',
  '-',
  '[id a="b\\"]"]',
  'Oct 11 22:14:15',
  'Feb 30 99:99:99',
  'host',
  'sshd[123]:',
  '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326',
  '[10/Foo/2000:13:55:36 +9999]',
  ' "http://ref/" "Mozilla/5.0"',
  '503',
  'ERROR',
  'WARN',
  '\uFEFF',
  '中文',
];

function checkParsed(p: Parsed): void {
  expect(typeof p.message).toBe('string');
  expect(LEVELS.has(p.level)).toBe(true);
  if (p.timeMs !== undefined) expect(Number.isFinite(p.timeMs)).toBe(true);
  for (const [k, v] of Object.entries(p.fields)) {
    expect(typeof k).toBe('string');
    expect(typeof v).toBe('string');
  }
}

describe('fuzz: agent log parsers', () => {
  const made = parsers.map((cfg) => ({ cfg, parse: makeParser(cfg) }));

  it(
    'every parser returns a record for any line, never throws',
    () =>
      fuzz(
        'log parsers arbitrary line',
        fc.property(fc.oneof(anyText(300), tokenText(LINE_TOKENS, 20)), (line) => {
          for (const { parse } of made) checkParsed(parse(line, NOW));
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'reads any level word as a LogLevel, through every parser that takes one',
    () =>
      fuzz(
        'log level words',
        fc.property(
          fc.oneof(fc.constantFrom(...OBJECT_KEYS, 'warn', 'ERROR', '30', '7', 'notice'), fc.string({ maxLength: 12 })),
          (word) => {
            expect(LEVELS.has(levelOf(word))).toBe(true);
            checkParsed(makeParser({ type: 'logfmt' } as ParserConfig)(`level=${JSON.stringify(word)} msg=m`, NOW));
            checkParsed(makeParser({ type: 'json' } as ParserConfig)(JSON.stringify({ level: word, msg: 'm' }), NOW));
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  const fieldKey = fc.oneof(fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_.-]{0,10}$/), fc.constantFrom(...OBJECT_KEYS));
  const reserved = new Set([
    'time',
    'timestamp',
    'ts',
    '@timestamp',
    't',
    'level',
    'lvl',
    'severity',
    'loglevel',
    'log.level',
    'msg',
    'message',
  ]);
  const fieldMap = fc
    .dictionary(fieldKey, fc.string({ maxLength: 20, unit: 'grapheme' }), { maxKeys: 5, noNullPrototype: true })
    .map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !reserved.has(k))));

  it(
    'logfmt: reads back the fields it is written from',
    () =>
      fuzz(
        'logfmt round trip',
        fc.property(fieldMap, (fields) => {
          const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
          const line = Object.entries(fields)
            .map(([k, v]) => `${k}=${quote(v)}`)
            .join(' ');
          const back = parseLogfmt(line);
          expect(Object.entries(back ?? {})).toEqual(Object.entries(fields));
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );

  it(
    'json: reads back the fields, level and message it is written from',
    () =>
      fuzz(
        'json log round trip',
        fc.property(fieldMap, fc.constantFrom('warn', 'ERROR', '30', 'info'), fc.string({ unit: 'grapheme' }), (fields, level, msg) => {
          const line = JSON.stringify({ ...fields, level, msg });
          const p = makeParser({ type: 'json' } as ParserConfig)(line, NOW);
          expect(p.message).toBe(msg);
          expect(p.level).not.toBe(LogLevel.LOG_LEVEL_UNSPECIFIED);
          expect(Object.entries(p.fields)).toEqual(Object.entries(fields));
        }),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

describe('fuzz: multi-line joiner', () => {
  it(
    'lets every line out once, in order, in events that begin where the start pattern says',
    () =>
      fuzz(
        'multiline',
        fc.property(
          // Lines as a file yields them: without their newline.
          fc.array(
            fc.oneof(
              fc.constantFrom('START x', '  at frame', 'Caused by: y', ''),
              anyText(20).map((t) => t.replace(/\n/g, ' ')),
            ),
            {
              maxLength: 30,
            },
          ),
          fc.integer({ min: 2, max: 6 }),
          fc.boolean(),
          (lines, maxLines, byStart) => {
            const m = new Multiline(
              byStart
                ? { start: '^START', timeout: 1000, max_lines: maxLines }
                : { continuation: '^\\s|^Caused by', timeout: 1000, max_lines: maxLines },
              1 << 20,
            );
            const out: Chunk[] = [];
            let offset = 0;
            for (const text of lines) {
              const end = offset + Buffer.byteLength(text) + 1;
              out.push(...m.push({ text, offset, end }, NOW));
              offset = end;
              if (m.pendingOffset !== undefined) expect(m.pendingOffset).toBeLessThanOrEqual(offset);
            }
            const last = m.flush(NOW, 1000, true);
            if (last) out.push(last);
            expect(out.map((c) => c.text).join('\n')).toBe(lines.join('\n'));
            for (let i = 1; i < out.length; i++) expect((out[i] as Chunk).offset).toBe((out[i - 1] as Chunk).end);
            for (const c of out) expect(c.text.split('\n').length).toBeLessThanOrEqual(maxLines);
          },
        ),
        5,
      ),
    fuzzTimeout(5, 5),
  );
});

const CONFIG_KEYS = [
  'server',
  'url',
  'exporter',
  'listen',
  'logs',
  'sources',
  'parser',
  'type',
  'pattern',
  'multiline',
  'collectors',
  'labels',
  ...OBJECT_KEYS,
];
const yamlTree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(anyText(12), fc.integer(), fc.boolean(), fc.constantFrom('json', 'regex', '(?<x>', '/var/log/*.log', '10s', '127.0.0.1:9101')),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...CONFIG_KEYS), fc.string({ maxLength: 8 })), tie('node'), { maxKeys: 4 }),
  ),
})).node;

describe('fuzz: agent config file', () => {
  const dir = tempDir('falconet-fuzz-agent-config-');
  let n = 0;
  it(
    'throws only ConfigError, each problem naming the file or the configuration',
    () =>
      fuzz(
        'agent config yaml',
        fc.property(
          fc.oneof(
            yamlTree.map((t) => JSON.stringify(t)),
            anyText(200),
            tokenText(
              [
                'server:\n  url: ',
                'logs:\n  sources:\n    - ',
                'parser: {type: regex, pattern: "',
                '&a ',
                '*a',
                ': ',
                '\n',
                '  ',
                '- ',
                '"',
                '[',
                ']',
              ],
              20,
            ),
          ),
          (text) => {
            const file = join(dir, `c${n++}.yaml`);
            writeFileSync(file, text);
            try {
              loadConfig(agentConfigSchema, { file, required: true, env: {} });
            } catch (err) {
              expect(err).toBeInstanceOf(ConfigError);
              for (const p of (err as ConfigError).problems) expect(p.startsWith(file) || p.startsWith('configuration')).toBe(true);
            }
          },
        ),
        2,
      ),
    fuzzTimeout(10, 2),
  );
});

// Counterexamples the fuzzing found, kept as plain tests.
describe('fuzz regressions: agent log parsers', () => {
  it('reads level=constructor or __proto__ as no level (it was a function or an object)', () => {
    for (const word of ['constructor', '__proto__', 'toString']) expect(levelOf(word)).toBe(LogLevel.LOG_LEVEL_UNSPECIFIED);
    const p = makeParser({ type: 'logfmt' } as ParserConfig)('level=constructor msg=hi', NOW);
    expect(p.level).toBe(LogLevel.LOG_LEVEL_UNSPECIFIED);
    expect(p.fields).toEqual({ level: 'constructor' });
  });

  it('keeps a logfmt or JSON field named __proto__ (the assignment set the prototype and the field was lost)', () => {
    expect(Object.entries(parseLogfmt('__proto__="" a=1') ?? {})).toEqual([
      ['__proto__', ''],
      ['a', '1'],
    ]);
    const p = makeParser({ type: 'json' } as ParserConfig)('{"__proto__":"x","msg":"m"}', NOW);
    expect(Object.entries(p.fields)).toEqual([['__proto__', 'x']]);
  });
});
