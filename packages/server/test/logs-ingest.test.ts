/**
 * Log reports on the real agent channel (a scripted agent on a real gRPC stream), stored exactly
 * once; then read back through /api/logs, the histogram, the facets and the live tail, by role.
 */
import { LogLevel, pb, type Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  logReportMessage,
  type RawStream,
  rawStream,
  registerMessage,
  registerOn,
  rejectedCount,
  reportMessage,
} from '../../../testing/agent-channel.ts';
import { createTempDatabase } from '../../../testing/postgres.ts';
import { eventually } from '../../../testing/processes.ts';
import { LogFilter } from '../src/logs/query.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

let t: TestServer;
let target = '';

beforeAll(async () => {
  t = await startTestServer({ config: { ingest: { max_samples_per_report: 100, max_clock_skew: '1m' } } });
  target = `127.0.0.1:${t.server.addresses?.grpc.port}`;
});
afterAll(async () => {
  await t?.stop();
});

const now = () => Date.now();
function line(message: string, over: Partial<pb.LogRecord> = {}): pb.LogRecord {
  return pb.LogRecord.fromPartial({
    timeMs: now(),
    observedMs: now(),
    source: 'app',
    stream: '/var/log/app.log',
    level: LogLevel.LOG_LEVEL_INFO,
    message,
    ...over,
  });
}
const gauge = (name: string, value: number): Sample => ({ name, labels: {}, value, timestampMs: Date.now() });

async function ack(s: RawStream): Promise<pb.Ack> {
  const m = await s.next();
  if (m.body?.$case !== 'ack') throw new Error(`expected an ack, got ${JSON.stringify(m)}`);
  return m.body.value;
}

/** Registers `id` with its token (a new one unless given) on a new stream. */
async function connect(id: string, token?: string): Promise<{ s: RawStream; lastSeq: number; token: string }> {
  const use = token ?? (await t.server.ingest.tokens.create(`${id}-host`)).token;
  const s = rawStream(target);
  const reg = await registerOn(s, registerMessage(id, { hostname: `${id}-host`, token: use }));
  return { s, lastSeq: reg.lastSeq, token: use };
}

async function get(path: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${t.base}${path}`, { headers });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

async function stored(q: string): Promise<number> {
  let n = 0;
  await t.server.logs.each({ filter: new LogFilter(q), fromMs: 0, toMs: Date.now() + 60_000 }, () => n++);
  return n;
}

describe('log reports on the agent channel', () => {
  it('stores a log report, resumes after the higher of the two stores, and stores a replay nothing', async () => {
    const a = await connect('lg-once');
    expect(a.lastSeq).toBe(0);
    a.s.send(logReportMessage(1, [line('first boot ok'), line('disk nearly full', { level: LogLevel.LOG_LEVEL_WARN })]));
    expect(await ack(a.s)).toEqual({ seq: 1, error: '' });
    a.s.send(reportMessage(2, [gauge('lg_value', 1)]));
    expect((await ack(a.s)).error).toBe('');
    a.s.send(logReportMessage(3, [line('third report')]));
    expect((await ack(a.s)).error).toBe('');
    a.s.close();
    expect(await stored('agent:lg-once')).toBe(3);
    expect(await t.server.store.lastSeq('lg-once')).toBe(2);

    // A reconnect: the log store holds 3, the sample store 2; the agent resumes after 3.
    const { s: b, lastSeq } = await connect('lg-once', a.token);
    expect(lastSeq).toBe(3);
    // The agent's spool resends what it had not seen acknowledged: refused, never stored twice.
    for (const seq of [1, 3]) {
      b.send(logReportMessage(seq, [line('first boot ok')]));
      expect((await ack(b)).error).toMatch(new RegExp(`sequence ${seq} replayed`));
    }
    b.send(logReportMessage(4, [line('after reconnect')]));
    expect((await ack(b)).error).toBe('');
    b.close();
    expect(await stored('agent:lg-once')).toBe(4);
    const page = await get('/api/logs?q=agent:lg-once&limit=10', (await t.session('viewer')).headers);
    expect(page.status).toBe(200);
    const lines = page.body.lines as { message: string; host: string; level: string }[];
    expect(lines.map((l) => l.message)).toEqual(['after reconnect', 'third report', 'disk nearly full', 'first boot ok']);
    expect(lines[0]?.host).toBe('lg-once-host');
    expect(lines[2]?.level).toBe('warn');
  });

  it('refuses a malformed batch, a bad record and too many records with a clear Ack error', async () => {
    const before = await t.server.logs.stats();
    const a = await connect('lg-bad');
    const metrics = async () => await (await fetch(`${t.base}/metrics`, { headers: (await t.session('viewer')).headers })).text();
    a.s.send(
      logReportMessage(1, [line('x')], {
        payload: Buffer.from('not a protobuf at all, \xff\xff\xff'),
        encoding: pb.PayloadEncoding.PAYLOAD_ENCODING_RAW,
      }),
    );
    expect((await ack(a.s)).error).toMatch(/malformed log batch/);
    a.s.send(logReportMessage(2, [line('ok'), line('y'.repeat(70_000))]));
    expect((await ack(a.s)).error).toBe(
      'log record 1: message of 70000 bytes; at most 65536 (split or truncate longer lines, marking fields.truncated)',
    );
    a.s.send(logReportMessage(3, [line('ok', { source: '' })]));
    expect((await ack(a.s)).error).toMatch(/log record 0: source "" must be 1 to 256 characters/);
    a.s.send(logReportMessage(4, [line('ok', { labels: { 'bad label': 'x' } })]));
    expect((await ack(a.s)).error).toMatch(/log record 0: label "bad label" is not a label name/);
    a.s.send(logReportMessage(5, [line('from the future', { timeMs: Date.now() + 3_600_000 })]));
    expect((await ack(a.s)).error).toMatch(/ahead of the server's clock/);
    const many = Array.from({ length: 150 }, (_, i) => line(`n${i}`));
    a.s.send(logReportMessage(6, many));
    expect((await ack(a.s)).error).toBe('150 log records in one report; the limit is 100');
    // A report that understates its count is counted for what it holds.
    a.s.send(logReportMessage(7, many, { sampleCount: 1 }));
    expect((await ack(a.s)).error).toBe('150 log records in one report; the limit is 100 (ingest.max_samples_per_report)');
    a.s.close();
    expect((await t.server.logs.stats()).lines).toBe(before.lines);
    const text = await metrics();
    expect(rejectedCount(text, 'grpc', 'bad_log')).toBeGreaterThanOrEqual(3);
    expect(rejectedCount(text, 'grpc', 'malformed')).toBeGreaterThanOrEqual(1);
    expect(Number(/^falconet_log_store_lines (\d+)$/m.exec(text)?.[1])).toBe(before.lines);
    expect(Number(/^falconet_log_store_bytes (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
  });

  it('resets the log sequence with the sample one', async () => {
    const a = await connect('lg-reset');
    a.s.send(logReportMessage(50, [line('high')]));
    expect((await ack(a.s)).error).toBe('');
    a.s.close();
    const r = await fetch(`${t.base}/api/agents/lg-reset/sequence/reset`, {
      method: 'POST',
      headers: (await t.session('operator')).mutating,
    });
    expect(((await r.json()) as { previousLastSeq: number }).previousLastSeq).toBe(50);
    const b = await connect('lg-reset', a.token);
    expect(b.lastSeq).toBe(0);
    b.s.close();
  });
});

describe('GET /api/logs, /histogram, /facets', () => {
  beforeAll(async () => {
    const a = await connect('lg-api');
    const base = Date.now() - 10 * 60_000;
    const records = Array.from({ length: 60 }, (_, i) =>
      line(`request ${i} ${i % 10 === 0 ? 'failed: connection refused' : 'served'}`, {
        timeMs: base + i * 10_000,
        level: i % 10 === 0 ? LogLevel.LOG_LEVEL_ERROR : LogLevel.LOG_LEVEL_INFO,
        source: i % 2 ? 'nginx' : 'journal',
        labels: i % 2 ? { container: 'web' } : { unit: 'nginx.service' },
        fields: { status: i % 10 === 0 ? '502' : '200' },
      }),
    );
    a.s.send(logReportMessage(1, records));
    expect((await ack(a.s)).error).toBe('');
    a.s.close();
  });

  it("pages newest first with a cursor, filters by the query, and names a bad query's position", async () => {
    const viewer = (await t.session('viewer')).headers;
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await get(
        `/api/logs?q=${encodeURIComponent('host:lg-api-host')}&from=0&limit=25${cursor ? `&cursor=${cursor}` : ''}`,
        viewer,
      );
      expect(r.status).toBe(200);
      seen.push(...(r.body.lines as { message: string }[]).map((l) => l.message));
      cursor = r.body.cursor as string | undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(60);
    expect(seen[0]).toBe('request 59 served');
    expect(seen[59]).toMatch(/^request 0 failed/);
    const errs = await get(
      `/api/logs?q=${encodeURIComponent('"connection refused" level>=error status:502 -source:nginx')}&from=0`,
      viewer,
    );
    expect((errs.body.lines as unknown[]).length).toBe(6);
    const bad = await get(`/api/logs?q=${encodeURIComponent('level>=loud')}`, viewer);
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_query' } } });
    expect(bad.body.error?.message).toMatch(/position 1: unknown level "loud"/);
    const badCursor = await get('/api/logs?cursor=zzz', viewer);
    expect(badCursor.status).toBe(400);
  });

  it('counts lines per bucket and level, and values of the facets', async () => {
    const viewer = (await t.session('viewer')).headers;
    const to = Date.now();
    const h = await get(`/api/logs/histogram?q=host:lg-api-host&from=${to - 3_600_000}&to=${to}&step=60000`, viewer);
    expect(h.status).toBe(200);
    const buckets = h.body.buckets as { count: number; levels: Record<string, number> }[];
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(60);
    expect(buckets.reduce((n, b) => n + (b.levels.error ?? 0), 0)).toBe(6);
    const tooFine = await get(`/api/logs/histogram?from=0&to=${to}&step=1000`, viewer);
    expect(tooFine.status).toBe(400);
    const f = await get(`/api/logs/facets?q=host:lg-api-host&from=${to - 3_600_000}&to=${to}`, viewer);
    expect(f.body.total).toBe(60);
    const facets = f.body.facets as Record<string, { value: string; count: number }[]>;
    expect(facets.level).toEqual([
      { value: 'info', count: 54 },
      { value: 'error', count: 6 },
    ]);
    expect(facets.source).toEqual([
      { value: 'journal', count: 30 },
      { value: 'nginx', count: 30 },
    ]);
    expect(facets.container).toEqual([{ value: 'web', count: 30 }]);
    expect(facets.unit).toEqual([{ value: 'nginx.service', count: 30 }]);
    expect(facets.host).toEqual([{ value: 'lg-api-host', count: 60 }]);
  });

  it('is for signed-in users: no credentials or an agent token get 401', async () => {
    expect((await get('/api/logs')).status).toBe(401);
    const a = await connect('lg-agent-token');
    a.s.close();
    expect((await get('/api/logs', { authorization: `Bearer ${a.token}` })).status).toBe(401);
    expect((await get('/api/logs/facets', { authorization: `Bearer ${a.token}` })).status).toBe(401);
    expect((await get('/api/logs', (await t.token('viewer')).headers)).status).toBe(200);
  });
});

describe('live tail over /api/live', () => {
  it("pushes the lines matching the socket's query as they are stored", async () => {
    const { headers } = await t.session('viewer');
    const ws = new WebSocket(`${t.base.replace('http', 'ws')}/api/live`, { headers });
    const got: { type: string; lines?: { message: string }[]; error?: { message: string } }[] = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'logs_tail', q: 'level>=error (' }));
    await eventually(() => got.some((m) => m.type === 'error'));
    expect(got.find((m) => m.type === 'error')?.error?.message).toMatch(/logs_tail q: position 14: unclosed \(/);
    ws.send(JSON.stringify({ type: 'logs_tail', q: 'level>=error host:lg-tail-host' }));
    const a = await connect('lg-tail');
    let seq = 0;
    // The tail is set once the server has read the message; a report sent after that is tailed.
    await eventually(async () => {
      a.s.send(logReportMessage(++seq, [line('tail probe', { level: LogLevel.LOG_LEVEL_ERROR })]));
      expect((await ack(a.s)).error).toBe('');
      return got.some((m) => m.type === 'logs');
    });
    const before = got.filter((m) => m.type === 'logs').length;
    a.s.send(logReportMessage(++seq, [line('quiet info'), line('boom: worker crashed', { level: LogLevel.LOG_LEVEL_FATAL })]));
    expect((await ack(a.s)).error).toBe('');
    await eventually(() => got.filter((m) => m.type === 'logs').length > before);
    const last = got.filter((m) => m.type === 'logs').at(-1);
    expect(last?.lines?.map((l) => l.message)).toEqual(['boom: worker crashed']);
    ws.send(JSON.stringify({ type: 'logs_untail' }));
    a.s.close();
    ws.close();
  });
});

describe('log reports on a server whose stores are on PostgreSQL', () => {
  it('stores them in PostgreSQL exactly once and answers /api/logs from there', async () => {
    const db = await createTempDatabase('falconet_logs_srv');
    const pgServer = await startTestServer({ databaseUrl: db.url });
    try {
      expect((await pgServer.server.logs.stats()).engine).toBe('postgres');
      const pgTarget = `127.0.0.1:${pgServer.server.addresses?.grpc.port}`;
      const { token } = await pgServer.server.ingest.tokens.create('lg-pg-host');
      const s = rawStream(pgTarget);
      await registerOn(s, registerMessage('lg-pg', { hostname: 'lg-pg-host', token }));
      s.send(logReportMessage(1, [line('stored in postgres'), line('second line', { level: LogLevel.LOG_LEVEL_ERROR })]));
      expect((await ack(s)).error).toBe('');
      s.close();
      const again = rawStream(pgTarget);
      expect((await registerOn(again, registerMessage('lg-pg', { hostname: 'lg-pg-host', token }))).lastSeq).toBe(1);
      again.send(logReportMessage(1, [line('stored in postgres')]));
      expect((await ack(again)).error).toMatch(/sequence 1 replayed/);
      again.close();
      const r = await fetch(`${pgServer.base}/api/logs?q=${encodeURIComponent('host:lg-pg-host')}&from=0`, {
        headers: (await pgServer.session('viewer')).headers,
      });
      const body = (await r.json()) as { lines: { message: string; level: string }[] };
      expect(body.lines.map((l) => [l.message, l.level])).toEqual([
        ['second line', 'error'],
        ['stored in postgres', 'info'],
      ]);
    } finally {
      await pgServer.stop();
      await db.drop();
    }
  });
});
