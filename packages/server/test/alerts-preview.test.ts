/**
 * The alert editor's routes on a real server with a real agent reporting over gRPC: a draft rule
 * previewed against stored data (values per host and series, whether it would fire, bounded, 400s
 * naming the field), and each channel type's settings described from its zod schema.
 */
import type { Agent } from '@falconet/agent';
import { ROLES } from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../testing/processes.ts';
import { channelKind } from '../src/alerts/channel-kinds.ts';
import { CHANNELS } from '../src/alerts/channels/index.ts';
import { previewRule } from '../src/alerts/preview.ts';
import { ruleSpecSchema } from '../src/alerts/spec.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import { startTestAgent } from './support/agent.ts';
import { PASSWORD, startTestServer, type TestServer } from './support/auth.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

const CPU = 'falconet_cpu_usage_percent';
const ALERTS = { evaluation_interval: '1h', startup_grace: 0, warm_from_store: false };

let t: TestServer;
let agent: Agent;
let agentId: string;

async function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  // The agent connects over loopback before any user exists; the users come after, for the role checks.
  t = await startTestServer({ users: false, config: { alerts: ALERTS } });
  agent = await startTestAgent(t.server, { interval: '200ms', labels: { role: 'web' } });
  agentId = agent.identity?.agentId as string;
  await eventually(async () => {
    const found = await t.server.store.querySeries({ agentId, name: CPU, fromMs: Date.now() - 60_000, toMs: Date.now() });
    return found.some((s) => s.points.length >= 2);
  }, 30_000);
  const hash = await hashPassword(PASSWORD);
  for (const role of ROLES) t.userIds[role] = (await t.server.auth.users.create(`${role}-user`, role, hash)).id;
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await t?.stop();
});

describe('POST /api/alerts/preview', () => {
  it("answers the draft's value per host now and whether it would fire, for a viewer too", async () => {
    const viewer = await t.session('viewer');
    const firing = await call('POST', '/api/alerts/preview', viewer.mutating, {
      name: 'draft',
      metric: CPU,
      aggregation: 'max',
      window: '1m',
      op: '>=',
      threshold: 0,
    });
    expect(firing.status).toBe(200);
    expect(firing.body).toMatchObject({ condition: `max(${CPU}[1m]) >= 0`, metric: CPU, hosts: 1, hostsRead: 1, truncated: false });
    const item = firing.body.items.find((i: Json) => i.agent === agentId);
    expect(item).toMatchObject({ host: agent.identity?.hostname, breach: true });
    expect(item.value).toBeGreaterThanOrEqual(0);
    expect(item.value).toBeLessThanOrEqual(100);

    const quiet = await call('POST', '/api/alerts/preview', viewer.mutating, { name: 'draft', metric: CPU, op: '>', threshold: 1000 });
    expect(quiet.body.items.every((i: Json) => i.breach === false && typeof i.value === 'number')).toBe(true);

    // A preview is a read: no audit row for it.
    const audit = await t.server.auth.audit.query({ limit: 200 });
    expect(audit.some((e) => e.action.includes('/api/alerts/preview'))).toBe(false);
  });

  it('selects series by their labels and hosts by theirs, as the evaluator does', async () => {
    const op = await t.session('operator');
    const disks = await call('POST', '/api/alerts/preview', op.mutating, {
      name: 'disk',
      metric: 'node_filesystem_avail_bytes',
      series_labels: [{ name: 'mountpoint', op: '=', value: '/' }],
      aggregation: 'last',
      op: '<',
      threshold: 1,
    });
    expect(disks.status).toBe(200);
    expect(disks.body.items.length).toBeGreaterThan(0);
    expect(disks.body.items.every((i: Json) => i.series.includes('mountpoint="/"') && i.breach === false)).toBe(true);

    const nobody = await call('POST', '/api/alerts/preview', op.mutating, {
      name: 'x',
      metric: CPU,
      threshold: 1,
      host_labels: { role: 'db' },
    });
    expect(nobody.body).toMatchObject({ hosts: 0, hostsRead: 0, items: [] });

    const offline = await call('POST', '/api/alerts/preview', op.mutating, { name: 'down', kind: 'agent_offline' });
    expect(offline.body.items).toEqual([{ agent: agentId, host: agent.identity?.hostname, series: '', value: 0, breach: false }]);
  });

  it('names the field that is wrong in a malformed draft, and refuses callers without a role', async () => {
    const viewer = await t.session('viewer');
    const bad = await call('POST', '/api/alerts/preview', viewer.mutating, { name: 'x', metric: CPU, threshold: 'high' });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(bad.body.error.message).toMatch(/body threshold/);
    const noMetric = await call('POST', '/api/alerts/preview', viewer.mutating, { name: 'x', threshold: 3 });
    expect(noMetric.status).toBe(400);
    expect(noMetric.body.error.message).toMatch(/metric: required for a threshold rule/);
    const badRegex = await call('POST', '/api/alerts/preview', viewer.mutating, {
      name: 'x',
      metric: CPU,
      threshold: 3,
      series_labels: [{ name: 'cpu', op: '=~', value: '(' }],
    });
    expect(badRegex.status).toBe(400);
    expect(badRegex.body.error.message).toMatch(/series_labels/);
    const notJson = await call('POST', '/api/alerts/preview', { ...viewer.mutating, 'content-type': 'application/json' }, '{"name":');
    expect(notJson.status).toBe(400);
    const extra = await call('POST', '/api/alerts/preview', viewer.mutating, { name: 'x', metric: CPU, threshold: 3, colour: 'red' });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toMatch(/colour/);

    expect((await call('POST', '/api/alerts/preview', {}, { name: 'x', metric: CPU, threshold: 3 })).status).toBe(401);
    // A session without its CSRF token is refused as for any POST.
    expect((await call('POST', '/api/alerts/preview', viewer.headers, { name: 'x', metric: CPU, threshold: 3 })).status).toBe(403);
    const scoped = await t.token('viewer', ['/api/metrics']);
    expect((await call('POST', '/api/alerts/preview', scoped.headers, { name: 'x', metric: CPU, threshold: 3 })).status).toBe(403);
  });

  it('reads at most the capped number of hosts and answers at most the capped number of series', async () => {
    const hosts = Array.from({ length: 7 }, (_, i) => ({
      id: `a${i}`,
      hostname: `h${i}`,
      labels: {},
      status: 'online' as const,
      lastSeenMs: Date.now(),
    }));
    let queries = 0;
    const store = {
      async querySeries() {
        queries++;
        return [0, 1, 2].map((cpu) => ({
          name: CPU,
          labels: { cpu: String(cpu) },
          points: [[Date.now() - 1000, cpu] as [number, number]],
        }));
      },
    } as unknown as Parameters<typeof previewRule>[1]['store'];
    const spec = ruleSpecSchema.parse({ name: 'x', metric: CPU, threshold: 1, aggregation: 'last' });
    const out = await previewRule(spec, { store, agents: () => hosts, now: Date.now, maxHosts: 5, maxItems: 10 });
    expect(out).toMatchObject({ hosts: 7, hostsRead: 5, truncated: true });
    expect(out.items).toHaveLength(10);
    expect(queries).toBeLessThanOrEqual(5);
    expect(out.items.filter((i) => i.breach).map((i) => i.series)).toEqual(['{cpu="2"}', '{cpu="2"}', '{cpu="2"}']);
  });
});

describe('GET /api/alerts/channel-kinds', () => {
  it("describes every channel type's settings from its schema, secrets marked", async () => {
    const viewer = await t.session('viewer');
    const res = await call('GET', '/api/alerts/channel-kinds', viewer.headers);
    expect(res.status).toBe(200);
    expect(res.body.items.map((k: Json) => k.type)).toEqual(CHANNELS.map((c) => c.type));
    for (const c of CHANNELS) {
      const kind = res.body.items.find((k: Json) => k.type === c.type);
      expect(kind).toEqual(channelKind(c as never));
      // Every field the type declares is described, and every declared secret is one of them.
      const top = new Set(kind.fields.map((f: Json) => String(f.name).split('.')[0]));
      expect([...top].sort()).toEqual(Object.keys(c.fields).sort());
      for (const s of c.secrets) {
        const f = kind.fields.find((x: Json) => x.name === s.replace(/\.\*$/, ''));
        expect(f, `${c.type} ${s}`).toMatchObject({ secret: true });
      }
      for (const f of kind.fields) expect(f.help, `${c.type} ${f.name}`).not.toBe('');
    }
    const email = res.body.items.find((k: Json) => k.type === 'email');
    expect(email.fields.find((f: Json) => f.name === 'smtp.password')).toMatchObject({ type: 'string', secret: true, required: false });
    expect(email.fields.find((f: Json) => f.name === 'smtp.host')).toMatchObject({ required: true, destination: true });
    expect(email.fields.find((f: Json) => f.name === 'smtp.port')).toMatchObject({ type: 'number', default: 587 });
    expect(email.fields.find((f: Json) => f.name === 'to')).toMatchObject({ type: 'string_list', required: true });
    const webhook = res.body.items.find((k: Json) => k.type === 'webhook');
    expect(webhook.fields.find((f: Json) => f.name === 'method')).toMatchObject({ type: 'choice', options: ['POST', 'PUT'] });
    expect(webhook.fields.find((f: Json) => f.name === 'headers')).toMatchObject({ type: 'map', secret: true });
    expect((await call('GET', '/api/alerts/channel-kinds', {})).status).toBe(401);
    const scoped = await t.token('viewer', ['/api/metrics']);
    expect((await call('GET', '/api/alerts/channel-kinds', scoped.headers)).status).toBe(403);
    const alertsToken = await t.token('viewer', ['/api/alerts']);
    expect((await call('GET', '/api/alerts/channel-kinds', alertsToken.headers)).status).toBe(200);
  });
});
