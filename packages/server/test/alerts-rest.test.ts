/**
 * Alerting over REST on a real server (in-process, real ports), on the embedded database and on
 * PostgreSQL: rules, channels, silences, history and deliveries; roles and the audit log; the
 * rules file; alerts surviving a restart without being sent again.
 */
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_CLI, tempDir } from '../../../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../../../testing/receivers.ts';
import type { AlertService } from '../src/alerts/service.ts';
import { startTestServer, type TestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

let http: HttpReceiver;
beforeAll(async () => {
  http = await startHttpReceiver();
});
afterAll(async () => {
  await http?.close();
});

const ALERTS = { evaluation_interval: '1h', group_wait: '0s', group_interval: '0s', startup_grace: 0, warm_from_store: false };

async function call(t: TestServer, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Samples for one agent, straight into the alert windows as the ingest hook hands them over. */
function feed(alerts: AlertService, agentId: string, value: number) {
  const s: Sample = { name: 'falconet_cpu_usage_percent', labels: {}, value, timestampMs: Date.now() };
  alerts.observe(agentId, [s]);
}

async function settle(alerts: AlertService) {
  await alerts.runCycle();
  alerts.tick();
  await alerts.queue.idle();
  await alerts.flushed();
}

for (const engine of ENGINES) {
  describe(`alerting REST on ${engine}`, () => {
    // Registered first, so the database is dropped after the servers using it have stopped.
    const databases = metaDbOpener(engine);
    let t: TestServer;
    let dbUrl = '';
    let dataDir: string;
    beforeAll(async () => {
      dbUrl = await databases.url();
      dataDir = tempDir();
      t = await startTestServer({ databaseUrl: dbUrl, config: { data_dir: dataDir, alerts: ALERTS } });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('creates, reads, changes and deletes rules; names what is wrong; keeps viewers to reading', async () => {
      const op = await t.session('operator');
      const viewer = await t.session('viewer');
      const spec = { name: 'High CPU', metric: 'falconet_cpu_usage_percent', threshold: 90, for: '1m', severity: 'critical' };
      const made = await call(t, 'POST', '/api/alerts/rules', op.mutating, spec);
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ ...spec, kind: 'threshold', source: 'api', createdBy: 'operator-user', pending: 0, firing: 0 });
      const id = made.body.id as string;
      expect((await call(t, 'GET', `/api/alerts/rules/${id}`, viewer.headers)).body).toMatchObject({ name: 'High CPU', for: '1m' });
      expect((await call(t, 'POST', '/api/alerts/rules', viewer.mutating, spec)).status).toBe(403);

      const bad = await call(t, 'POST', '/api/alerts/rules', op.mutating, { name: 'x', metric: 'm', threshold: 'high' });
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
      expect(bad.body.error.message).toMatch(/body threshold/);
      const noChannel = await call(t, 'POST', '/api/alerts/rules', op.mutating, { ...spec, channels: ['nowhere'] });
      expect(noChannel).toMatchObject({ status: 400, body: { error: { message: 'body channels: no channel named "nowhere"' } } });

      const changed = await call(t, 'PUT', `/api/alerts/rules/${id}`, op.mutating, { ...spec, threshold: 95 });
      expect(changed.body).toMatchObject({ threshold: 95, id });
      expect(t.server.alerts?.evaluator.rule(id)?.threshold).toBe(95);
      expect((await call(t, 'PUT', '/api/alerts/rules/nope', op.mutating, spec)).status).toBe(404);
      expect((await call(t, 'DELETE', `/api/alerts/rules/${id}`, op.mutating)).status).toBe(204);
      expect((await call(t, 'GET', `/api/alerts/rules/${id}`, viewer.headers)).status).toBe(404);

      // The guard writes a change's audit entry once its answer is sent (onResponse), so the
      // DELETE's entry can land just after the test's next request: read until it is there.
      const admin = (await t.session('admin')).headers;
      const actions = async () =>
        ((await call(t, 'GET', '/api/audit?limit=20', admin)).body.items as { action: string; actor: string; outcome: string }[]).map(
          (e) => `${e.actor} ${e.action} ${e.outcome}`,
        );
      await expect
        .poll(actions, { timeout: 10_000 })
        .toEqual(
          expect.arrayContaining([
            'operator-user POST /api/alerts/rules ok',
            'operator-user PUT /api/alerts/rules/:id ok',
            'operator-user DELETE /api/alerts/rules/:id ok',
            'viewer-user POST /api/alerts/rules denied',
          ]),
        );
    });

    it('masks channel secrets, keeps them when sent back masked, and tests a channel', async () => {
      const op = await t.session('operator');
      const spec = { name: `hook-${engine}`, type: 'webhook', url: `${http.url}/hook?token=abc`, secret: 'signing-key' };
      const made = await call(t, 'POST', '/api/alerts/channels', op.mutating, spec);
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ secret: '********', url: `${http.url}/hook/********`, health: { delivered: 0, failed: 0 } });
      expect(JSON.stringify(made.body)).not.toContain('signing-key');
      expect((await call(t, 'POST', '/api/alerts/channels', op.mutating, spec)).status).toBe(409);
      // The form sends back what it was shown; only the title changes.
      const edited = await call(t, 'PUT', `/api/alerts/channels/${made.body.id}`, op.mutating, { ...made.body, title: 'Test: {{name}}' });
      expect(edited.status).toBe(200);
      const before = http.requests.length;
      const tested = await call(t, 'POST', `/api/alerts/channels/${spec.name}/test`, op.mutating);
      expect(tested.body).toMatchObject({ status: 'delivered', kind: 'test', title: 'Test: Falconet test notification' });
      const req = http.requests[before];
      expect(req?.url).toBe('/hook?token=abc');
      const ts = req?.headers['x-falconet-timestamp'];
      expect(req?.headers['x-falconet-signature']).toBe(
        `sha256=${createHmac('sha256', 'signing-key').update(`${ts}.${req?.body}`).digest('hex')}`,
      );
      const bad = await call(t, 'POST', '/api/alerts/channels', op.mutating, { name: 'e', type: 'email', smtp: { host: 'h' }, from: 'x' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.message).toMatch(/body (from|to)/);
    });

    it('fires, notifies, shows history and deliveries, silences, and refuses to drop a channel in use', async () => {
      const alerts = t.server.alerts as AlertService;
      const op = await t.session('operator');
      const viewer = await t.session('viewer');
      const channel = `hook2-${engine}`;
      await call(t, 'POST', '/api/alerts/channels', op.mutating, { name: channel, type: 'webhook', url: `${http.url}/fire` });
      const rule = await call(t, 'POST', '/api/alerts/rules', op.mutating, {
        name: `Busy ${engine}`,
        metric: 'falconet_cpu_usage_percent',
        aggregation: 'last',
        threshold: 80,
        channels: [channel],
        annotations: { summary: '{{host}} at {{value | round(0)}}%' },
      });
      expect((await call(t, 'DELETE', `/api/alerts/channels/${channel}`, op.mutating)).body.error.code).toBe('in_use');

      const before = http.requests.filter((r) => r.url === '/fire').length;
      feed(alerts, 'agent-1', 93.4);
      feed(alerts, 'agent-2', 10);
      await settle(alerts);
      const active = await call(t, 'GET', `/api/alerts?rule=${rule.body.id}`, viewer.headers);
      expect(active.body).toMatchObject({ total: 1, items: [{ state: 'firing', host: 'agent-1', value: 93.4, silencedBy: [] }] });
      const fired = http.requests.filter((r) => r.url === '/fire');
      expect(fired).toHaveLength(before + 1);
      expect(fired.at(-1)?.json).toMatchObject({ status: 'firing', alerts: [{ annotations: { summary: 'agent-1 at 93%' } }] });

      // Silence agent-2, then it breaches too: firing, shown as silenced, not sent.
      const silence = await call(t, 'POST', '/api/alerts/silences', op.mutating, {
        matchers: '{host="agent-2"}',
        duration: '1h',
        comment: 'maintenance',
      });
      expect(silence.body).toMatchObject({ active: true, expired: false, createdBy: 'operator-user', comment: 'maintenance' });
      feed(alerts, 'agent-2', 99);
      await settle(alerts);
      const silenced = await call(t, 'GET', `/api/alerts?rule=${rule.body.id}&silenced=true`, viewer.headers);
      expect(silenced.body.items.map((a: { host: string; silencedBy: string[] }) => [a.host, a.silencedBy])).toEqual([
        ['agent-2', [silence.body.id]],
      ]);
      expect(http.requests.filter((r) => r.url === '/fire')).toHaveLength(before + 1);

      // agent-1 recovers: the recovery goes out.
      feed(alerts, 'agent-1', 5);
      await settle(alerts);
      expect(http.requests.filter((r) => r.url === '/fire').at(-1)?.json).toMatchObject({
        status: 'resolved',
        alerts: [{ labels: { host: 'agent-1' } }],
      });

      const history = await call(t, 'GET', `/api/alerts/history?rule=${rule.body.id}`, viewer.headers);
      expect(history.body.items.map((h: { host: string; from: string; to: string }) => `${h.host} ${h.from}->${h.to}`)).toEqual([
        'agent-1 firing->resolved',
        'agent-2 inactive->firing',
        'agent-1 inactive->firing',
      ]);
      const deliveries = await call(t, 'GET', `/api/alerts/notifications?channel=${channel}`, viewer.headers);
      expect(
        deliveries.body.items.map((d: { kind: string; status: string; alerts: number }) => `${d.kind} ${d.status} ${d.alerts}`),
      ).toEqual(['resolved delivered 1', 'firing delivered 1']);
      const metrics = await (await fetch(`${t.base}/metrics`, { headers: viewer.headers })).text();
      expect(metrics).toMatch(new RegExp(`falconet_alert_notifications_total\\{channel="${channel}",outcome="delivered"\\} 2`));
      expect(metrics).toMatch(/falconet_alerts\{state="firing"\} 1/);
      expect(metrics).toMatch(/falconet_alert_evaluation_seconds\{time="wall"\}/);
      expect((await call(t, 'DELETE', `/api/alerts/silences/${silence.body.id}`, op.mutating)).status).toBe(204);
    });

    if (engine === 'postgres') {
      it('picks up what another server on the same database changed', async () => {
        // A second server on one database shares the first one's master key (docs/server.md).
        const other = await startTestServer({
          databaseUrl: dbUrl,
          users: false,
          config: { alerts: ALERTS, secret_key_file: join(dataDir, 'secret.key') },
        });
        try {
          const op = await t.session('operator');
          const made = await call(t, 'POST', '/api/alerts/rules', op.mutating, { name: 'Shared', kind: 'agent_offline', for: '5m' });
          await other.server.alerts?.reload();
          expect(other.server.alerts?.evaluator.rule(made.body.id)?.name).toBe('Shared');
          await call(t, 'DELETE', `/api/alerts/rules/${made.body.id}`, op.mutating);
          await other.server.alerts?.reload();
          expect(other.server.alerts?.evaluator.rule(made.body.id)).toBeUndefined();
        } finally {
          await other.stop();
        }
      });
    }

    it('keeps firing alerts across a restart without sending them again', async () => {
      const alerts = t.server.alerts as AlertService;
      // agent-2's silence ended in the test before: its alert goes out now, once.
      alerts.tick();
      await alerts.queue.idle();
      await alerts.flushed();
      const sent = http.requests.length;
      const firingBefore = alerts.alerts().filter((a) => a.state === 'firing');
      expect(firingBefore.length).toBeGreaterThan(0);
      await t.stop();
      t = await startTestServer({ databaseUrl: dbUrl, users: false, config: { data_dir: dataDir, alerts: ALERTS } });
      const again = t.server.alerts as AlertService;
      expect(again.alerts().map((a) => [a.fingerprint, a.state])).toEqual(firingBefore.map((a) => [a.fingerprint, a.state]));
      again.tick();
      await again.queue.idle();
      expect(http.requests.length).toBe(sent);
    });
  });
}

describe('the rules file', () => {
  it('loads rules that REST shows read-only, and refuses to start on a bad file naming file:line:col', async () => {
    const dir = tempDir();
    const file = join(dir, 'alerts.yaml');
    writeFileSync(
      file,
      `channels:\n  - name: ops\n    type: slack\n    url: ${http.url}/slack\nrules:\n  - name: Root disk filling\n    kind: disk_full\n    series_labels: '{mountpoint="/"}'\n    channels: [ops]\n`,
    );
    const t = await startTestServer({ config: { alerts: { ...ALERTS, rules_file: file } } });
    try {
      const op = await t.session('operator');
      const rules = await call(t, 'GET', '/api/alerts/rules', op.headers);
      expect(rules.body.items).toMatchObject([{ name: 'Root disk filling', kind: 'disk_full', source: 'file', channels: ['ops'] }]);
      const id = rules.body.items[0].id as string;
      const refused = await call(t, 'PUT', `/api/alerts/rules/${id}`, op.mutating, { name: 'x', kind: 'agent_offline' });
      expect(refused).toMatchObject({ status: 409, body: { error: { code: 'read_only' } } });
      expect(refused.body.error.message).toContain(file);
      expect((await call(t, 'GET', '/api/alerts/channels/ops', op.headers)).body).toMatchObject({
        source: 'file',
        url: `${http.url}/slack`,
      });
    } finally {
      await t.stop();
    }
    writeFileSync(file, 'rules:\n  - name: x\n    kind: disk_full\n    within: tomorrow\n');
    await expect(startTestServer({ config: { alerts: { ...ALERTS, rules_file: file } } })).rejects.toThrow(
      `${file}:4:13: rules.0.within: "tomorrow" is not a duration`,
    );
    // check-config reads it too, and says the same.
    const check = spawnSync(
      process.execPath,
      ['--conditions=source', SERVER_CLI, 'check-config', '--alerts-rules', file, '--data-dir', dir],
      {
        encoding: 'utf8',
      },
    );
    expect(check.status).toBe(2);
    expect(check.stderr).toContain(`falconet-server: ${file}:4:13: rules.0.within: "tomorrow" is not a duration`);
  }, 60_000);
});
