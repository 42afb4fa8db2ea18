/**
 * Fuzz (issue 24): the decoders behind a running server's doors — POST /api/v1/push, the Open-Falcon
 * TCP transfer port, POST /api/v1/write, the Prometheus query API (PromQL parse and eval), the log
 * search, and the query parameters of every GET route in the OpenAPI document. Whatever comes in,
 * the answer is a 2xx or a 4xx in the route's error shape, never a 5xx; the server keeps serving.
 * Fewer cases than the pure decoders (a few hundred requests in all): each is a real round trip.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyText, fc, fuzz, fuzzTimeout, OBJECT_KEYS, tokenText } from '../../../testing/fuzz.ts';
import { openLines } from '../../../testing/tcp-lines.ts';
import { type Credential, concretePath, startTestServer, type TestServer } from './support/auth.ts';
import { modelSeries, PROMQL_TOKENS, promqlExpr, snappyEncode, writeRequestV1, writeRequestV2 } from './support/fuzz-inputs.ts';

let ts: TestServer;
let admin: Credential;
let transferPort = 0;

beforeAll(async () => {
  ts = await startTestServer({
    config: {
      transfer_listen: '127.0.0.1:0',
      syslog: { listen: '127.0.0.1:0' },
      // Caps high enough that the fuzz cases, not the caps, decide the answers (the caps have tests of their own).
      ingest: {
        max_message_bytes: 256 * 1024,
        max_clock_skew: '10m',
        push: { max_hosts_per_sender: 1_000_000, max_series_per_sender: 10_000_000, samples_per_second: 100_000_000, burst: 100_000_000 },
      },
    },
  });
  admin = await ts.token('admin');
  transferPort = ts.server.addresses?.transfer?.port ?? 0;
  // Data for the queries to find, so PromQL evaluates over series and log search reads lines.
  const now = Date.now();
  const samples = [];
  for (let t = now - 30 * 60_000; t <= now; t += 15_000) {
    samples.push({ name: 'up', labels: { host: 'fuzz-a', job: 'a' }, value: 1, timestampMs: t });
    for (const mode of ['idle', 'user', 'iowait'])
      samples.push({
        name: 'node_cpu_seconds_total',
        labels: { host: 'fuzz-a', cpu: '0', mode },
        value: (t - now) / 1000 + 1e6,
        timestampMs: t,
      });
  }
  const res = await fetch(`${ts.base}/api/v1/push`, {
    method: 'POST',
    headers: { ...admin.mutating, 'content-type': 'application/json' },
    body: JSON.stringify(samples),
  });
  expect(res.status).toBe(200);
  const sock = connect({ host: '127.0.0.1', port: ts.server.addresses?.syslog?.port ?? 0 });
  const lines = ['error connection reset', 'warn 503 upstream', 'info started', 'debug "quoted" text'];
  await new Promise<void>((resolve) => sock.end(lines.map((l, i) => `<${8 + i}>1 - web-1 app - - - ${l}\n`).join(''), () => resolve()));
});
afterAll(() => ts?.stop());

/** A refusal in the API's error shape: {error: {code, message}}, the message saying something. */
async function expectApiAnswer(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  expect(res.status, `${what}: ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
  const body = text ? (JSON.parse(text) as unknown) : undefined;
  if (res.status >= 400) {
    const err = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    expect(typeof err?.code, `${what}: ${text.slice(0, 300)}`).toBe('string');
    expect(String(err?.message).length, `${what}: ${text.slice(0, 300)}`).toBeGreaterThan(3);
  }
  return body;
}

const recordKeys = [
  'metric',
  'endpoint',
  'tags',
  'value',
  'timestamp',
  'step',
  'counterType',
  'name',
  'labels',
  'timestampMs',
  ...OBJECT_KEYS,
];
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    anyText(20),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...recordKeys), fc.string({ maxLength: 6 })), tie('value'), { maxKeys: 6 }),
  ),
})).value;
const goodRecord = fc.record({
  metric: fc.stringMatching(/^[a-z][a-z0-9._]{0,15}$/),
  // A few hosts: a sender may push for at most 100 hosts an hour (ingest.push.max_hosts_per_sender).
  endpoint: fc.constantFrom('fuzz-a', 'fuzz-b', 'fuzz-c', 'web-1.example'),
  tags: fc.stringMatching(/^([a-z]{1,5}=[a-z0-9]{1,5})?$/),
  value: fc.double({ noNaN: true, noDefaultInfinity: true }),
  timestamp: fc.integer({ min: 1_700_000_000, max: Math.floor(Date.now() / 1000) }),
  step: fc.constant(60),
  counterType: fc.constantFrom('GAUGE', 'COUNTER'),
});

describe('fuzz over HTTP: POST /api/v1/push', () => {
  it(
    'answers any JSON body with 200 or a 4xx naming the problem',
    () =>
      fuzz(
        'http push arbitrary json',
        fc.asyncProperty(fc.oneof(fc.array(fc.oneof(jsonish, goodRecord), { maxLength: 5 }), jsonish), async (body) => {
          const res = await fetch(`${ts.base}/api/v1/push`, {
            method: 'POST',
            headers: { ...admin.mutating, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          const answer = await expectApiAnswer(res, 'push');
          if (res.status >= 400) expect((answer as { error: { message: string } }).error.message).toMatch(/^(body|querystring)/);
        }),
        1,
      ),
    fuzzTimeout(50),
  );

  it(
    'takes every well-formed record',
    () =>
      fuzz(
        'http push valid records',
        fc.asyncProperty(fc.array(goodRecord, { minLength: 1, maxLength: 5 }), async (records) => {
          const res = await fetch(`${ts.base}/api/v1/push`, {
            method: 'POST',
            headers: { ...admin.mutating, 'content-type': 'application/json' },
            body: JSON.stringify(records),
          });
          expect(res.status, await res.clone().text()).toBe(200);
          expect(((await res.json()) as { accepted: number }).accepted).toBe(records.length);
        }),
        0.5,
      ),
    fuzzTimeout(50),
  );

  it(
    'answers bodies that are not JSON with a 4xx',
    () =>
      fuzz(
        'http push arbitrary text',
        fc.asyncProperty(
          anyText(200),
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
          async (body, type) => {
            const res = await fetch(`${ts.base}/api/v1/push`, {
              method: 'POST',
              headers: { ...admin.mutating, 'content-type': type },
              body,
            });
            await expectApiAnswer(res, 'push text');
          },
        ),
        0.5,
      ),
    fuzzTimeout(50),
  );
});

describe('fuzz over TCP: the Open-Falcon transfer port', () => {
  it(
    'answers each bad line with {"error"} and goes on, then takes a good line',
    () =>
      fuzz(
        'transfer lines',
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              anyText(80).map((s) => s.replace(/[\r\n]/g, ' ')),
              jsonish.map((v) => JSON.stringify(v)),
            ),
            { maxLength: 6 },
          ),
          goodRecord,
          async (lines, good) => {
            const client = await openLines('127.0.0.1', transferPort);
            client.send([...lines, good]);
            client.end();
            await client.closed;
            for (const r of client.replies) expect(typeof r.error).toBe('string');
            // A line may hold a JSON array of records, each answered on its own.
            const records = lines.map((l) => {
              try {
                const v = JSON.parse(l) as unknown;
                return Array.isArray(v) ? v.length : 1;
              } catch {
                return 1;
              }
            });
            expect(client.replies.length).toBeLessThanOrEqual(records.reduce((a, b) => a + b, 0));
          },
        ),
        0.5,
      ),
    fuzzTimeout(100),
  );
});

describe('fuzz over TCP: the syslog receiver', () => {
  const SYSLOG_PIECES = [
    '<13>',
    '<191>',
    '<999>',
    '1 ',
    '- - - - ',
    '2026-12-06T10:00:00Z ',
    'Dec  6 10:00:00 ',
    'host app[1]: ',
    '[a b="c\\"]"]',
    '\n',
    '\r\n',
    '\0',
    ' ',
    '12 ',
    '9999999999 ',
    'msg',
  ];
  it(
    'takes any stream of frames (octet-counted or by line) and keeps storing good messages',
    () =>
      fuzz(
        'syslog tcp frames',
        fc.asyncProperty(fc.oneof(tokenText(SYSLOG_PIECES, 20), anyText(200)), async (stream) => {
          const port = ts.server.addresses?.syslog?.port ?? 0;
          const sock = connect({ host: '127.0.0.1', port });
          sock.on('error', () => undefined);
          await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
          await new Promise<void>((resolve) => sock.end(stream, () => resolve()));
          await new Promise<void>((resolve) => (sock.closed ? resolve() : sock.once('close', () => resolve())));
        }),
        0.5,
      ),
    fuzzTimeout(100),
  );

  it('stores a good message after all of it', async () => {
    const marker = `fuzzmarker${Date.now()}`;
    const sock = connect({ host: '127.0.0.1', port: ts.server.addresses?.syslog?.port ?? 0 });
    await new Promise<void>((resolve) => sock.end(`<13>1 2026-12-06T10:00:00Z host app - - - ${marker}\n`, () => resolve()));
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${ts.base}/api/logs?${new URLSearchParams({ q: marker, from: '0' })}`, { headers: admin.headers });
      if ((await res.text()).includes(`"message":"${marker}"`)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the syslog message ${marker} was not stored`);
  });
});

describe('fuzz over HTTP: POST /api/v1/write', () => {
  it(
    'answers arbitrary and damaged remote_write bodies with 2xx or a 4xx, never a 5xx',
    () =>
      fuzz(
        'http remote_write',
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }).map((b) => ({ body: b, v2: false })),
            fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.boolean()).map(([b, v2]) => ({ body: snappyEncode(b, [7, 30]), v2 })),
            fc
              .tuple(modelSeries, fc.boolean())
              .map(([s, v2]) => ({ body: snappyEncode(v2 ? writeRequestV2(s) : writeRequestV1(s), [50]), v2 })),
          ),
          async ({ body, v2 }) => {
            const type = v2 ? 'application/x-protobuf;proto=io.prometheus.write.v2.Request' : 'application/x-protobuf';
            const res = await fetch(`${ts.base}/api/v1/write`, {
              method: 'POST',
              headers: { ...admin.mutating, 'content-type': type, 'content-encoding': 'snappy' },
              body,
            });
            await expectApiAnswer(res, 'remote_write');
          },
        ),
        1,
      ),
    fuzzTimeout(50),
  );
});

/** Prometheus' error shape: {status: "error", errorType, error}. */
async function expectPromAnswer(res: Response, what: string): Promise<{ status: string; errorType?: string; error?: string }> {
  const text = await res.text();
  expect(res.status, `${what}: ${text.slice(0, 300)}`).toBeLessThan(500);
  const body = JSON.parse(text) as { status: string; errorType?: string; error?: string };
  if (res.status >= 400) {
    expect(body.status).toBe('error');
    expect(body.errorType).not.toBe('internal');
    expect(String(body.error).length).toBeGreaterThan(3);
  }
  return body;
}

const timeParam = fc.oneof(
  fc.constantFrom(
    '',
    'now',
    '1700000000',
    '1700000000.5',
    '-1',
    '1e400',
    'NaN',
    'Inf',
    '2026-12-06T10:00:00Z',
    '2026-13-01T00:00:00Z',
    '0x10',
  ),
  anyText(12),
);

describe('fuzz over HTTP: the Prometheus query API', () => {
  it(
    'answers arbitrary PromQL with a result or a bad_data error, never a crash',
    () =>
      fuzz(
        'http promql query',
        fc.asyncProperty(fc.oneof(anyText(60), tokenText(PROMQL_TOKENS, 10)), async (query) => {
          const res = await fetch(`${ts.base}/api/v1/query?${new URLSearchParams({ query })}`, { headers: admin.headers });
          await expectPromAnswer(res, `query ${JSON.stringify(query)}`);
        }),
        2,
      ),
    fuzzTimeout(50, 2),
  );

  it(
    'evaluates PromQL built by its grammar over stored series: a result, or an error that is not internal',
    () =>
      fuzz(
        'http promql eval',
        fc.asyncProperty(promqlExpr, fc.boolean(), async (query, range) => {
          const now = Math.floor(Date.now() / 1000);
          const params: Record<string, string> = range
            ? { query, start: String(now - 1800), end: String(now), step: '60' }
            : { query, time: String(now) };
          const res = await fetch(`${ts.base}/api/v1/${range ? 'query_range' : 'query'}?${new URLSearchParams(params)}`, {
            headers: admin.headers,
          });
          await expectPromAnswer(res, `${range ? 'query_range' : 'query'} ${query}`);
        }),
        2,
      ),
    fuzzTimeout(100, 2),
  );

  it(
    'answers query_range with arbitrary times and steps, never a crash',
    () =>
      fuzz(
        'http promql query_range',
        fc.asyncProperty(
          tokenText(PROMQL_TOKENS, 6),
          timeParam,
          timeParam,
          fc.oneof(fc.constantFrom('15', '0', '-1', '1m', '0.001', '1e9', 'x', ''), anyText(6)),
          async (query, start, end, step) => {
            const params = new URLSearchParams({ query, start, end, step });
            const res = await fetch(`${ts.base}/api/v1/query_range?${params}`, { headers: admin.headers });
            await expectPromAnswer(res, `query_range ${params}`);
          },
        ),
        1,
      ),
    fuzzTimeout(50),
  );
});

/** Values a query parameter is likely to choke on. */
const paramValue = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '-1',
    '1',
    '1e309',
    'NaN',
    'true',
    'null',
    '[]',
    '{}',
    '{"a":"b"}',
    'a=b',
    '2026-12-06T10:00:00Z',
    '1h',
    'x'.repeat(3000),
  ),
  anyText(20),
  fc.integer().map(String),
);

describe('fuzz over HTTP: query parameters of the REST API', () => {
  let getRoutes: { path: string; params: string[] }[] = [];
  beforeAll(async () => {
    const doc = (await (await fetch(`${ts.base}/api/openapi.json`, { headers: admin.headers })).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    getRoutes = Object.entries(doc.paths)
      .filter(([path, ops]) => ops.get && path !== '/api/live')
      .map(([path, ops]) => ({
        path: path.replace(/\{([^}]+)\}/g, ':$1'),
        params: (ops.get?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      }));
    expect(getRoutes.length).toBeGreaterThan(10);
  });

  it(
    'answers every GET route with 2xx or a 4xx in the error shape, whatever its query string',
    () =>
      fuzz(
        'http rest query parameters',
        fc.asyncProperty(
          fc.nat(),
          fc.array(fc.tuple(fc.nat(), paramValue), { maxLength: 5 }),
          fc.array(fc.tuple(fc.string({ maxLength: 6 }), paramValue), { maxLength: 2 }),
          async (routeIndex, known, unknown) => {
            const route = getRoutes[routeIndex % getRoutes.length] as { path: string; params: string[] };
            const params = new URLSearchParams();
            for (const [i, v] of known) if (route.params.length) params.append(route.params[i % route.params.length] as string, v);
            for (const [k, v] of unknown) params.append(k, v);
            const url = `${ts.base}${concretePath(route.path)}?${params}`;
            await expectApiAnswer(await fetch(url, { headers: admin.headers }), `GET ${route.path}?${params}`);
          },
        ),
        2,
      ),
    fuzzTimeout(50, 2),
  );

  it(
    'answers log searches with arbitrary queries with results or a 400 naming the position',
    () =>
      fuzz(
        'http log search',
        fc.asyncProperty(
          fc.oneof(anyText(60), tokenText(['error', ' ', '"', 'level>=', 'warn', '/', '(', ')', 'OR ', '-', 'host:', '\\', 'NOT '], 10)),
          async (q) => {
            const res = await fetch(`${ts.base}/api/logs?${new URLSearchParams({ q })}`, { headers: admin.headers });
            const body = await expectApiAnswer(res, `logs q=${JSON.stringify(q)}`);
            if (res.status === 400) expect((body as { error: { message: string } }).error.message).toMatch(/position \d+/);
          },
        ),
        1,
      ),
    fuzzTimeout(50),
  );

  it('still serves after all of it', async () => {
    const res = await fetch(`${ts.base}/api/v1/query?query=up`, { headers: admin.headers });
    expect(res.status).toBe(200);
  });
});

// Counterexamples the fuzzing found, kept as plain tests.
describe('fuzz regressions: JSON bodies', () => {
  const push = (body: string) =>
    fetch(`${ts.base}/api/v1/push`, { method: 'POST', headers: { ...admin.mutating, 'content-type': 'application/json' }, body });

  it('says where a body is not JSON (it said "Body is not valid JSON" only)', async () => {
    const res = await push('[{"metric":"a",}]');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^body is not valid JSON: .*position 15/);
  });

  it('names a __proto__ key it refuses, and where (it said the body was not JSON)', async () => {
    const res = await push('[{"metric":"a","endpoint":"h","value":1},{"tags":{"__proto__":{"x":"y"}}}]');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: 'bad_request', message: "body: the key $[1].tags.__proto__ is refused (it could reach an object's prototype)" },
    });
    const escaped = await fetch(`${ts.base}/api/v1/push`, {
      method: 'POST',
      headers: { ...admin.mutating, 'content-type': 'application/json; charset=utf-8' },
      body: '[{"\\u005f_proto__":{}}]',
    });
    expect(((await escaped.json()) as { error: { message: string } }).error.message).toMatch(
      /^body: the key \$\[0\]\.__proto__ is refused/,
    );
    const empty = await push('');
    expect(((await empty.json()) as { error: { message: string } }).error.message).toBe(
      'body: empty, but Content-Type is application/json',
    );
  });
});

describe('JSON bodies nested deeply', () => {
  it('are answered, a forbidden key deep inside them named', async () => {
    const depth = 100_000;
    const body = `${'['.repeat(depth)}{"constructor":{"prototype":{}}}${']'.repeat(depth)}`;
    const res = await fetch(`${ts.base}/api/v1/push`, {
      method: 'POST',
      headers: { ...admin.mutating, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /^body(: the key \$(\[0\])+\.constructor\.prototype| is not valid JSON)/,
    );
  });
});
