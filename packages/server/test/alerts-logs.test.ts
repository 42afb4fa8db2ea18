/**
 * Alert rules on logs (kind log_lines) on a real server: lines arrive as LOGS reports on the real
 * agent channel, the rule counts matching lines in its window through the log store, and the
 * evaluator, silences, grouping and a real webhook receiver do the rest. Also the rules file, the
 * REST API's validation and roles, the preview, and the cost of a count in blocks read.
 */
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogLevel, pb } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logReportMessage, type RawStream, rawStream, registerMessage, registerOn } from '../../../testing/agent-channel.ts';
import { createTempDatabase } from '../../../testing/postgres.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../../../testing/receivers.ts';
import type { AlertService } from '../src/alerts/service.ts';
import { countLines } from '../src/logs/count.ts';
import { EmbeddedLogStore } from '../src/logs/embedded.ts';
import { PostgresLogStore } from '../src/logs/postgres.ts';
import { LogFilter } from '../src/logs/query.ts';
import type { LogStore } from '../src/logs/types.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

const ALERTS = { evaluation_interval: '1h', group_wait: '0s', group_interval: '0s', startup_grace: 0, warm_from_store: false };

let http: HttpReceiver;
let t: TestServer;
let target = '';
let rulesFile = '';
const seqs = new Map<string, { s: RawStream; seq: number }>();

beforeAll(async () => {
  http = await startHttpReceiver();
  rulesFile = join(tempDir(), 'alerts.yaml');
  writeFileSync(
    rulesFile,
    [
      'channels:',
      '  - name: hook',
      '    type: webhook',
      `    url: ${http.url}/hook`,
      'rules:',
      '  - name: Fleet refusing connections',
      '    kind: log_lines',
      '    query: \'"connection refused" level>=error\'',
      '    scope: fleet',
      '    window: 1m',
      '    threshold: 10',
      '    channels: [hook]',
      '',
    ].join('\n'),
  );
  t = await startTestServer({
    config: { alerts: { ...ALERTS, rules_file: rulesFile }, ingest: { max_clock_skew: '1m' }, syslog: { listen: '127.0.0.1:0' } },
  });
  target = `127.0.0.1:${t.server.addresses?.grpc.port}`;
});
afterAll(async () => {
  for (const c of seqs.values()) c.s.close();
  await t?.stop();
  await http?.close();
});

async function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function line(message: string, level: LogLevel = LogLevel.LOG_LEVEL_ERROR): pb.LogRecord {
  const now = Date.now();
  return pb.LogRecord.fromPartial({ timeMs: now, observedMs: now, source: 'app', stream: '/var/log/app.log', level, message });
}

/** Sends one LOGS report as agent `id` (registered on first use) and waits for its ack. */
async function ship(id: string, records: pb.LogRecord[]): Promise<void> {
  let c = seqs.get(id);
  if (!c) {
    const { token } = await t.server.ingest.tokens.create(`${id}-host`);
    const s = rawStream(target);
    await registerOn(s, registerMessage(id, { hostname: `${id}-host`, token }));
    c = { s, seq: 0 };
    seqs.set(id, c);
  }
  c.seq++;
  c.s.send(logReportMessage(c.seq, records));
  const m = await c.s.next();
  if (m.body?.$case !== 'ack' || m.body.value.error) throw new Error(`report not acknowledged: ${JSON.stringify(m)}`);
}

const refused = (n: number) => Array.from({ length: n }, (_, i) => line(`upstream ${i}: connection refused`));
const noise = (n: number) => Array.from({ length: n }, (_, i) => line(`request ${i} served`, LogLevel.LOG_LEVEL_INFO));

async function settle(alerts: AlertService) {
  const transitions = await alerts.runCycle();
  alerts.tick();
  await alerts.queue.idle();
  await alerts.flushed();
  return transitions;
}

const hooks = (rule: string) => http.requests.filter((r) => r.body.includes(rule)).map((r) => r.json as Record<string, unknown>);

describe('log_lines rules on a real server', () => {
  it('fires per host for the host over N only, fleet-wide on the sum, and names query, count, window and the Logs link', async () => {
    const alerts = t.server.alerts as AlertService;
    const op = await t.session('operator');
    const made = await call('POST', '/api/alerts/rules', op.mutating, {
      name: 'Refusing connections',
      kind: 'log_lines',
      query: '"connection refused" level>=error',
      window: '1m',
      threshold: 5,
      channels: ['hook'],
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ kind: 'log_lines', query: '"connection refused" level>=error', threshold: 5 });

    await ship('la', [...refused(8), ...noise(30)]);
    await ship('lb', [...refused(3), ...noise(30)]);
    // Lines that match the words but not the level do not count.
    await ship(
      'lb',
      refused(4).map((l) => ({ ...l, level: LogLevel.LOG_LEVEL_INFO })),
    );

    const fired = await settle(alerts);
    const got = fired.map((x) => `${x.rule.name} ${x.alert.labels.host ?? '-'} ${x.to} ${x.alert.value}`).sort();
    expect(got).toEqual(['Fleet refusing connections - firing 11', 'Refusing connections la-host firing 8']);

    const perHost = await http.waitFor(() => hooks('Refusing connections la-host').length > 0 || hooks('Refusing connections').length > 0);
    expect(perHost.length).toBeGreaterThan(0);
    const msg = hooks('Refusing connections').find((b) => JSON.stringify(b).includes('la-host'));
    const text = JSON.stringify(msg);
    expect(text).toContain('8 lines matching \\"\\\\\\"connection refused\\\\\\" level>=error\\" in 1m (> 5)');
    const url = new URL(/\/logs\?[^"\\ ]+/.exec(text)?.[0] ?? '', 'http://x');
    expect(url.searchParams.get('q')).toBe('agent:la ("connection refused" level>=error)');
    expect(Number(url.searchParams.get('to')) - Number(url.searchParams.get('from'))).toBe(60_000);
    expect(text).not.toContain('lb-host');

    const fleet = JSON.stringify(hooks('Fleet refusing connections'));
    expect(fleet).toContain('11 lines matching');
    expect(fleet).toContain('/logs?q=%22connection+refused%22+level%3E%3Derror&from=');
  });

  it('resolves when the window slides past the lines', async () => {
    const alerts = t.server.alerts as AlertService;
    const op = await t.session('operator');
    await call('POST', '/api/alerts/rules', op.mutating, {
      name: 'Panics',
      kind: 'log_lines',
      query: 'panic',
      window: '15s',
      threshold: 2,
      channels: ['hook'],
    });
    await ship('lc', [line('kernel panic one'), line('panic two'), line('panic three')]);
    expect((await settle(alerts)).map((x) => `${x.rule.name} ${x.alert.labels.host} ${x.to}`)).toContain('Panics lc-host firing');
    // No new lines: once they are older than 15 s the count drops to 0 and the alert resolves.
    await eventually(async () => (await settle(alerts)).some((x) => x.rule.name === 'Panics' && x.to === 'resolved'), 90_000);
    await http.waitFor(() => hooks('Panics').some((b) => b.status === 'resolved'));
  }, 120_000);

  it('sends nothing for a silenced rule, though it fires', async () => {
    const alerts = t.server.alerts as AlertService;
    const op = await t.session('operator');
    await call('POST', '/api/alerts/rules', op.mutating, {
      name: 'Quiet timeouts',
      kind: 'log_lines',
      query: 'timeout',
      window: '1m',
      threshold: 1,
      channels: ['hook'],
    });
    const silence = await call('POST', '/api/alerts/silences', op.mutating, {
      matchers: { alertname: 'Quiet timeouts' },
      duration: '1h',
      comment: 'known',
    });
    expect(silence.status).toBe(201);
    await ship('ld', [line('read timeout'), line('write timeout')]);
    const fired = await settle(alerts);
    expect(fired.map((x) => `${x.rule.name} ${x.alert.labels.host} ${x.to}`)).toContain('Quiet timeouts ld-host firing');
    await settle(alerts);
    expect(hooks('Quiet timeouts')).toEqual([]);
  });

  it("holds a breach pending for the rule's for, sending nothing until it fires", async () => {
    const alerts = t.server.alerts as AlertService;
    const op = await t.session('operator');
    await call('POST', '/api/alerts/rules', op.mutating, {
      name: 'Slow OOMs',
      kind: 'log_lines',
      query: 'oom',
      window: '1m',
      threshold: 0,
      for: '1h',
      channels: ['hook'],
    });
    await ship('lf', [line('oom killed process 42')]);
    const pending = await settle(alerts);
    expect(pending.filter((x) => x.rule.name === 'Slow OOMs').map((x) => `${x.alert.labels.host} ${x.from}->${x.to}`)).toEqual([
      'lf-host inactive->pending',
    ]);
    expect(hooks('Slow OOMs')).toEqual([]);
  });

  it("judges a syslog sender (no agent) under its own host, the sender's address", async () => {
    const alerts = t.server.alerts as AlertService;
    const op = await t.session('operator');
    await call('POST', '/api/alerts/rules', op.mutating, {
      name: 'Links down',
      kind: 'log_lines',
      query: '"link down"',
      window: '1m',
      threshold: 0,
      channels: ['hook'],
    });
    const udp = createSocket('udp4');
    const msg = `<11>1 ${new Date().toISOString()} router-1 ifmgr - - - eth3 link down`;
    await new Promise<void>((r) => udp.send(msg, t.server.addresses?.syslog?.port as number, '127.0.0.1', () => r()));
    udp.close();
    await eventually(async () => (await countLines(t.server.logs, new LogFilter('"link down"'), 0, Date.now() + 60_000)).size > 0);
    const fired = await settle(alerts);
    const links = fired.filter((x) => x.rule.name === 'Links down');
    expect(links.map((x) => `${x.alert.labels.host} ${x.to} ${x.alert.value}`)).toEqual(['127.0.0.1 firing 1']);
    expect(links[0]?.alert.labels.agent).toBeUndefined();
    const sent = await http.waitFor(() => hooks('Links down').length > 0);
    expect(JSON.stringify(sent.filter((r) => r.body.includes('Links down')).map((r) => r.json))).toContain(
      '/logs?q=host%3A127.0.0.1+%28%22link+down%22%29',
    );
  });

  it('refuses a bad query at save naming its position, other misplaced fields, and viewers', async () => {
    const op = await t.session('operator');
    const viewer = await t.session('viewer');
    const spec = { name: 'Bad', kind: 'log_lines', query: 'level>=warn "unclosed', threshold: 1 };
    const bad = await call('POST', '/api/alerts/rules', op.mutating, spec);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('body query: position 13: unclosed quote');
    const noQuery = await call('POST', '/api/alerts/rules', op.mutating, { name: 'x', kind: 'log_lines', threshold: 1 });
    expect(noQuery.body.error.message).toMatch(/query: required for a log_lines rule/);
    const wrongKind = await call('POST', '/api/alerts/rules', op.mutating, {
      name: 'x',
      metric: 'm',
      threshold: 1,
      query: 'error',
      scope: 'fleet',
    });
    expect(wrongKind.body.error.message).toMatch(/query: not used by a threshold rule/);
    expect(wrongKind.body.error.message).toMatch(/scope: not used by a threshold rule/);
    const good = { ...spec, query: 'level>=warn "unclosed"' };
    expect((await call('POST', '/api/alerts/rules', viewer.mutating, good)).status).toBe(403);
    expect((await call('POST', '/api/alerts/rules', (await t.token('viewer')).mutating, good)).status).toBe(403);
  });

  it('refuses a rules file with a bad query, naming file:line:col and the position', async () => {
    const file = join(tempDir(), 'alerts.yaml');
    writeFileSync(file, 'rules:\n  - name: x\n    kind: log_lines\n    threshold: 1\n    query: "a (b"\n');
    await expect(startTestServer({ config: { alerts: { ...ALERTS, rules_file: file } } })).rejects.toThrow(
      `${file}:5:12: rules.0.query: position`,
    );
  });

  it("previews a draft rule with each host's count, and the fleet's", async () => {
    const viewer = await t.session('viewer');
    await ship('le', refused(6));
    const draft = { name: 'd', kind: 'log_lines', query: '"connection refused" level>=error', window: '1m', threshold: 5 };
    const p = await call('POST', '/api/alerts/preview', viewer.mutating, draft);
    expect(p.status).toBe(200);
    const items = p.body.items as { host: string; value: number; breach: boolean }[];
    expect(items.find((i) => i.host === 'le-host')).toMatchObject({ value: 6, breach: true });
    expect(items.find((i) => i.host === 'lb-host')).toMatchObject({ breach: false });
    expect(p.body.condition).toBe(`lines matching ${JSON.stringify(draft.query)} in 1m > 5`);
    const fleet = await call('POST', '/api/alerts/preview', viewer.mutating, { ...draft, scope: 'fleet' });
    expect(fleet.body.items).toHaveLength(1);
    expect(fleet.body.items[0].value).toBeGreaterThanOrEqual(6 + 8 + 3);
  });
});

describe('counting lines', () => {
  it('reads only the blocks of the window, not the day before it', async () => {
    const store = await EmbeddedLogStore.open({ dir: tempDir(), retentionMs: 7 * 86_400_000, maxBytes: 1e12 });
    try {
      const now = Date.now();
      // 48 reports, one per half hour of the last day, each its own time range.
      for (let i = 47; i >= 0; i--) {
        const at = now - i * 1_800_000;
        const recs = Array.from({ length: 50 }, (_, j) =>
          pb.LogRecord.fromPartial({
            timeMs: at - j,
            observedMs: at,
            source: 'app',
            level: LogLevel.LOG_LEVEL_ERROR,
            message: `oops ${j}`,
          }),
        );
        await store.appendReport('a1', 'h1', 48 - i, recs);
      }
      await store.settled();
      const before = store.blocksRead;
      const counts = await countLines(store, new LogFilter('oops'), now - 300_000, now);
      expect(counts.get('a1')).toEqual({ agentId: 'a1', host: 'h1', count: 50 });
      const windowReads = store.blocksRead - before;
      const all = await countLines(store, new LogFilter('oops'), now - 86_400_000 - 60_000, now);
      expect(all.get('a1')?.count).toBe(48 * 50);
      const dayReads = store.blocksRead - before - windowReads;
      // The last report's block (two if a UTC day's segment closed at the wrong moment), of the day's many.
      expect(windowReads).toBeGreaterThanOrEqual(1);
      expect(windowReads).toBeLessThanOrEqual(2);
      expect(dayReads).toBe((await store.stats()).blocks);
      expect(dayReads).toBeGreaterThan(10);

      // A query the index decides (levels, host, agent, source) counts whole blocks from the index.
      const beforeExact = store.blocksRead;
      expect((await countLines(store, new LogFilter('level>=error host:h1'), now - 86_400_000 - 60_000, now)).get('a1')?.count).toBe(
        48 * 50,
      );
      expect(store.blocksRead - beforeExact).toBe(0);
      // A block the window cuts is read and its lines counted one by one.
      expect((await countLines(store, new LogFilter('level>=error'), now - 20, now)).get('a1')?.count).toBe(21);
      expect(store.blocksRead - beforeExact).toBe(1);
      // The index's count agrees with visiting every line, whatever the query.
      for (const q of [
        '',
        'level>=error',
        'level:warn',
        'host:h1',
        'host:h1 host:h2',
        'agent:a1 source:app',
        'oops 7',
        '-oops',
        'host:h*',
      ]) {
        for (const [from, to] of [
          [now - 86_400_000 - 60_000, now],
          [now - 3_600_000 - 25, now - 1_800_000],
        ] as const) {
          let visited = 0;
          await store.each({ filter: new LogFilter(q), fromMs: from, toMs: to }, () => visited++);
          const counted = (await store.count({ filter: new LogFilter(q), fromMs: from, toMs: to })).get('a1')?.count ?? 0;
          expect(counted, q).toBe(visited);
        }
      }
    } finally {
      await store.close();
    }
  });

  it('counts per agent within the window alike on the embedded store and on PostgreSQL', async () => {
    const db = await createTempDatabase('falconet_logalerts');
    const stores: LogStore[] = [
      await EmbeddedLogStore.open({ dir: tempDir(), retentionMs: 0, maxBytes: 0 }),
      await PostgresLogStore.open({ url: db.url, retentionMs: 0, maxBytes: 0 }),
    ];
    try {
      const now = Date.now();
      const rec = (ago: number, message: string) =>
        pb.LogRecord.fromPartial({ timeMs: now - ago, observedMs: now, source: 'app', level: LogLevel.LOG_LEVEL_ERROR, message });
      for (const s of stores) {
        await s.appendReport('a1', 'h1', 1, [rec(10_000, 'disk error'), rec(20_000, 'disk error'), rec(400_000, 'disk error')]);
        await s.appendReport('a2', 'h2', 1, [rec(5_000, 'disk error'), rec(5_000, 'all fine')]);
        const counts = await countLines(s, new LogFilter('disk error'), now - 300_000, now);
        expect(Object.fromEntries(counts)).toEqual({
          a1: { agentId: 'a1', host: 'h1', count: 2 },
          a2: { agentId: 'a2', host: 'h2', count: 1 },
        });
      }
    } finally {
      for (const s of stores) await s.close();
      await db.drop();
    }
  });
});
