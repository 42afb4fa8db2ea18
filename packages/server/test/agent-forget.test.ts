/**
 * Forgetting an agent (DELETE /api/agents/:id?data=keep|drop) on an in-process server with users,
 * agents speaking the real agent channel: who may, what a connected agent gets, what goes (record,
 * labels, alerts, tokens, and with data=drop its samples), what stays, and who is told.
 */
import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawStream, rawStream, registerMessage, registerOn, reportMessage } from '../../../testing/agent-channel.ts';
import { eventually } from '../../../testing/processes.ts';
import type { LiveMessage } from '../src/live/hub.ts';
import { type Credential, startTestServer, type TestServer } from './support/auth.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

const ALERTS = { evaluation_interval: '1h', group_wait: '0s', group_interval: '0s', startup_grace: 0, warm_from_store: false };

let t: TestServer;
let target = '';
let admin: Credential;

beforeAll(async () => {
  t = await startTestServer({ config: { alerts: ALERTS } });
  target = `127.0.0.1:${t.server.addresses?.grpc.port}`;
  admin = await t.session('admin');
});
afterAll(async () => {
  await t?.stop();
});

async function api(method: string, path: string, cred: Credential, body?: unknown): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { ...(method === 'GET' ? cred.headers : cred.mutating) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(t.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
}

const gauge = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({
  name,
  labels,
  value,
  timestampMs: Date.now(),
});

/** Registers `id` with a token of its own, stores one report, and leaves the stream open. */
async function connect(id: string, samples: Sample[]): Promise<{ s: RawStream; token: string; tokenId: string }> {
  const made = await t.server.ingest.tokens.create(`${id}-host`);
  const s = rawStream(target);
  await registerOn(s, registerMessage(id, { hostname: `${id}-host`, token: made.token }));
  s.send(reportMessage(1, samples));
  const m = await s.next();
  if (m.body?.$case !== 'ack') throw new Error(`expected an ack, got ${JSON.stringify(m)}`);
  return { s, token: made.token, tokenId: made.record.id };
}

/** An agent that reported once and then went away: its stream closed, its record offline. */
async function reportedAndGone(id: string, samples: Sample[]): Promise<{ token: string; tokenId: string }> {
  const c = await connect(id, samples);
  c.s.close();
  await eventually(() => t.server.registry.get(id)?.connected === false);
  return c;
}

async function seriesOf(agentId: string, name: string) {
  return await t.server.store.querySeries({ agentId, name, fromMs: Date.now() - 3_600_000, toMs: Date.now() + 60_000 });
}

describe('DELETE /api/agents/:id', () => {
  it('is for admins only, names a missing or malformed data parameter, and answers 404 for an unknown agent', async () => {
    await reportedAndGone('fg-roles', [gauge('fg_value', 1)]);
    for (const role of ['viewer', 'operator'] as const) {
      const r = await api('DELETE', '/api/agents/fg-roles?data=keep', await t.session(role));
      expect(r).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      const viaToken = await api('DELETE', '/api/agents/fg-roles?data=keep', await t.token(role));
      expect(viaToken.status).toBe(403);
    }
    const missing = await api('DELETE', '/api/agents/fg-roles', admin);
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/^querystring data: /);
    const bad = await api('DELETE', '/api/agents/fg-roles?data=purge', admin);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'bad_request' });
    expect(bad.body.error.message).toMatch(/^querystring data: .*keep.*drop/);
    expect(await api('DELETE', '/api/agents/nobody-here?data=drop', admin)).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'agent "nobody-here" not found' } },
    });
    // Nothing of it went.
    expect(t.server.registry.get('fg-roles')).toBeDefined();
    expect(await seriesOf('fg-roles', 'fg_value')).toHaveLength(1);
  });

  it('refuses a connected agent with 409 and what to do; it stays, token and all', async () => {
    const c = await connect('fg-online', [gauge('fg_value', 1)]);
    try {
      const r = await api('DELETE', '/api/agents/fg-online?data=drop', admin);
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('agent_connected');
      expect(r.body.error.message).toBe(
        'agent "fg-online" (fg-online-host) is connected: stop the agent on that host first, then forget it (forgetting revokes its token, so it cannot come back with it)',
      );
      expect(t.server.registry.get('fg-online')?.connected).toBe(true);
      expect((await t.server.ingest.tokens.boundTo('fg-online')).map((x) => x.id)).toEqual([c.tokenId]);
      expect(await seriesOf('fg-online', 'fg_value')).toHaveLength(1);
    } finally {
      c.s.close();
    }
  });

  it('with data=keep: record, labels, alerts and token go, dashboards are told; the history stays for the same id', async () => {
    const rule = await api('POST', '/api/alerts/rules', await t.session('operator'), {
      name: 'fg busy',
      metric: 'fg_alert_value',
      aggregation: 'last',
      threshold: 5,
    });
    expect(rule.status).toBe(201);
    const alerts = t.server.alerts;
    if (!alerts) throw new Error('alerting is off');
    const { token, tokenId } = await reportedAndGone('fg-keep', [gauge('fg_value', 7), gauge('fg_alert_value', 9)]);
    expect((await api('PUT', '/api/agents/fg-keep/labels', admin, { labels: { role: 'db' } })).status).toBe(200);
    await alerts.runCycle();
    await alerts.flushed();
    expect((await api('GET', `/api/alerts?rule=${rule.body.id}`, admin)).body).toMatchObject({ total: 1, items: [{ agent: 'fg-keep' }] });

    const told: LiveMessage[] = [];
    const off = t.server.live.add({ send: (m) => told.push(m), agents: new Set() });
    let r: { status: number; body: Json };
    try {
      r = await api('DELETE', '/api/agents/fg-keep?data=keep', admin);
    } finally {
      off();
    }
    expect(r).toEqual({
      status: 200,
      body: { agentId: 'fg-keep', hostname: 'fg-keep-host', data: 'keep', droppedSeries: 0, alertsRemoved: 1, revokedTokens: [tokenId] },
    });
    expect(told).toContainEqual({ type: 'agent_removed', agentId: 'fg-keep' });
    expect((await api('GET', '/api/agents/fg-keep', admin)).status).toBe(404);
    expect((await api('GET', '/api/agents?q=fg-keep', admin)).body.total).toBe(0);
    expect((await api('GET', `/api/alerts?rule=${rule.body.id}`, admin)).body.total).toBe(0);
    expect((await alerts.repo.instances()).filter((a) => a.agentId === 'fg-keep')).toEqual([]);
    const audit = (await api('GET', '/api/audit?actor=admin-user&limit=1000', admin)).body.items.find(
      (e: Json) => e.action === 'agent.forget' && e.target === 'fg-keep',
    );
    expect(audit).toMatchObject({ outcome: 'ok', detail: { data: 'keep', hostname: 'fg-keep-host', revokedTokens: [tokenId] } });

    // Its token no longer registers it: it cannot come back unasked.
    const again = rawStream(target);
    await expect(registerOn(again, registerMessage('fg-keep', { hostname: 'fg-keep-host', token }))).rejects.toMatchObject({
      details: expect.stringMatching(/revoked/),
    });
    again.close();
    expect(t.server.registry.get('fg-keep')).toBeUndefined();

    // The samples stayed; with a new token the same id is back with its history and without the old labels.
    expect((await seriesOf('fg-keep', 'fg_value'))[0]?.points.map((p) => p[1])).toEqual([7]);
    const back = await t.server.ingest.tokens.create('fg-keep-host');
    const s = rawStream(target);
    try {
      await registerOn(s, registerMessage('fg-keep', { hostname: 'fg-keep-host', token: back.token }));
      expect(t.server.registry.get('fg-keep')).toMatchObject({ serverLabels: {}, trustedLabels: {} });
      expect((await api('GET', '/api/metrics/names?agent=fg-keep', admin)).body).toEqual(
        expect.objectContaining({ names: expect.arrayContaining(['fg_value']) }),
      );
    } finally {
      s.close();
    }
  });

  it('with data=drop: its series leave queries and metric names; other agents keep theirs', async () => {
    await reportedAndGone('fg-drop', [gauge('fg_value', 1), gauge('fg_only_dropped', 2), gauge('fg_labelled', 3, { disk: 'sda' })]);
    await reportedAndGone('fg-other', [gauge('fg_value', 4)]);
    const before = (await t.server.store.stats()).series;
    const r = await api('DELETE', '/api/agents/fg-drop?data=drop', admin);
    expect(r.body).toMatchObject({ agentId: 'fg-drop', data: 'drop', droppedSeries: 3 });
    expect((await t.server.store.stats()).series).toBe(before - 3);
    expect(await seriesOf('fg-drop', 'fg_value')).toEqual([]);
    expect(await t.server.store.metricNames('fg-drop')).toEqual([]);
    expect(await t.server.store.metricNames()).not.toContain('fg_only_dropped');
    expect((await seriesOf('fg-other', 'fg_value'))[0]?.points.map((p) => p[1])).toEqual([4]);
    const fleet = await t.server.store.queryAggregate({
      name: 'fg_value',
      fromMs: Date.now() - 3_600_000,
      toMs: Date.now() + 60_000,
      stepMs: 3_600_000,
      by: ['agent'],
      agentLabels: () => undefined,
    });
    expect(fleet.map((g) => g.group)).not.toContainEqual({ agent: 'fg-drop' });
  });

  it('forgets a pushed host (push:<host>) like an agent, with its data; its next push lists it anew', async () => {
    const op = await t.token('operator');
    const push = async (value: number) => {
      const r = await fetch(`${t.base}/api/v1/push`, {
        method: 'POST',
        headers: { ...op.headers, 'content-type': 'application/json' },
        body: JSON.stringify([{ metric: 'fg_pushed', endpoint: 'fg-box', value, tags: '' }]),
      });
      expect(r.status).toBeLessThan(300);
    };
    await push(1);
    await eventually(() => t.server.registry.get('push:fg-box'));
    expect(await seriesOf('push:fg-box', 'fg_pushed')).toHaveLength(1);
    const r = await api('DELETE', `/api/agents/${encodeURIComponent('push:fg-box')}?data=drop`, admin);
    expect(r.body).toMatchObject({ agentId: 'push:fg-box', hostname: 'fg-box', droppedSeries: 1, revokedTokens: [] });
    expect(t.server.registry.get('push:fg-box')).toBeUndefined();
    expect(await seriesOf('push:fg-box', 'fg_pushed')).toEqual([]);
    // A sender still pushing brings it back (docs/api.md: stop the sender first), with only what came since.
    await push(2);
    expect(t.server.registry.get('push:fg-box')).toMatchObject({ hostname: 'fg-box' });
    expect((await seriesOf('push:fg-box', 'fg_pushed'))[0]?.points.map((p) => p[1])).toEqual([2]);
  });
});
