import { LogLevel } from '@falconet/protocol';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../src/config.ts';
import { type LogSourceConfig, logsSchema } from '../src/logs/config.ts';
import { RateLimiter, Redactor } from '../src/logs/limits.ts';
import { type Chunk, Multiline } from '../src/logs/multiline.ts';
import { levelOf, makeParser, parseLogfmt, parseSyslog, parseTime } from '../src/logs/parse.ts';
import { SourceRuntime } from '../src/logs/source.ts';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);
const parser = (cfg: Record<string, unknown>) =>
  makeParser((logsSchema.parse({ sources: [{ name: 's', include: ['/x'], parser: cfg }] }).sources[0] as LogSourceConfig).parser);

describe('log parsers', () => {
  it('json: time, level and message taken out, nested keys flattened, the rest fields', () => {
    const p = parser({ type: 'json' })(
      '{"ts":"2026-12-06T11:59:58.5Z","level":"warn","msg":"disk low","disk":{"dev":"sda","free":3},"unit":"x.service"}',
      NOW,
    );
    expect(p).toEqual({
      message: 'disk low',
      timeMs: Date.UTC(2026, 11, 6, 11, 59, 58, 500),
      level: LogLevel.LOG_LEVEL_WARN,
      fields: { 'disk.dev': 'sda', 'disk.free': '3', unit: 'x.service' },
    });
    expect(parser({ type: 'json' })('{"time":1765022400123,"level":50,"message":"boom"}', NOW)).toMatchObject({
      timeMs: 1765022400123,
      level: LogLevel.LOG_LEVEL_ERROR,
      message: 'boom',
    });
    // Not JSON, or JSON that is not an object: kept whole and marked.
    expect(parser({ type: 'json' })('plain ERROR text', NOW)).toEqual({
      message: 'plain ERROR text',
      level: LogLevel.LOG_LEVEL_ERROR,
      fields: { parse_error: 'json' },
    });
    expect(parser({ type: 'json' })('[1,2]', NOW).fields.parse_error).toBe('json');
  });

  it('logfmt: bare, quoted and escaped values; bare keys; an unterminated quote is not logfmt', () => {
    expect(parseLogfmt('a=1 b="two words" c="say \\"hi\\"" flag d=')).toEqual({
      a: '1',
      b: 'two words',
      c: 'say "hi"',
      flag: 'true',
      d: '',
    });
    expect(parseLogfmt('x="open')).toBeUndefined();
    const p = parser({ type: 'logfmt' })('time=2026-12-06T12:00:00Z level=error msg="no route" host=db1', NOW);
    expect(p).toEqual({ message: 'no route', timeMs: NOW, level: LogLevel.LOG_LEVEL_ERROR, fields: { host: 'db1' } });
  });

  it('regex: named groups become fields, time/level/message taken as such; a non-matching line is marked', () => {
    const p = parser({ type: 'regex', pattern: '^(?<time>\\S+) \\[(?<level>\\w+)\\] (?<component>\\w+): (?<message>.*)$' });
    expect(p('2026-12-06T12:00:00Z [CRITICAL] db: gone', NOW)).toEqual({
      message: 'gone',
      timeMs: NOW,
      level: LogLevel.LOG_LEVEL_FATAL,
      fields: { component: 'db' },
    });
    expect(p('nothing like it', NOW).fields).toEqual({ parse_error: 'regex' });
  });

  it('syslog RFC 5424 with structured data, and RFC 3164 with and without PRI', () => {
    const p = parseSyslog(
      '<165>1 2026-12-06T12:00:00.000Z web1 nginx 2041 ID47 [exampleSDID@32473 iut="3" eventSource="App\\"lication"] \uFEFFAn application event',
      NOW,
    );
    expect(p).toEqual({
      message: 'An application event',
      timeMs: NOW,
      level: LogLevel.LOG_LEVEL_INFO,
      fields: {
        facility: 'local4',
        severity: '5',
        hostname: 'web1',
        app: 'nginx',
        pid: '2041',
        msgid: 'ID47',
        'exampleSDID@32473.iut': '3',
        'exampleSDID@32473.eventSource': 'App"lication',
      },
    });
    const b = parseSyslog('<11>Dec  6 11:59:00 db1 postgres[77]: could not write', NOW);
    expect(b?.fields).toEqual({ facility: 'user', severity: '3', hostname: 'db1', app: 'postgres', pid: '77' });
    expect(b?.level).toBe(LogLevel.LOG_LEVEL_ERROR);
    expect(b?.message).toBe('could not write');
    expect(new Date(b?.timeMs as number).getMinutes()).toBe(59);
    // As rsyslog writes its files: no PRI, level from the text.
    const c = parseSyslog('Dec  6 11:59:00 host kernel: WARNING: CPU: 3 PID: 1', NOW);
    expect(c?.fields.app).toBe('kernel');
    expect(c?.level).toBe(LogLevel.LOG_LEVEL_WARN);
    expect(parseSyslog('<999>garbage', NOW)).toBeUndefined();
    expect(parseSyslog('not syslog at all', NOW)).toBeUndefined();
  });

  it('syslog severities map 0-2 fatal, 3 error, 4 warn, 5-6 info, 7 debug', () => {
    const levels = [0, 1, 2, 3, 4, 5, 6, 7].map((sev) => parseSyslog(`<${8 + sev}>Dec  6 11:59:00 h app: m`, NOW)?.level);
    const L = LogLevel;
    expect(levels).toEqual([
      L.LOG_LEVEL_FATAL,
      L.LOG_LEVEL_FATAL,
      L.LOG_LEVEL_FATAL,
      L.LOG_LEVEL_ERROR,
      L.LOG_LEVEL_WARN,
      L.LOG_LEVEL_INFO,
      L.LOG_LEVEL_INFO,
      L.LOG_LEVEL_DEBUG,
    ]);
  });

  it('nginx/apache combined: request split, status as level, time with its zone', () => {
    const line = '203.0.113.9 - alice [06/Dec/2026:13:00:00 +0100] "GET /api/x?q=1 HTTP/1.1" 502 173 "https://ref/" "curl/8.5 \\"x\\""';
    const p = parser({ type: 'nginx' })(line, NOW);
    expect(p).toEqual({
      message: line,
      timeMs: NOW,
      level: LogLevel.LOG_LEVEL_ERROR,
      fields: {
        remote_addr: '203.0.113.9',
        user: 'alice',
        status: '502',
        bytes: '173',
        method: 'GET',
        path: '/api/x?q=1',
        protocol: 'HTTP/1.1',
        referer: 'https://ref/',
        user_agent: 'curl/8.5 \\"x\\"',
      },
    });
    expect(parser({ type: 'apache' })('::1 - - [06/Dec/2026:12:00:00 +0000] "GET / HTTP/1.0" 404 -', NOW)).toMatchObject({
      level: LogLevel.LOG_LEVEL_WARN,
      fields: { status: '404', path: '/' },
    });
    expect(parser({ type: 'nginx' })('garbage', NOW).fields).toEqual({ parse_error: 'nginx' });
  });

  it('levels from words and numbers; times from the common forms; nonsense is neither', () => {
    expect(['ERROR', 'Warning', 'warn', 'INFO', 'debug', 'TRACE', 'fatal', 'CRITICAL', 'panic', '3', '60'].map(levelOf)).toEqual([
      LogLevel.LOG_LEVEL_ERROR,
      LogLevel.LOG_LEVEL_WARN,
      LogLevel.LOG_LEVEL_WARN,
      LogLevel.LOG_LEVEL_INFO,
      LogLevel.LOG_LEVEL_DEBUG,
      LogLevel.LOG_LEVEL_TRACE,
      LogLevel.LOG_LEVEL_FATAL,
      LogLevel.LOG_LEVEL_FATAL,
      LogLevel.LOG_LEVEL_FATAL,
      LogLevel.LOG_LEVEL_ERROR,
      LogLevel.LOG_LEVEL_FATAL,
    ]);
    expect(levelOf('loud')).toBe(LogLevel.LOG_LEVEL_UNSPECIFIED);
    expect(parseTime('1765022400', NOW)).toBe(1765022400000);
    expect(parseTime('1765022400.25', NOW)).toBe(1765022400250);
    expect(parseTime('2026-12-06 12:00:00Z', NOW)).toBe(NOW);
    expect(parseTime('yesterday', NOW)).toBeUndefined();
    // An unreadable time stays as a field instead of vanishing.
    expect(parser({ type: 'logfmt' })('time=later level=shouty msg=x', NOW).fields).toEqual({ time: 'later', level: 'shouty' });
  });
});

describe('multiline', () => {
  const line = (text: string, offset: number): Chunk => ({ text, offset, end: offset + text.length + 1 });

  it('start pattern: an event runs until the next start line; the pending event holds the read position', () => {
    const m = new Multiline({ start: '^\\d{4}-', timeout: 1000, max_lines: 500 }, 65536);
    const out: Chunk[] = [];
    let off = 0;
    for (const t of ['2026-01 boom', 'Traceback:', '  at f()', '2026-02 next', 'tail']) {
      out.push(...m.push(line(t, off), 0));
      off += t.length + 1;
    }
    expect(out.map((c) => c.text)).toEqual(['2026-01 boom\nTraceback:\n  at f()']);
    expect(out[0]).toMatchObject({ offset: 0, end: 'x'.repeat(13 + 11 + 9).length });
    expect(m.pendingOffset).toBe(33);
    expect(m.flush(500, 1000)).toBeUndefined();
    expect(m.flush(1000, 1000)?.text).toBe('2026-02 next\ntail');
    expect(m.pendingOffset).toBeUndefined();
  });

  it('continuation pattern and max_lines', () => {
    const m = new Multiline({ continuation: '^\\s', timeout: 1000, max_lines: 2 }, 65536);
    const texts = ['Exception', '  at a', '  at b', 'next'].flatMap((t, i) => m.push(line(t, i * 10), 0).map((c) => c.text));
    expect(texts).toEqual(['Exception\n  at a', '  at b']);
  });
});

describe('redaction and rate limit', () => {
  it('redacts before parsing, so no field carries the secret', () => {
    const src = new SourceRuntime(
      logsSchema.parse({
        sources: [
          {
            name: 'app',
            include: ['/x'],
            parser: { type: 'logfmt' },
            labels: ['unit'],
            static_labels: { team: 'db' },
            redact: [{ pattern: 'password=\\S+', replacement: 'password=***' }, { pattern: '\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b' }],
          },
        ],
      }).sources[0] as LogSourceConfig,
      65536,
      0,
    );
    const rec = src.toRecord(
      { text: 'msg=login unit=db.service password=hunter2 card=4111-1111-1111-1111', offset: 7, end: 80 },
      '/var/log/a.log',
      1,
    );
    expect(rec).toMatchObject({
      source: 'app',
      stream: '/var/log/a.log',
      offset: 7,
      message: 'login',
      labels: { team: 'db', unit: 'db.service' },
      fields: { password: '***', card: '[REDACTED]' },
    });
    expect(JSON.stringify(rec)).not.toMatch(/hunter2|4111/);
  });

  it('a token bucket lets the burst through, then the rate; drops are counted', () => {
    const r = new RateLimiter(10, 5, 0);
    let passed = 0;
    for (let i = 0; i < 100; i++) if (r.take(0)) passed++;
    expect(passed).toBe(5);
    for (let t = 100; t <= 1000; t += 100) if (r.take(t)) passed++;
    expect(passed).toBe(15);
    const src = new SourceRuntime(
      logsSchema.parse({ sources: [{ name: 's', include: ['/x'], rate_limit: { lines_per_second: 1, burst: 2 } }] })
        .sources[0] as LogSourceConfig,
      65536,
      0,
    );
    const shipped = [1, 2, 3, 4].filter((i) => src.toRecord({ text: `l${i}`, offset: i, end: i + 1 }, 's', 0)).length;
    expect(shipped).toBe(2);
    expect(src.counters).toMatchObject({ readLines: 4, dropped: { rate_limit: 2 }, droppedUnreported: 2 });
    expect(new Redactor([]).apply('x')).toBe('x');
  });

  it('cuts a message over 64 KiB and marks it', () => {
    const src = new SourceRuntime(logsSchema.parse({ sources: [{ name: 's', include: ['/x'] }] }).sources[0] as LogSourceConfig, 65536, 0);
    const rec = src.toRecord({ text: '\u4e2d'.repeat(30_000), offset: 0, end: 90_001 }, 's', 0);
    expect(Buffer.byteLength(rec?.message ?? '')).toBeLessThanOrEqual(65536);
    expect(rec?.fields.truncated).toBe('true');
  });
});

describe('logs configuration', () => {
  const base = { server: { url: '127.0.0.1:7071' } };
  const problems = (logs: unknown) => {
    const r = agentConfigSchema.safeParse({ ...base, logs });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('takes a full source and fills defaults', () => {
    const c = agentConfigSchema.parse({
      ...base,
      logs: { sources: [{ name: 'nginx', include: ['/var/log/nginx/*.log'], parser: { type: 'nginx' } }] },
    });
    expect(c.logs.batch).toEqual({ max_lines: 5_000, max_bytes: 1024 * 1024, max_wait: 250 });
    expect(c.logs.partial_line_timeout).toBe(5000);
    expect(c.logs.sources[0]).toMatchObject({ start_at: 'beginning', exclude: [], rate_limit: { lines_per_second: 0 } });
    expect(agentConfigSchema.parse(base).logs.sources).toEqual([]);
  });

  it('names what is wrong and where', () => {
    expect(problems({ sources: [{ name: 'a', include: ['relative/*.log'] }] })).toEqual([
      'logs.sources.0.include.0: include patterns are absolute paths',
    ]);
    expect(problems({ sources: [{ name: 'a', include: ['/x'], parser: { type: 'regex', pattern: '(' } }] })[0]).toMatch(
      /^logs\.sources\.0\.parser\.pattern: .*not a valid regular expression/,
    );
    expect(problems({ sources: [{ name: 'a', include: ['/x'], parser: { type: 'regex', pattern: '\\w+' } }] })[0]).toMatch(/named group/);
    expect(
      problems({
        sources: [
          { name: 'a', include: ['/x'] },
          { name: 'a', include: ['/y'] },
        ],
      }),
    ).toEqual(['logs.sources.1.name: source name "a" is used twice']);
    expect(problems({ sources: [{ name: 'a', include: ['/x'], multiline: { timeout: '1s' } }] })[0]).toMatch(/exactly one of multiline/);
    expect(problems({ sources: [{ name: 'a', include: ['/x'], colour: 'red' }] })[0]).toMatch(/colour/);
    expect(problems({ max_line_bytes: '1MiB' })[0]).toMatch(/^logs\.max_line_bytes: must be between/);
  });
});
