import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { EXPOSITION_CONTENT_TYPE, parseExposition, renderExposition } from '@falconet/protocol/exposition';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptsGzip, Exporter } from '../src/exporter/server.ts';
import type { MetricFamily } from '../src/metrics.ts';

describe('renderExposition', () => {
  it('writes one HELP and TYPE per family, families sorted and contiguous', () => {
    const text = renderExposition([
      { name: 'b_total', help: 'B.', type: 'counter', metrics: [{ labels: { x: '1' }, value: 1 }] },
      { name: 'a', help: 'A.', type: 'gauge', metrics: [{ labels: {}, value: 2 }] },
      { name: 'b_total', help: 'B again.', type: 'counter', metrics: [{ labels: { x: '2' }, value: 3 }] },
    ]);
    expect(text).toBe('# HELP a A.\n# TYPE a gauge\na 2\n# HELP b_total B.\n# TYPE b_total counter\nb_total{x="1"} 1\nb_total{x="2"} 3\n');
  });

  it('escapes label values and HELP, spells NaN and infinities', () => {
    const text = renderExposition([
      {
        name: 'm',
        help: 'back\\slash\nnewline',
        type: 'gauge',
        metrics: [
          { labels: { v: 'a"b\\c\nd' }, value: Number.NaN },
          { labels: { v: 'p' }, value: Number.POSITIVE_INFINITY },
          { labels: { v: 'n' }, value: Number.NEGATIVE_INFINITY },
        ],
      },
    ]);
    expect(text).toContain('# HELP m back\\\\slash\\nnewline\n');
    expect(text).toContain('m{v="a\\"b\\\\c\\nd"} NaN\n');
    expect(text).toContain('m{v="p"} +Inf\n');
    expect(text).toContain('m{v="n"} -Inf\n');
  });

  it('summaries and histograms render their suffixed samples under one family', () => {
    const text = renderExposition([
      {
        name: 'rpc_seconds',
        help: 'RPC latency.',
        type: 'summary',
        metrics: [
          { labels: { quantile: '0.5' }, value: 0.1 },
          { labels: {}, value: 9, suffix: '_sum' },
          { labels: {}, value: 90, suffix: '_count' },
        ],
      },
    ]);
    expect(text).toBe(
      '# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds summary\nrpc_seconds{quantile="0.5"} 0.1\nrpc_seconds_sum 9\nrpc_seconds_count 90\n',
    );
  });
});

describe('renderExposition from one scrape to the next', () => {
  /** The text of a family built from nothing, as the format says: what the kept lines must equal. */
  const reference = (fs: MetricFamily[]) =>
    [...fs]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map(
        (f) =>
          `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n` +
          f.metrics
            .map((m) => {
              const labels = Object.entries(m.labels).map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
              const value = Number.isNaN(m.value) ? 'NaN' : String(m.value);
              return `${f.name}${m.suffix ?? ''}${labels.length ? `{${labels.join(',')}}` : ''} ${value}\n`;
            })
            .join(''),
      )
      .join('');
  const scrape = (metrics: MetricFamily['metrics']): MetricFamily[] => [
    { name: 'test_kept_lines', help: 'Lines kept between scrapes.', type: 'gauge', metrics },
  ];

  it('writes what a fresh render would, as series change value, labels, order, number and suffix', () => {
    const scrapes: MetricFamily['metrics'][] = [
      [
        { labels: { cpu: '0', mode: 'idle' }, value: 1 },
        { labels: { cpu: '0', mode: 'user' }, value: 2 },
      ],
      // Same labels in fresh objects and strings, one value changed, one series added.
      [
        { labels: { cpu: '0', mode: 'idle' }, value: 1 },
        { labels: { cpu: '0', mode: 'user' }, value: 2.5 },
        { labels: { cpu: '1', mode: 'idle' }, value: 3 },
      ],
      // A label value changed, keys in another order, a label added, NaN twice, a quote to escape.
      [
        { labels: { cpu: '0', mode: 'iowait' }, value: Number.NaN },
        { labels: { mode: 'user', cpu: '0' }, value: 2.5 },
        { labels: { cpu: '1', mode: 'idle', core: '"a"' }, value: 3 },
      ],
      [
        { labels: { cpu: '0', mode: 'iowait' }, value: Number.NaN },
        { labels: { mode: 'user', cpu: '0' }, value: 2.5 },
        { labels: { cpu: '1', mode: 'idle', core: '"a"' }, value: 3 },
      ],
      // Fewer series, and the same labels under a suffix.
      [
        { labels: { cpu: '0', mode: 'iowait' }, value: 7, suffix: '_sum' },
        { labels: { cpu: '0', mode: 'iowait' }, value: 7 },
      ],
      [],
      [{ labels: {}, value: -0 }],
    ];
    for (const metrics of scrapes) {
      // Each scrape in objects of its own, as collectors make them.
      const fresh = metrics.map((m) => ({ ...m, labels: Object.fromEntries(Object.entries(m.labels).map(([k, v]) => [k, `${v}`])) }));
      expect(renderExposition(scrape(fresh))).toBe(reference(scrape(fresh)));
    }
  });
});

describe('parseExposition', () => {
  it('reads what renderExposition writes, escapes included', () => {
    const families: MetricFamily[] = [
      {
        name: 'node_filesystem_avail_bytes',
        help: 'Bytes "free".',
        type: 'gauge',
        metrics: [{ labels: { mountpoint: '/mnt/a "b"\\c\nd' }, value: 1.5e12 }],
      },
      { name: 'x_total', help: 'X.', type: 'counter', metrics: [{ labels: {}, value: Number.POSITIVE_INFINITY }] },
    ];
    expect(parseExposition(renderExposition(families)).families).toEqual(families);
  });

  it('groups histogram samples, tolerates comments, blank lines and CRLF', () => {
    const p = parseExposition(
      '# a comment\r\n\r\n# TYPE h histogram\r\nh_bucket{le="1",} 1\r\nh_sum 2\r\nh_count 1\r\nplain 3 1700000000000\r\n',
    );
    expect(p.families.map((f) => [f.name, f.type, f.metrics.length])).toEqual([
      ['h', 'histogram', 3],
      ['plain', 'untyped', 1],
    ]);
    expect(p.hasTimestamps).toBe(true);
  });

  it('names the line and what was wrong', () => {
    const bad: [string, RegExp][] = [
      ['ok 1\n9bad 1\n', /line 2: invalid metric name "9bad/],
      ['m{a="1"} x\n', /line 1: m: "x" is not a number/],
      ['m{a="1} 1\n', /line 1: unterminated value for label "a"/],
      ['m{a="1",a="2"} 1\n', /label "a" given twice/],
      ['m{a="\\q"} 1\n', /invalid escape sequence "\\q"/],
      ['# TYPE m gauge\n# TYPE m gauge\n', /line 2: second TYPE line for m/],
      ['m 1\n# TYPE m gauge\n', /line 2: TYPE line for m after its samples/],
      ['# TYPE m nonsense\n', /unknown type "nonsense"/],
      ['# TYPE h histogram\nh_bucket 1\n', /lacks the "le" label/],
      ['m 1 2 3\n', /expected a value/],
    ];
    for (const [text, message] of bad) expect(() => parseExposition(text), text).toThrow(message);
  });
});

describe('Exporter over HTTP', () => {
  let exporter: Exporter;
  let port = 0;
  let collections = 0;
  beforeAll(async () => {
    exporter = new Exporter({
      host: '127.0.0.1',
      port: 0,
      log: pino({ level: 'silent' }),
      async collect() {
        collections++;
        return [{ name: 'node_load1', help: 'Load.', type: 'gauge', metrics: [{ labels: {}, value: 0.5 }] }];
      },
    });
    port = (await exporter.listen()).port;
  });
  afterAll(() => exporter.close());

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });

  it('serves text format 0.0.4, families sorted', async () => {
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe(EXPOSITION_CONTENT_TYPE);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = r.body.toString();
    const names = parseExposition(text).families.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['node_load1']));
    expect(names).toEqual([...names].sort());
  });

  it('gzips when asked, not when refused with q=0; HEAD has no body', async () => {
    const z = await get('/metrics', { 'accept-encoding': 'gzip, deflate' });
    expect(z.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(z.body).toString()).toContain('node_load1 0.5\n');
    const refused = await get('/metrics', { 'accept-encoding': 'gzip;q=0, identity' });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(acceptsGzip('deflate, gzip;q=0.5')).toBe(true);
    expect(acceptsGzip('br')).toBe(false);
    const head = await get('/metrics', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('each scrape collects afresh; other paths and methods get the right status', async () => {
    const before = collections;
    await get('/metrics');
    await get('/metrics');
    expect(collections - before).toBe(2);
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/metrics', {}, 'POST')).status).toBe(405);
    expect((await get('/healthz')).body.toString()).toBe('ok\n');
  });
});

describe('Exporter with a slow reader', () => {
  // Some 4 MB of text per scrape, more than the socket buffers hold, each scrape with its own value.
  const SERIES = 40_000;
  let exporter: Exporter;
  let port = 0;
  let collections = 0;
  beforeAll(async () => {
    exporter = new Exporter({
      host: '127.0.0.1',
      port: 0,
      log: pino({ level: 'silent' }),
      async collect() {
        const value = ++collections;
        const metrics = Array.from({ length: SERIES }, (_, i) => ({ labels: { series: `s${i}`, pad: 'x'.repeat(60) }, value }));
        return [{ name: 'node_test_value', help: 'The scrape number.', type: 'gauge', metrics }];
      },
    });
    port = (await exporter.listen()).port;
  });
  afterAll(() => exporter.close());

  /** One scrape; with `holdMs` the client stops reading after the first chunk for that long. */
  const scrape = (headers: Record<string, string>, holdMs = 0) =>
    new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/metrics', headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.once('data', () => {
          if (holdMs === 0) return;
          res.pause();
          setTimeout(() => res.resume(), holdMs);
        });
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.on('error', reject);
      req.end();
    });

  const values = (text: string) => new Set(parseExposition(text).families[0]?.metrics.map((m) => m.value));

  it('keeps a response the socket still holds intact while other scrapes are answered', async () => {
    const slow = scrape({}, 300);
    // Answered while the slow response is still being written out: each must get bytes of its own.
    await new Promise((r) => setTimeout(r, 50));
    const plain = await scrape({});
    const zipped = gunzipSync(await scrape({ 'accept-encoding': 'gzip' })).toString();
    const first = (await slow).toString();
    for (const [text, n] of [
      [first, 1],
      [plain.toString(), 2],
      [zipped, 3],
    ] as const) {
      expect(parseExposition(text).families[0]?.metrics).toHaveLength(SERIES);
      expect([...values(text)]).toEqual([n]);
    }
    // Once the slow reader is done, a scrape is answered from the kept buffer again, still whole.
    expect([...values((await scrape({})).toString())]).toEqual([4]);
    // Four scrapes of a large page, one read slowly on purpose: past Vitest's 5 s on a loaded machine.
  }, 30_000);
});
