import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Labels } from '@falconet/protocol';
import { ConfigError } from '@falconet/protocol/config';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { readRulesFile } from '../src/alerts/catalog.ts';
import { compileMatcher, formatSelector, MAX_REGEX_LENGTH, parseSelector, toMatchers } from '../src/alerts/matchers.ts';
import { Silence } from '../src/alerts/silences.ts';
import { channelSpecSchema, ruleSpecSchema, silenceSpecSchema } from '../src/alerts/spec.ts';
import { compileTemplate, escapeHtml, escapeJsonString, TemplateError } from '../src/alerts/template.ts';
import { linearFit, type NameInterest, PointRing, SeriesWindow, SeriesWindows } from '../src/alerts/windows.ts';

describe('label matchers', () => {
  it('parses PromQL-style selectors and matches anchored regexes', () => {
    const m = parseSelector('{mountpoint="/", fstype!~"tmpfs|overlay", device=~"sd.*" , name!="x\\"y"}');
    expect(m).toEqual([
      { name: 'mountpoint', op: '=', value: '/' },
      { name: 'fstype', op: '!~', value: 'tmpfs|overlay' },
      { name: 'device', op: '=~', value: 'sd.*' },
      { name: 'name', op: '!=', value: 'x"y' },
    ]);
    const [mp, fs, dev] = m.map(compileMatcher);
    expect(mp?.test('/')).toBe(true);
    expect(fs?.test('ext4')).toBe(true);
    expect(fs?.test('tmpfs')).toBe(false);
    // Anchored: "xsda" is not "sd.*".
    expect(dev?.test('xsda')).toBe(false);
    expect(dev?.test(undefined)).toBe(false);
    expect(formatSelector(m)).toBe('{mountpoint="/", fstype!~"tmpfs|overlay", device=~"sd.*", name!="x\\"y"}');
    expect(toMatchers({ env: 'prod' })).toEqual([{ name: 'env', op: '=', value: 'prod' }]);
  });

  it('says what is wrong with a bad selector, and where', () => {
    expect(() => parseSelector('{mountpoint="/"')).toThrow(/missing closing "}"/);
    expect(() => parseSelector('{a=b}')).toThrow(/expected a double-quoted value after a= at character 3/);
    expect(() => parseSelector('{a="b" c="d"}')).toThrow(/expected ","/);
    expect(() => parseSelector('{a=~"("}')).toThrow(/a=~"\(": not a regular expression/);
    expect(() => parseSelector('{9a="b"}')).toThrow(/expected a label name/);
    expect(() => parseSelector('{a<"b"}')).toThrow(/expected =, !=, =~ or !~ after "a"/);
  });

  it('runs regexes on a linear-time engine: patterns that backtrack for ages in JavaScript answer at once', () => {
    // A backtracking engine (JavaScript's RegExp) takes exponentially many steps on this value: the server would hang.
    const value = `${'a'.repeat(40)}!`;
    for (const pattern of ['(a+)+$', '(a|aa)+', '(a*)*b', '(?:a+){2,}$']) {
      expect(compileMatcher({ name: 'host', op: '=~', value: pattern }).test(value), pattern).toBe(false);
      expect(compileMatcher({ name: 'host', op: '!~', value: pattern }).test(value), pattern).toBe(true);
    }
    // Full match, as in PromQL: alternatives and prefixes are anchored too.
    const alt = compileMatcher({ name: 'fstype', op: '=~', value: 'tmpfs|overlay' });
    expect([alt.test('tmpfs'), alt.test('overlay'), alt.test('tmpfsx'), alt.test('xoverlay')]).toEqual([true, true, false, false]);
    expect(compileMatcher({ name: 'host', op: '=~', value: 'a+' }).test(value)).toBe(false);
    expect(compileMatcher({ name: 'host', op: '=~', value: 'a+!' }).test(value)).toBe(true);
    // RE2 syntax, PromQL's own: flags and classes work.
    expect(compileMatcher({ name: 'dev', op: '=~', value: '(?i)ETH\\d+' }).test('eth0')).toBe(true);
    // A pattern cannot break out of its anchors.
    expect(() => compileMatcher({ name: 'a', op: '=~', value: 'x)|(.*' })).toThrow(/a=~"x\)\|\(\.\*": not a regular expression/);
  });

  it('refuses a regex that is too long or outside RE2, naming the matcher and the limit', () => {
    const long = 'a'.repeat(MAX_REGEX_LENGTH + 1);
    expect(MAX_REGEX_LENGTH).toBe(1024);
    expect(() => compileMatcher({ name: 'host', op: '=~', value: long })).toThrow(
      `host=~"${'a'.repeat(40)}…": a regular expression of 1025 characters; at most 1024`,
    );
    expect(compileMatcher({ name: 'host', op: '=~', value: 'a'.repeat(MAX_REGEX_LENGTH) }).test('a'.repeat(1024))).toBe(true);
    expect(() => compileMatcher({ name: 'host', op: '=~', value: 'web(?=-1)' })).toThrow(
      /host=~"web\(\?=-1\)": not a regular expression \(invalid or unsupported Perl syntax: `\(\?=`\); RE2 syntax, as in PromQL: no lookarounds or backreferences/,
    );
    expect(() => compileMatcher({ name: 'x', op: '!~', value: '(a)\\1' })).toThrow(/x!~"\(a\)\\1": not a regular expression/);
    // In a rule or silence body, the error names the field.
    const rule = ruleSpecSchema.safeParse({
      name: 'r',
      metric: 'm',
      threshold: 1,
      series_labels: [{ name: 'device', op: '=~', value: long }],
    });
    expect(rule.success).toBe(false);
    expect(rule.error?.issues[0]).toMatchObject({ path: ['series_labels'], message: expect.stringMatching(/^device=~".*at most 1024$/) });
  });
});

describe('message templates', () => {
  it('inserts values, applies filters, repeats sections and escapes for the output', () => {
    const t = compileTemplate(
      '{{title}}: {{#alerts}}{{@number}}. {{host}} {{value | round(1)}}{{^@last}}, {{/@last}}{{/alerts}}{{^alerts}}none{{/alerts}} {{size | bytes}} {{n | humanize}} {{missing | default("-")}} {{! ignored }}',
    );
    expect(
      t.render({
        title: 'CPU',
        alerts: [
          { host: 'a', value: 91.234 },
          { host: 'b<script>', value: 95 },
        ],
        size: 1536,
        n: 2_500_000,
      }),
    ).toBe('CPU: 1. a 91.2, 2. b<script> 95 1.50KiB 2.50M - ');
    expect(t.render({ title: '<b>', alerts: [{ host: 'b<i>' }] }, escapeHtml)).toBe('&lt;b&gt;: 1. b&lt;i&gt;    - ');
    const json = compileTemplate('{"text": "{{title}}", "alerts": {{alerts | json}}}');
    const body = json.render({ title: 'say "hi"\n', alerts: [{ a: 1 }] }, escapeJsonString);
    expect(JSON.parse(body)).toEqual({ text: 'say "hi"\n', alerts: [{ a: 1 }] });
    expect(
      compileTemplate('{{ labels.mountpoint }} {{time | time}} {{d | duration}}').render({
        labels: { mountpoint: '/' },
        time: 0,
        d: 3_723_000,
      }),
    ).toBe('/ 0 1h 2m');
  });

  it('refuses broken templates with the position', () => {
    expect(() => compileTemplate('a {{#alerts}} b')).toThrow(/at line 1, column 3: \{\{#alerts\}\} is not closed/);
    expect(() => compileTemplate('x\n{{/alerts}}')).toThrow(/line 2, column 1: \{\{\/alerts\}\} closes nothing/);
    expect(() => compileTemplate('{{#a}}{{/b}}')).toThrow(/closes \{\{#a\}\}/);
    expect(() => compileTemplate('{{ v | shout }}')).toThrow(/unknown filter "shout"/);
    expect(() => compileTemplate('{{ v ')).toThrow(/is not closed/);
    expect(() => compileTemplate('{{ a b }}')).toThrow(TemplateError);
  });
});

describe('series windows', () => {
  it('keeps only the retained span, and aggregates over the window', () => {
    const sw = new SeriesWindow('a', 'a', 'm', {});
    for (let t = 0; t <= 100_000; t += 10_000) sw.add(t, t / 1000, 60_000, 0, 0);
    expect(sw.recent.length).toBe(7);
    expect(sw.aggregate('last', 30_000)).toBe(100);
    expect(sw.aggregate('avg', 30_000)).toBe(90);
    expect(sw.aggregate('min', 30_000)).toBe(80);
    expect(sw.aggregate('max', 30_000)).toBe(100);
    expect(sw.aggregate('sum', 30_000)).toBe(270);
    expect(sw.aggregate('count', 30_000)).toBe(3);
    expect(sw.aggregate('delta', 30_000)).toBe(20);
    expect(sw.aggregate('rate', 30_000)).toBe(1);
    // A window shorter than the report interval is the latest point.
    expect(sw.aggregate('avg', 1000)).toBe(100);
    expect(Number.isNaN(sw.aggregate('rate', 1000))).toBe(true);
    // Out-of-order samples are ignored; a repeated timestamp replaces the value.
    sw.add(50_000, 1, 60_000, 0, 0);
    sw.add(100_000, 7, 60_000, 0, 0);
    expect(sw.aggregate('last', 1000)).toBe(7);
  });

  it('counts a counter reset as a restart from zero in rate and increase', () => {
    const sw = new SeriesWindow('a', 'a', 'c', {});
    [100, 110, 5, 15].forEach((v, i) => {
      sw.add(i * 10_000, v, 600_000, 0, 0);
    });
    expect(sw.aggregate('increase', 600_000)).toBe(10 + 5 + 10);
  });

  it('grows and slides its ring without losing points', () => {
    const r = new PointRing(2);
    for (let i = 0; i < 1000; i++) {
      r.push(i, i);
      r.trimBefore(i - 9);
    }
    expect(r.length).toBe(10);
    expect(r.firstT).toBe(990);
    expect(r.lastV).toBe(999);
    r.prepend([
      [1, 1],
      [989, 989],
      [995, 0],
    ]);
    expect(r.length).toBe(12);
    expect(r.firstT).toBe(1);
  });

  it('fits a line to the long history', () => {
    const r = new PointRing();
    for (let t = 0; t <= 3_600_000; t += 60_000) r.push(t, 1000 - t / 3600);
    const fit = linearFit(r, 3_600_000);
    expect(fit?.slope).toBeCloseTo(-1 / 3600, 9);
    expect(fit?.at).toBeCloseTo(0, 6);
    expect(fit?.points).toBe(61);
    expect(linearFit(r, 30_000)).toBeUndefined();
  });

  it('keeps only the names and series some rule reads', () => {
    const w = new SeriesWindows();
    w.setInterest(
      new Map<string, NameInterest>([
        ['cpu', { retainMs: 60_000, longBucketMs: 0, longRetainMs: 0, accept: null }],
        ['fs', { retainMs: 60_000, longBucketMs: 0, longRetainMs: 0, accept: (l: Labels) => l.mountpoint === '/' }],
      ]),
    );
    w.observe(
      'a1',
      [
        { name: 'cpu', labels: {}, value: 1, timestampMs: 1 },
        { name: 'mem', labels: {}, value: 1, timestampMs: 1 },
        { name: 'fs', labels: { mountpoint: '/', device: 'sda' }, value: 1, timestampMs: 1 },
        { name: 'fs', labels: { mountpoint: '/boot' }, value: 1, timestampMs: 1 },
      ],
      1,
    );
    const keys = [...w.names].flatMap((nw) => nw.list.map((sw) => sw.key));
    expect(keys).toEqual(['a1', 'a1\u0001device=sda\u0001mountpoint=/']);
    expect(w.seriesCount).toBe(2);
    expect(w.gc(10_000_000, 60_000)).toBe(2);
  });
});

describe('specs', () => {
  const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
    r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

  it('names the field that is wrong in a rule', () => {
    expect(issues(ruleSpecSchema.safeParse({ name: 'x' }))).toEqual([
      'metric: required for a threshold rule',
      'threshold: required for a threshold rule',
    ]);
    expect(issues(ruleSpecSchema.safeParse({ name: 'x', kind: 'agent_offline', threshold: 3, aggregation: 'avg' }))).toEqual([
      'aggregation: not used by a agent_offline rule (only threshold)',
      'threshold: not used by a agent_offline rule (only threshold, disk_full, log_lines)',
    ]);
    expect(issues(ruleSpecSchema.safeParse({ name: 'x', metric: 'm', threshold: 1, for: '5 minutes', series_labels: '{a=b}' }))).toEqual([
      'series_labels: selector {a=b}: expected a double-quoted value after a= at character 3',
      'for: "5 minutes" is not a duration (e.g. 500ms, 10s, 5m, 1h)',
    ]);
    expect(issues(ruleSpecSchema.safeParse({ name: 'x', metric: 'm', threshold: 1, annotations: { summary: '{{#a}}' } }))[0]).toMatch(
      /^annotations.summary: template at line 1, column 1: \{\{#a\}\} is not closed/,
    );
    expect(issues(ruleSpecSchema.safeParse({ name: 'x', metric: 'bad name', threshold: 1 }))).toEqual(['metric: must be a metric name']);
    expect(issues(ruleSpecSchema.safeParse({ name: 'x', metric: 'm', threshold: 1, colour: 'red' }))[0]).toMatch(/colour/);
    const ok = ruleSpecSchema.parse({ name: 'disk', kind: 'disk_full', within: '12h' });
    expect(ok).toMatchObject({ kind: 'disk_full', severity: 'warning', enabled: true, channels: [] });
  });

  it('checks channels and silences', () => {
    expect(issues(channelSpecSchema.safeParse({ name: 'w', type: 'webhook', url: 'ftp://x' }))).toEqual([
      'url: must be an http:// or https:// URL',
    ]);
    expect(issues(channelSpecSchema.safeParse({ name: 'e', type: 'email', smtp: { host: 'h' }, from: 'a@b', to: [] }))[0]).toMatch(/^to:/);
    expect(issues(channelSpecSchema.safeParse({ name: 't', type: 'pager', url: 'http://x' }))[0]).toMatch(/^type:/);
    expect(issues(silenceSpecSchema.safeParse({ matchers: '{host="a"}' }))).toEqual(['ends_at: give ends_at or duration']);
    expect(issues(silenceSpecSchema.safeParse({ matchers: {}, duration: '1h' }))).toEqual(['matchers: at least one matcher']);
    expect(issues(silenceSpecSchema.safeParse({ matchers: { host: 'a' }, schedule: 'every sunday', duration: '1h' }))[0]).toMatch(
      /^schedule:/,
    );
    expect(issues(silenceSpecSchema.safeParse({ matchers: { host: 'a' }, schedule: '0 2 * * 0' }))).toEqual([
      'duration: required with a schedule',
    ]);
  });
});

describe('silences and maintenance windows', () => {
  it('mutes once between two times', () => {
    const s = new Silence('s', silenceSpecSchema.parse({ matchers: '{host=~"web-.*"}', starts_at: 1000, ends_at: 5000 }), {
      source: 'api',
      createdBy: 't',
      createdMs: 0,
    });
    expect(s.activeAt(999)).toBe(false);
    expect(s.activeAt(1000)).toBe(true);
    expect(s.activeAt(5000)).toBe(false);
    expect(s.expiredAt(5000)).toBe(true);
    expect(s.matches({ host: 'web-1' })).toBe(true);
    expect(s.matches({ host: 'db-1' })).toBe(false);
  });

  it('opens a maintenance window at each time of its schedule, for its duration', () => {
    const s = new Silence(
      'm',
      silenceSpecSchema.parse({ matchers: { env: 'prod' }, schedule: '0 2 * * 0', duration: '2h', timezone: 'UTC' }),
      {
        source: 'api',
        createdBy: 't',
        createdMs: 0,
      },
    );
    const sunday2 = Date.parse('2025-01-05T02:00:00Z');
    expect(s.activeAt(sunday2 - 1)).toBe(false);
    expect(s.activeAt(sunday2)).toBe(true);
    expect(s.activeAt(sunday2 + 7_199_000)).toBe(true);
    expect(s.activeAt(sunday2 + 7_200_000)).toBe(false);
    expect(s.window(sunday2 + 7_200_000)).toEqual({ startMs: sunday2 + 7 * 86_400_000, endMs: sunday2 + 7 * 86_400_000 + 7_200_000 });
    expect(s.expiredAt(sunday2 + 1e10)).toBe(false);
  });
});

describe('the rules file', () => {
  it('loads rules, channels and maintenance windows', () => {
    const file = join(tempDir(), 'rules.yaml');
    writeFileSync(
      file,
      `channels:
  - name: ops
    type: webhook
    url: http://127.0.0.1:9/hook
rules:
  - name: High CPU
    metric: falconet_cpu_usage_percent
    aggregation: avg
    window: 1m
    op: ">"
    threshold: 90
    for: 5m
    channels: [ops]
  - name: Root disk
    kind: disk_full
    series_labels: '{mountpoint="/"}'
    within: 24h
silences:
  - name: Sunday maintenance
    matchers: '{env="staging"}'
    schedule: "0 2 * * 0"
    duration: 2h
`,
    );
    const r = readRulesFile(file);
    expect(r.rules.map((x) => x.name)).toEqual(['High CPU', 'Root disk']);
    expect(r.channels[0]).toMatchObject({ name: 'ops', type: 'webhook', method: 'POST' });
    expect(r.silences[0]?.schedule).toBe('0 2 * * 0');
  });

  it('names file:line:column for what is wrong', () => {
    const file = join(tempDir(), 'rules.yaml');
    const bad = (text: string) => {
      writeFileSync(file, text);
      try {
        readRulesFile(file);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      throw new Error('accepted');
    };
    expect(bad('rules:\n  - name: a\n    metric: m\n    threshold: high\n')).toEqual([
      `${file}:4:16: rules.0.threshold: must be a number, not "high"`,
    ]);
    // In file order: the rule that lacks a threshold (line 2), then the misspelt key (line 4).
    expect(bad('rules:\n  - name: a\n    metric: m\n    treshold: 1\n')).toEqual([
      `${file}:2:5: rules.0.threshold: required for a threshold rule`,
      `${file}:4:5: unknown key "rules.0.treshold" (did you mean "threshold"?)`,
    ]);
    expect(bad('rules:\n  - name: a\n    kind: threshold\n    metric: m\n    threshold: 1\n    window: soon\n')).toEqual([
      `${file}:6:13: rules.0.window: "soon" is not a duration (e.g. 500ms, 10s, 5m, 1h)`,
    ]);
    expect(bad('rules: [\n')[0]).toMatch(new RegExp(`^${file}:2:1: invalid YAML`));
    expect(bad('rules:\n  - {name: a, metric: m, threshold: 1}\n  - {name: a, metric: m, threshold: 2}\n')).toEqual([
      `${file}: two rules are named "a"; names must be unique`,
    ]);
  });
});
