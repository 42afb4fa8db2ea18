/**
 * The push paths and listeners from an attacker's seat, on a real server with users: a sender on
 * the Open-Falcon TCP port without a good token, an operator token pushing past every cap (over
 * TCP and HTTP, one budget), and clients too slow to finish a request on each listener. Each is
 * refused, counted on /metrics and audited, while ordinary requests go on.
 */
import { AgentChannelClient } from '@falconet/protocol';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually } from '../../../testing/processes.ts';
import { dribble } from '../../../testing/slow-client.ts';
import { openLines } from '../../../testing/tcp-lines.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

let t: TestServer;
let tcpPort = 0;
let grpcPort = 0;
let admin: Record<string, string>;

beforeAll(async () => {
  t = await startTestServer({
    config: {
      transfer_listen: '127.0.0.1:0',
      // On loopback a token is optional unless asked for; here it is asked for.
      transfer: { require_token: true, auth_timeout: '1s', idle_timeout: '2s' },
      http: { headers_timeout: '1s', request_timeout: '2s' },
      ingest: {
        register_timeout: '1s',
        push: {
          max_series_per_sender: 50,
          max_hosts_per_sender: 5,
          max_labels_per_series: 8,
          max_label_name_length: 64,
          max_label_value_length: 128,
          // One sample a second after the burst: the burst is what the test spends.
          samples_per_second: 1,
          burst: 400,
        },
      },
    },
  });
  tcpPort = t.server.addresses?.transfer?.port ?? 0;
  grpcPort = t.server.addresses?.grpc.port ?? 0;
  admin = (await t.token('admin')).headers;
});
afterAll(async () => {
  await t?.stop();
});

async function metric(pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${t.base}/metrics`, { headers: admin })).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}
const rejected = (channel: string, reason: string) =>
  metric(new RegExp(`^falconet_server_ingest_rejected_total\\{channel="${channel}",reason="${reason}"\\} (\\d+)`, 'm'));
const cut = (listener: string, reason: string) =>
  metric(new RegExp(`^falconet_server_connections_cut_total\\{listener="${listener}",reason="${reason}"\\} (\\d+)`, 'm'));

async function audit(action: string) {
  return await t.server.auth.audit.query({ action, limit: 100 });
}

const record = (host: string, metricName: string, tags = '') => ({ metric: metricName, endpoint: host, tags, value: 1 });

describe('the Open-Falcon TCP listener refuses senders without a good token', () => {
  it('answers, counts, audits and closes each refused connection; stores nothing', async () => {
    const viewer = await t.server.auth.tokens.create({
      name: 'tcp-viewer',
      role: 'viewer',
      scopes: ['*'],
      expiresMs: 0,
      createdBy: 'test',
    });
    const scoped = await t.server.auth.tokens.create({
      name: 'tcp-scoped',
      role: 'operator',
      scopes: ['/api/metrics'],
      expiresMs: 0,
      createdBy: 'test',
    });
    const cases: { first: object; reason: string; message: RegExp }[] = [
      {
        first: record('victim', 'x'),
        reason: 'token_missing',
        message: /^line 1: this listener needs a token: send \{"token":"fnt_\.\.\."\}/,
      },
      { first: { token: 'fnt_not-a-token' }, reason: 'token_invalid', message: /^line 1: API token is not known$/ },
      {
        first: { token: viewer.token },
        reason: 'token_forbidden',
        message: /API token tcp-viewer is viewer; pushing needs the operator role/,
      },
      { first: { token: scoped.token }, reason: 'token_forbidden', message: /API token tcp-scoped has no scope for \/api\/v1\/push/ },
    ];
    for (const c of cases) {
      const client = await openLines('127.0.0.1', tcpPort);
      client.send([c.first, record('victim', 'after_refusal')]);
      await client.closed;
      expect(client.replies.map((r) => r.error)).toEqual([expect.stringMatching(c.message)]);
      expect(await rejected('tcp', c.reason), c.reason).toBeGreaterThan(0);
    }
    // A sender that says nothing is cut once transfer.auth_timeout is over.
    const silent = await openLines('127.0.0.1', tcpPort);
    await silent.closed;
    expect(await cut('tcp', 'auth_timeout')).toBe(1);

    const entries = await audit('push.connect');
    expect(entries.map((e) => [e.actor, e.outcome, e.detail.reason])).toEqual(
      expect.arrayContaining([
        ['anonymous', 'denied', 'token_missing'],
        ['anonymous', 'denied', 'token_invalid'],
        ['token:tcp-viewer', 'denied', 'token_forbidden'],
        ['token:tcp-scoped', 'denied', 'token_forbidden'],
      ]),
    );
    expect(entries.every((e) => e.address === '127.0.0.1')).toBe(true);
    expect(t.server.registry.get('push:victim')).toBeUndefined();
    expect(await metric(/^falconet_server_ingest_samples_total\{channel="tcp"\} (\d+)/m)).toBe(0);
  });

  it('cuts a live connection when its token is revoked', async () => {
    const made = await t.server.auth.tokens.create({
      name: 'tcp-revoked',
      role: 'operator',
      scopes: ['*'],
      expiresMs: 0,
      createdBy: 'test',
    });
    const client = await openLines('127.0.0.1', tcpPort);
    client.send([{ token: made.token }, record('revoked-host', 'before_revocation')]);
    await eventually(() => t.server.registry.get('push:revoked-host'));
    const res = await fetch(`${t.base}/api/tokens/${made.record.id}`, { method: 'DELETE', headers: admin });
    expect(res.status).toBe(204);
    await client.closed;
  });
});

describe('push caps, one budget per sender over TCP and HTTP', () => {
  it('refuses series, hosts, labels, lengths and rate past the caps by name; counts and audits them', async () => {
    const op = await t.server.auth.tokens.create({
      name: 'pusher',
      role: 'operator',
      scopes: ['/api/v1/push'],
      expiresMs: 0,
      createdBy: 'test',
    });
    const client = await openLines('127.0.0.1', tcpPort);
    const lines: object[] = [{ token: op.token }];
    // Five hosts are allowed, a sixth is not.
    for (let h = 1; h <= 6; h++) lines.push(record(`cap-h${h}`, 'up'));
    // Fifty series in all; the fifty-first is refused.
    for (let i = 0; i < 45; i++) lines.push(record('cap-h1', 'series', `i=${i}`));
    lines.push(record('cap-h1', 'series', 'i=overflow'));
    // Shapes: nine labels (host included), a long name, a long value.
    lines.push(record('cap-h1', 'wide', 'a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8'));
    lines.push(record('cap-h1', 'n'.repeat(65)));
    lines.push(record('cap-h1', 'up', `v=${'x'.repeat(129)}`));
    client.send(lines);
    await eventually(() => client.replies.length >= 5);
    expect(client.replies.map((r) => r.error)).toEqual([
      expect.stringMatching(
        /^line 7: token:pusher has pushed for 5 hosts within the last hour; at most 5 \(ingest\.push\.max_hosts_per_sender\)/,
      ),
      expect.stringMatching(
        /^line 53: token:pusher has pushed 50 series within the last hour; at most 50 \(ingest\.push\.max_series_per_sender\)/,
      ),
      'line 54: 9 labels; at most 8 per series (ingest.push.max_labels_per_series)',
      'line 55: metric name of 65 characters; at most 64 (ingest.push.max_label_name_length)',
      'line 56: label v has a value of 129 characters; at most 128 (ingest.push.max_label_value_length)',
    ]);
    // The burst (400) is spent by known series; past it every line is refused, and the connection goes on.
    const known = Array.from({ length: 500 }, () => record('cap-h1', 'up'));
    client.send(known);
    await eventually(() => client.replies.length >= 5 + 100);
    const rateReplies = client.replies.slice(5);
    expect(
      rateReplies.every((r) => /over 1 samples per second \(ingest\.push\.samples_per_second\); retry in \d+ s$/.test(r.error ?? '')),
    ).toBe(true);

    // The same token over HTTP shares the budget: refused with 429 and when to retry.
    const post = (body: unknown[], headers: Record<string, string>) =>
      fetch(`${t.base}/api/v1/push`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const http = await post([record('cap-h1', 'up')], { authorization: `Bearer ${op.token}` });
    expect(http.status).toBe(429);
    expect(Number(http.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await http.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    // Another operator has a budget of its own; over HTTP the first capped record refuses the request.
    const other = (await t.token('operator')).headers;
    const wide = await post([record('cap-h7', 'fine'), record('cap-h7', 'wide', 'a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8')], other);
    expect(wide.status).toBe(400);
    expect(await wide.json()).toEqual({
      error: { code: 'too_many_labels', message: 'body 1: 9 labels; at most 8 per series (ingest.push.max_labels_per_series)' },
    });
    const hosts = await post(
      Array.from({ length: 6 }, (_, i) => record(`other-h${i}`, 'up')),
      other,
    );
    expect(hosts.status).toBe(400);
    expect(((await hosts.json()) as { error: { code: string } }).error.code).toBe('too_many_hosts');
    expect((await post([record('cap-h7', 'fine')], other)).status).toBe(200);

    for (const [channel, reason] of [
      ['tcp', 'too_many_hosts'],
      ['tcp', 'too_many_series'],
      ['tcp', 'too_many_labels'],
      ['tcp', 'label_too_long'],
      ['tcp', 'rate_limited'],
      ['http', 'rate_limited'],
      ['http', 'too_many_labels'],
      ['http', 'too_many_hosts'],
    ]) {
      expect(await rejected(channel as string, reason as string), `${channel} ${reason}`).toBeGreaterThan(0);
    }
    expect(await rejected('tcp', 'label_too_long')).toBe(2);
    // Nothing refused was stored: the sixth host, the 51st series, the wide series.
    expect(t.server.registry.get('push:cap-h6')).toBeUndefined();
    expect(await t.server.store.metricNames('push:cap-h1')).toEqual(expect.not.arrayContaining(['wide']));
    expect(await t.server.store.metricNames('push:cap-h7')).toEqual(['fine']);

    // Audited once per connection and kind over TCP, and every refused request over HTTP.
    const tcp = await eventually(async () => {
      const e = await audit('push.refused');
      return e.length >= 5 ? e : undefined;
    });
    expect(new Set(tcp.map((e) => `${e.actor} ${e.outcome} ${e.detail.reason}`))).toEqual(
      new Set(
        ['too_many_hosts', 'too_many_series', 'too_many_labels', 'label_too_long', 'rate_limited'].map((r) => `token:pusher failed ${r}`),
      ),
    );
    const posts = await audit('POST /api/v1/push');
    expect(posts.filter((e) => e.outcome === 'failed').map((e) => e.detail.status)).toEqual(expect.arrayContaining([429, 400, 400]));
    client.end();
  });
});

describe('timeouts on every listener', () => {
  it('cuts an HTTP client that dribbles its headers or never finishes its body; others are served meanwhile', async () => {
    const before = await cut('http', 'request_timeout');
    // A live socket outlives the request deadlines: they bound receiving a request, not a connection.
    const live = new WebSocket(`ws://127.0.0.1:${t.port}/api/live`, { headers: admin });
    await new Promise((r) => live.once('open', r));
    let liveClosed = false;
    live.once('close', () => {
      liveClosed = true;
    });
    const slowHeaders = dribble(t.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const slowBody = dribble(
      t.port,
      `POST /api/v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${admin.authorization}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[`,
    );
    // Ordinary requests go on while the slow ones are held.
    for (let i = 0; i < 5; i++) expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    expect(await slowHeaders).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(await slowBody).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(await cut('http', 'request_timeout')).toBe(before + 2);
    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    expect(liveClosed).toBe(false);
    live.close();
  });

  it('cuts an idle TCP sender after transfer.idle_timeout', async () => {
    const op = await t.server.auth.tokens.create({ name: 'idle', role: 'operator', scopes: ['*'], expiresMs: 0, createdBy: 'test' });
    const client = await openLines('127.0.0.1', tcpPort);
    client.send([{ token: op.token }]);
    await client.closed;
    expect(client.replies).toEqual([]);
    expect(await cut('tcp', 'idle_timeout')).toBeGreaterThanOrEqual(1);
  });

  it('ends an agent stream that sends no Register within ingest.register_timeout', async () => {
    const client = new AgentChannelClient(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    const call = client.connect();
    const err = await new Promise<ServiceError>((resolve) => call.on('error', resolve));
    client.close();
    expect(err.details).toBe('no Register within 1 s (ingest.register_timeout)');
    expect(await cut('grpc', 'register_timeout')).toBe(1);
    expect(await rejected('grpc', 'timeout')).toBe(1);
  });
});
