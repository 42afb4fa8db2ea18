/**
 * Issue 26, from the attacker's seat, against a real server on loopback (users of every role),
 * a real agent process, and real HTTP receivers standing for the channel owner's service, an
 * internal service and the attacker's own:
 * - an operator repoints a channel to their own address while sending back the masked secrets,
 *   then has "test" deliver them there: refused (400 secret_required), counted, audited; the
 *   owner's channel still delivers with its own secrets;
 * - "test" on a channel aimed at a service that answers with secret-looking text: the caller, the
 *   delivery records and the audit log get a fixed phrase, never the answer;
 * - matchers that backtrack for ages in JavaScript (`(a+)+$` against 40 a's and a "!") run on
 *   RE2: the server answers, and a too-long or unsupported pattern is refused naming its field;
 * - a viewer reads tasks over REST and /api/live: environment values masked, names kept.
 */
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { AgentTokens } from '../packages/server/src/agents/tokens.ts';
import { startTestServer, type TestServer } from '../packages/server/test/support/auth.ts';
import { scrapedValue } from '../testing/exposition.ts';
import { type AgentProc, eventually, freePort, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../testing/receivers.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

/** Everything the REST API answered in this file, to show no stored secret is ever in it. */
const answered: string[] = [];

async function api(base: { base: string }, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(base.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
    // A server stuck in a regular expression never answers: the request fails instead of the test hanging.
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  answered.push(text);
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json, text };
}

const counter = (metrics: string, name: string, labels: Record<string, string>) => scrapedValue(metrics, name, labels) ?? Number.NaN;

let t: TestServer;
let agent: AgentProc;
let agentId: string;
let owner: HttpReceiver;
let attacker: HttpReceiver;
let internal: HttpReceiver;

beforeAll(async () => {
  [owner, attacker, internal] = await Promise.all([startHttpReceiver(), startHttpReceiver(), startHttpReceiver()]);
  t = await startTestServer({
    config: {
      alerts: { evaluation_interval: '1s', group_wait: '0s', group_interval: '0s', startup_grace: 0, warm_from_store: false },
    },
  });
  const dir = tempDir('falconet-sec-alerts-');
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    stringify({ tasks: { enabled: true, allow: [{ command: '/bin/echo', args: ['[a-z]+'], env: ['API_TOKEN'] }], timeout: '20s' } }),
  );
  // Users exist, so the agent needs its own token: made as `create-token --agent` makes it.
  const { token } = await new AgentTokens(t.server.meta).create(hostname());
  agent = await startAgent({ server: `127.0.0.1:${t.server.addresses?.grpc.port}`, args: ['--config', config, '--token', token] });
  agentId = (JSON.parse(await agent.waitFor(/"reporting to server"/)) as { agentId: string }).agentId;
  await agent.waitFor(/pinned the server task-signing key/);
});

afterAll(async () => {
  await agent?.stop();
  await t?.stop();
  await Promise.all([owner, attacker, internal].map((r) => r?.close()));
});

describe('channel secrets are write-only', () => {
  // The owner's channels, one per type that sends a secret somewhere, each secret marked S3CRET.
  const channels = () => [
    {
      name: 'owner-hook',
      type: 'webhook',
      url: `${owner.url}/hook?token=S3CRET-query`,
      secret: 'S3CRET-hmac',
      headers: { Authorization: 'Bearer S3CRET-bearer' },
    },
    { name: 'owner-telegram', type: 'telegram', bot_token: '123:S3CRET-bot', chat_id: -1001, api_url: owner.url },
    { name: 'owner-ding', type: 'dingtalk', url: `${owner.url}/robot/send?access_token=S3CRET-ding`, secret: 'SECS3CRET-sign' },
    {
      name: 'owner-mail',
      type: 'email',
      smtp: { host: '127.0.0.1', port: 25, username: 'alerts', password: 'S3CRET-smtp' },
      from: 'falconet@example.com',
      to: ['ops@example.com'],
    },
  ];
  /** How the attacker repoints each, and the field the refusal must name. */
  const repoint: Record<string, [(c: Json) => void, string]> = {
    'owner-hook': [(c) => (c.url = `${attacker.url}/steal`), 'body secret'],
    'owner-telegram': [(c) => (c.api_url = attacker.url), 'body bot_token'],
    'owner-ding': [(c) => (c.url = `${attacker.url}/robot/send`), 'body secret'],
    'owner-mail': [(c) => (c.smtp.host = '127.0.0.2'), 'body smtp.password'],
  };

  it('an operator who repoints a channel keeping its masked secrets is refused, counted and audited; the owner keeps delivering', async () => {
    const admin = await t.session('admin');
    const op = await t.session('operator');
    const ids = new Map<string, string>();
    for (const c of channels()) {
      const made = await api(t, 'POST', '/api/alerts/channels', admin.mutating, c);
      expect(made.status).toBe(201);
      ids.set(c.name, made.body.id);
    }
    const before = counter(
      await (await fetch(`${t.base}/metrics`, { headers: admin.headers })).text(),
      'falconet_alert_channel_changes_refused_total',
      { reason: 'secret_required' },
    );

    // The attack: read the channel, point it at our receiver, send everything else back as shown.
    for (const [name, [change, field]] of Object.entries(repoint)) {
      const shown = (await api(t, 'GET', `/api/alerts/channels/${ids.get(name)}`, op.headers)).body;
      change(shown);
      const put = await api(t, 'PUT', `/api/alerts/channels/${ids.get(name)}`, op.mutating, shown);
      expect(put.status, name).toBe(400);
      expect(put.body.error.code).toBe('secret_required');
      expect(put.body.error.message, name).toMatch(new RegExp(`^${field.replace('.', '\\.')}: channel "${name}" changes where it sends`));
      await api(t, 'POST', `/api/alerts/channels/${name}/test`, op.mutating);
    }
    expect(attacker.requests).toEqual([]);

    // Counted, and audited as refusals naming the field; the generic entry is not written twice.
    const metrics = await (await fetch(`${t.base}/metrics`, { headers: admin.headers })).text();
    expect(counter(metrics, 'falconet_alert_channel_changes_refused_total', { reason: 'secret_required' })).toBe(before + 4);
    const audit = await api(t, 'GET', '/api/audit?action=alert_channel.update&limit=50', admin.headers);
    expect(audit.body.items.map((e: Json) => `${e.actor} ${e.outcome} ${e.detail.field}`).sort()).toEqual(
      ['bot_token', 'secret', 'secret', 'smtp.password'].map((f) => `operator-user denied ${f}`),
    );
    const generic = await api(t, 'GET', '/api/audit?action=PUT%20%2Fapi%2Falerts%2Fchannels%2F%3Aid&limit=50', admin.headers);
    expect(generic.body.items).toEqual([]);

    // The owner's channel is as it was: the test reaches the owner's receiver with the owner's secrets.
    const seen = owner.requests.length;
    expect((await api(t, 'POST', '/api/alerts/channels/owner-hook/test', op.mutating)).body.status).toBe('delivered');
    const req = owner.requests.slice(seen).find((r) => r.url.startsWith('/hook'));
    expect(req?.url).toBe('/hook?token=S3CRET-query');
    expect(req?.headers.authorization).toBe('Bearer S3CRET-bearer');
    const ts = req?.headers['x-falconet-timestamp'];
    expect(req?.headers['x-falconet-signature']).toBe(
      `sha256=${createHmac('sha256', 'S3CRET-hmac').update(`${ts}.${req?.body}`).digest('hex')}`,
    );
    const tg = owner.requests.find((r) => r.url.includes('/sendMessage'));
    expect(tg?.url).toBe('/bot123:S3CRET-bot/sendMessage');

    // Whoever knows the secrets may repoint the channel: typed in, they are taken, and only they go there.
    const shown = (await api(t, 'GET', `/api/alerts/channels/${ids.get('owner-hook')}`, op.headers)).body;
    const moved = await api(t, 'PUT', `/api/alerts/channels/${ids.get('owner-hook')}`, op.mutating, {
      ...shown,
      url: `${attacker.url}/moved`,
      secret: 'typed-hmac',
      headers: { Authorization: 'Bearer typed' },
    });
    expect(moved.status).toBe(200);
    await api(t, 'POST', '/api/alerts/channels/owner-hook/test', op.mutating);
    expect(attacker.requests.map((r) => [r.url, r.headers.authorization])).toEqual([['/moved', 'Bearer typed']]);
    expect(JSON.stringify(attacker.requests)).not.toContain('S3CRET');

    // No answer of the API, to anyone, held a stored secret.
    expect(answered.filter((a) => a.includes('S3CRET'))).toEqual([]);
  });
});

describe('"test" answers a fixed phrase, never what the remote side said', () => {
  let hanging: Server;
  const held: Socket[] = [];
  beforeAll(async () => {
    // An internal service: its answers hold what an attacker would like to read.
    internal.respond((r) => {
      if (r.url.startsWith('/admin')) return { status: 502, body: 'LEAKED-BODY root:x:0:0:root:/root' };
      if (r.url.startsWith('/services')) return { status: 200, body: 'LEAKED-BODY db_password=hunter2' };
      return { status: 200, body: { ok: false, description: 'LEAKED-BODY internal token abc' } };
    });
    // A listener that accepts and never answers, for the timeout.
    hanging = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((resolve) => hanging?.close(resolve));
  });

  it('HTTP status, refusal, connection refused and timeout come back as fixed phrases; the body reaches no caller and no log a caller reads', async () => {
    const op = await t.session('operator');
    const admin = await t.session('admin');
    const closed = await freePort();
    const port = (hanging.address() as { port: number }).port;
    const cases: [Json, string][] = [
      [{ name: 'probe-502', type: 'webhook', url: `${internal.url}/admin/users` }, 'failed: HTTP 502'],
      [{ name: 'probe-slack', type: 'slack', url: `${internal.url}/services/T/B/C` }, 'failed: refused by the service'],
      [{ name: 'probe-tg', type: 'telegram', bot_token: '1:x', chat_id: 1, api_url: internal.url }, 'failed: refused by the service'],
      [{ name: 'probe-closed', type: 'webhook', url: `http://127.0.0.1:${closed}/x` }, 'failed: connection refused'],
      [{ name: 'probe-hang', type: 'webhook', url: `http://127.0.0.1:${port}/x`, timeout: '300ms' }, 'failed: timeout'],
    ];
    for (const [spec, message] of cases) {
      expect((await api(t, 'POST', '/api/alerts/channels', op.mutating, spec)).status).toBe(201);
      const tested = await api(t, 'POST', `/api/alerts/channels/${spec.name}/test`, op.mutating);
      expect(tested.body, spec.name).toMatchObject({ status: 'failed', kind: 'test', message, error: message.slice('failed: '.length) });
    }
    // The receivers were reached: the bodies were there to leak.
    expect(internal.requests.length).toBe(3);
    // A record written before errors were fixed phrases is shown without its text.
    const now = Date.now();
    const error = 'POST http://10.0.0.1/admin: HTTP 502 LEAKED-BODY';
    const base = { channel: 'probe-502', groupKey: 'probe-502:test', kind: 'test' as const, title: 'old', alerts: 1, attempts: 1 };
    await t.server.alerts?.repo.recordDelivery({ ...base, id: `old-${now}`, status: 'failed', error, createdMs: now, finishedMs: now });
    const old = await api(t, 'GET', '/api/alerts/notifications?channel=probe-502', op.headers);
    expect(old.body.items.find((d: Json) => d.id === `old-${now}`).error).toBe('failed; the detail is in the server log');
    const reads = [
      await api(t, 'GET', '/api/alerts/notifications?limit=100', op.headers),
      await api(t, 'GET', '/api/alerts/channels', op.headers),
      await api(t, 'GET', '/api/audit?limit=200', admin.headers),
    ];
    for (const r of reads) expect(r.status).toBe(200);
    const tests = reads[2]?.body.items.filter((e: Json) => e.action === 'POST /api/alerts/channels/:id/test');
    expect(tests.length).toBeGreaterThanOrEqual(cases.length);
    expect(answered.filter((a) => a.includes('LEAKED-BODY') || a.includes('hunter2'))).toEqual([]);
  });
});

describe('matchers run on RE2', () => {
  // A server process of its own: were a pattern to stall it, requests would time out and the test
  // fail, where an in-process server would stall the test runner too. No user exists, so loopback
  // callers act as the local admin and the agent needs no token.
  let server: ServerProc;
  let local: AgentProc;
  let localId: string;
  const at = { base: '' };
  beforeAll(async () => {
    server = await startServer({
      env: {
        FALCONET_ALERTS_EVALUATION_INTERVAL: '1s',
        FALCONET_ALERTS_STARTUP_GRACE: '0s',
        FALCONET_ALERTS_GROUP_WAIT: '0s',
        FALCONET_ALERTS_WARM_FROM_STORE: 'false',
      },
    });
    at.base = server.url;
    local = await startAgent({ server: `127.0.0.1:${server.grpcPort}` });
    localId = (JSON.parse(await local.waitFor(/"reporting to server"/)) as { agentId: string }).agentId;
  });
  afterAll(async () => {
    await local?.stop();
    await server?.stop();
  });

  it('a pattern that backtracks for ages in JavaScript leaves the server answering; too long or unsupported is refused naming the field', async () => {
    const probe = `${'a'.repeat(40)}!`;
    const rule = await api(
      at,
      'POST',
      '/api/alerts/rules',
      {},
      {
        name: 'Always',
        metric: 'falconet_cpu_usage_percent',
        aggregation: 'last',
        op: '>=',
        threshold: -1,
        labels: { probe },
      },
    );
    expect(rule.status).toBe(201);
    const firing = await eventually(async () => {
      const a = await api(at, 'GET', `/api/alerts?rule=${rule.body.id}`, {});
      return a.body.items.find((x: Json) => x.agent === localId && x.state === 'firing');
    }, 30_000);
    expect(firing.labels.probe).toBe(probe);

    // Each silence is tested against the alert's labels on every read and every notification.
    const hostile = await api(at, 'POST', '/api/alerts/silences', {}, { matchers: '{probe=~"(a+)+$"}', duration: '1h' });
    expect(hostile.status).toBe(201);
    const fitting = await api(at, 'POST', '/api/alerts/silences', {}, { matchers: '{probe=~"a+!"}', duration: '1h' });
    const after = await api(at, 'GET', `/api/alerts?rule=${rule.body.id}`, {});
    expect(after.status).toBe(200);
    expect(after.body.items.find((x: Json) => x.agent === localId).silencedBy).toEqual([fitting.body.id]);
    // Evaluation goes on with the hostile silence in force.
    const cycles = (await api(at, 'GET', '/api/alerts/status', {})).body.cycles;
    await eventually(async () => (await api(at, 'GET', '/api/alerts/status', {})).body.cycles > cycles + 1, 30_000);

    const tooLong = await api(at, 'POST', '/api/alerts/silences', {}, { matchers: `{probe=~"${'a'.repeat(1100)}"}`, duration: '1h' });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toMatch(/^body matchers: probe=~"a{40}…": a regular expression of 1100 characters; at most 1024/);
    const lookahead = await api(
      at,
      'POST',
      '/api/alerts/rules',
      {},
      {
        name: 'Lookahead',
        metric: 'node_network_up',
        threshold: 1,
        series_labels: [{ name: 'device', op: '=~', value: 'eth(?!0)' }],
      },
    );
    expect(lookahead.status).toBe(400);
    expect(lookahead.body.error.message).toMatch(/^body series_labels: device=~"eth\(\?!0\)": not a regular expression .*no lookarounds/);
    // Refusals are audited as failed changes.
    const audit = await api(at, 'GET', '/api/audit?outcome=failed&limit=50', {});
    expect(audit.body.items.map((e: Json) => e.action)).toEqual(
      expect.arrayContaining(['POST /api/alerts/silences', 'POST /api/alerts/rules']),
    );
  });
});

describe('task environment values', () => {
  /** A live socket signed in with `headers`, subscribed to every task, collecting what it receives. */
  async function live(headers: Record<string, string>): Promise<{ messages: Json[]; ws: WebSocket }> {
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/api/live`, { headers });
    const messages: Json[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'subscribe_task', taskId: '*' }));
    return { messages, ws };
  }

  it('viewers see names with masked values over REST and /api/live; operators see the values and the agent gets them', async () => {
    const op = await t.session('operator');
    const viewerSession = await t.session('viewer');
    const viewerToken = await t.token('viewer');
    const sockets = {
      viewerSession: await live(viewerSession.headers),
      viewerToken: await live(viewerToken.headers),
      operator: await live(op.headers),
    };
    // The hello arrives once the socket is registered with the hub.
    for (const s of Object.values(sockets)) await eventually(() => s.messages.some((m) => m.type === 'hello'));

    const env = { API_TOKEN: 'tok-S3CRET-env' };
    const made = await api(t, 'POST', '/api/tasks', op.mutating, { command: '/bin/echo', args: ['hello'], env, agents: [agentId] });
    expect(made.status).toBe(201);
    expect(made.body.task.env).toEqual(env);
    const id = made.body.task.id as string;
    // The agent ran it with its environment (a refusal would say the env was not allowed).
    const run = await eventually(async () => {
      const r = (await api(t, 'GET', `/api/tasks/${id}`, op.headers)).body.runs[0];
      return r?.status === 'succeeded' ? r : undefined;
    }, 30_000);
    expect(run.exitCode).toBe(0);
    await eventually(() => sockets.viewerSession.messages.some((m) => m.type === 'task' && m.task.status === 'done'));

    const masked = { API_TOKEN: '********' };
    for (const who of [viewerSession, viewerToken]) {
      expect((await api(t, 'GET', '/api/tasks', who.headers)).body.items.find((x: Json) => x.id === id).env).toEqual(masked);
      expect((await api(t, 'GET', `/api/tasks/${id}`, who.headers)).body.task.env).toEqual(masked);
    }
    expect((await api(t, 'GET', `/api/tasks/${id}`, op.headers)).body.task.env).toEqual(env);

    for (const name of ['viewerSession', 'viewerToken'] as const) {
      const tasks = sockets[name].messages.filter((m) => m.type === 'task' && m.task.id === id);
      expect(tasks.length, name).toBeGreaterThan(0);
      for (const m of tasks) expect(m.task.env, name).toEqual(masked);
      expect(JSON.stringify(sockets[name].messages), name).not.toContain('tok-S3CRET-env');
      // Runs and output still reach viewers.
      expect(sockets[name].messages.some((m) => m.type === 'task_output' && m.taskId === id)).toBe(true);
    }
    const opTasks = sockets.operator.messages.filter((m) => m.type === 'task' && m.task.id === id);
    expect(opTasks.map((m) => m.task.env)).toContainEqual(env);
    for (const s of Object.values(sockets)) s.ws.close();
  });
});
