/**
 * Issue 23's "a test proves nothing else is reachable" from a public status page, on an in-process
 * server with users of every role, the real dashboard build, and two agents on the real agent
 * channel: one on the page, and one NOT on it, registered with a distinctive host name, address,
 * labels and metric. With a page published and no credentials at all:
 * - every route of the server's route table that is not public answers 401, and the public API
 *   routes are exactly a known list (a new public route fails here until it is reviewed);
 * - every public GET (the page's JSON and HTML, the assets the HTML loads, the other public
 *   routes) is read, and none names the hidden host in any way, nor the shown host's agent id;
 * - an unknown slug is a 404 that reads the same whatever the slug, a deleted page's included;
 * - a burst of requests from one address is cut (429) and the figures are computed once a minute.
 * The doors for signed-in callers: viewers read, operators write, with malformed input refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sample } from '@falconet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeAccess } from '../packages/server/src/auth/guard.ts';
import { PRESENCE_METRIC } from '../packages/server/src/status-pages/uptime.ts';
import { type Credential, concretePath, startTestServer, type TestServer } from '../packages/server/test/support/auth.ts';
import { type RawStream, rawStream, registerMessage, registerOn, reportMessage } from '../testing/agent-channel.ts';
import { eventually, ROOT } from '../testing/processes.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

const WEB_ROOT = join(ROOT, 'packages/server/public');
const SHOWN = { id: 'sp-shown-agent-4411', hostname: 'shown-host-7f3a' };
/** What no public answer may ever contain: the hidden host's every identifying detail. */
const HIDDEN = {
  id: 'sp-hidden-agent-9c2e',
  hostname: 'HIDDEN-HOST-ZX81',
  ip: '203.0.113.77',
  label: 'HIDDEN-LABEL-Q9',
  metric: 'hidden_metric_k2v',
  monitor: 'HIDDEN-MONITOR-W7',
  target: 'hidden-target.example:2222',
};
/** The shown monitor's probe target is the operator's business, not the public's. */
const SHOWN_TARGET = 'checkout-internal.example:8443';
const NEVER = [HIDDEN.id, HIDDEN.hostname, HIDDEN.ip, HIDDEN.label, HIDDEN.metric, HIDDEN.monitor, HIDDEN.target, SHOWN.id, SHOWN_TARGET];
/** The only API routes anyone may call without signing in. */
const PUBLIC_API = [
  'GET /api/public/status/:slug',
  'HEAD /api/public/status/:slug',
  'POST /api/auth/signin',
  'POST /api/auth/signout',
  'GET /api/auth/session',
  'HEAD /api/auth/session',
  'POST /api/auth/setup',
];

let t: TestServer;
const streams: RawStream[] = [];
let operator: Credential;
let viewer: Credential;
let pageId = '';
let monitorId = '';

async function api(method: string, path: string, cred?: Credential, body?: unknown): Promise<{ status: number; body: Json; text: string }> {
  const headers: Record<string, string> = { ...(method === 'GET' ? cred?.headers : cred?.mutating) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(t.base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.text();
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

/** Registers an agent with a token of its own on the real channel and stores one report of `samples`. */
async function connect(id: string, hostname: string, extra: { ips?: string[]; labels?: Record<string, string> }, samples: Sample[]) {
  const made = await t.server.ingest.tokens.create(hostname);
  const s = rawStream(`127.0.0.1:${t.server.addresses?.grpc.port}`);
  streams.push(s);
  await registerOn(s, registerMessage(id, { hostname, token: made.token, ...extra }));
  let seq = 0;
  const report = async (samples: Sample[]) => {
    s.send(reportMessage(++seq, samples));
    // Past any other message (probe assignments) to the acknowledgement.
    for (;;) {
      const m = await s.next();
      if (m.body?.$case === 'ack') return;
    }
  };
  await report(samples);
  return report;
}

const now = () => Date.now();
const gauge = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({ name, labels, value, timestampMs: now() });

beforeAll(async () => {
  readFileSync(join(WEB_ROOT, 'status.html')); // the dashboard build (e2e's global setup makes it)
  t = await startTestServer({ webRoot: WEB_ROOT });
  operator = await t.session('operator');
  viewer = await t.session('viewer');
  const shownReport = await connect(SHOWN.id, SHOWN.hostname, { ips: ['198.51.100.5'] }, [gauge(PRESENCE_METRIC, 1, { version: 't' })]);
  const hiddenReport = await connect(HIDDEN.id, HIDDEN.hostname, { ips: [HIDDEN.ip], labels: { team: HIDDEN.label } }, [
    gauge(PRESENCE_METRIC, 1, { version: 't' }),
    gauge(HIDDEN.metric, 42, { owner: HIDDEN.label }),
  ]);
  await eventually(() => t.server.registry.get(HIDDEN.id)?.status === 'online' && t.server.registry.get(SHOWN.id)?.status === 'online');
  // A monitor run by the shown host, and one by the hidden host; their results come back as probe series.
  const monitor = async (name: string, target: string, agent: string) => {
    const r = await api('POST', '/api/monitors', operator, { name, probe: { kind: 'tcp', target }, agents: { ids: [agent] } });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  monitorId = await monitor('Checkout API', SHOWN_TARGET, SHOWN.id);
  const hiddenMonitor = await monitor(HIDDEN.monitor, HIDDEN.target, HIDDEN.id);
  const probe = (id: string, success: number) => [
    gauge('probe_success', success, { monitor: id }),
    gauge('probe_duration_seconds', 0.012, { monitor: id }),
  ];
  await shownReport(probe(monitorId, 1));
  await hiddenReport(probe(hiddenMonitor, 0));
  const created = await api('POST', '/api/status-pages', operator, {
    slug: 'acme',
    title: 'Acme status',
    description: 'Public health of Acme',
    hosts: [SHOWN.id],
    monitors: [monitorId],
  });
  expect(created.status).toBe(201);
  pageId = created.body.id;
  const incident = await api('POST', `/api/status-pages/${pageId}/incidents`, operator, {
    title: 'Slow checkout',
    body: 'Payments took long <script>alert(1)</script>',
    severity: 'major',
  });
  expect(incident.status).toBe(201);
});
afterAll(async () => {
  for (const s of streams) s.close();
  await t?.stop();
});

describe('a published status page, seen with no credentials', () => {
  it('leaves every other API route shut (401), and the public ones are a known few', async () => {
    const routes = t.server.routes;
    const publicApi = routes.filter((r) => r.url.startsWith('/api/') && routeAccess(r).public).map((r) => `${r.method} ${r.url}`);
    expect(publicApi.sort()).toEqual([...PUBLIC_API].sort());
    const wrong: string[] = [];
    let shut = 0;
    for (const r of routes) {
      if (routeAccess(r).public) continue;
      const init: RequestInit = { method: r.method, redirect: 'manual' };
      if (!['GET', 'HEAD', 'DELETE'].includes(r.method)) {
        init.headers = { 'content-type': 'application/json' };
        init.body = '{}';
      }
      const res = await fetch(t.base + concretePath(r.url).replace('no-such-id', pageId), init);
      await res.arrayBuffer();
      if (res.status !== 401) wrong.push(`${r.method} ${r.url}: ${res.status}`);
      shut++;
    }
    expect(wrong).toEqual([]);
    expect(shut).toBeGreaterThan(50);
    // The admin routes of the page itself, by its real id, are among them.
    expect((await api('GET', `/api/status-pages/${pageId}`)).status).toBe(401);
    expect((await api('GET', `/api/status-pages/${pageId}/preview`)).status).toBe(401);
  });

  it('shows the chosen host, its bars and the incident, as plain data', async () => {
    const r = await api('GET', '/api/public/status/acme');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ title: 'Acme status', language: 'en', status: 'up' });
    expect(r.body.items).toEqual([
      expect.objectContaining({ kind: 'host', name: SHOWN.hostname, status: 'up' }),
      expect.objectContaining({ kind: 'monitor', name: 'Checkout API', status: 'up', uptime: 1 }),
    ]);
    expect(r.body.items[0].days).toHaveLength(90);
    expect(r.body.items[0].days[89]).toBeGreaterThan(0);
    expect(r.body.items[1].days[89]).toBe(1);
    expect(r.body.incidents).toEqual([
      expect.objectContaining({ title: 'Slow checkout', body: 'Payments took long <script>alert(1)</script>', resolvedMs: null }),
    ]);
    // No internal ids (of the page or the incident), no figures unless show_values.
    expect(Object.keys(r.body.items[0]).sort()).toEqual(['days', 'kind', 'name', 'status', 'uptime']);
    expect(Object.keys(r.body.incidents[0]).sort()).toEqual(['body', 'resolvedMs', 'severity', 'startedMs', 'title', 'updates']);
    expect(r.text).not.toContain(pageId);
    expect(r.text).not.toContain(monitorId);
  });

  it('never names the hidden host (nor the shown host’s agent id) in any public answer, assets included', async () => {
    const bodies: [string, string][] = [];
    const read = async (path: string) => {
      const res = await fetch(t.base + path);
      expect(res.headers.get('set-cookie')).toBeNull();
      bodies.push([path, await res.text()]);
      return bodies[bodies.length - 1]?.[1] ?? '';
    };
    const html = await read('/status/acme');
    // Every script, style and icon the page loads.
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    for (const a of assets) await read(a);
    // Scripts import further chunks.
    for (const [, body] of [...bodies]) for (const m of body.matchAll(/["'(]\.?\/?(assets\/[\w.-]+\.js)["')]/g)) await read(`/${m[1]}`);
    await read('/api/public/status/acme');
    await read('/api/public/status/nope');
    await read('/status/nope');
    // And every other public GET route, with its parameters made up.
    for (const r of t.server.routes.filter((x) => x.method === 'GET' && routeAccess(x).public && !x.url.includes('*'))) {
      await read(concretePath(r.url));
    }
    expect(bodies.length).toBeGreaterThan(8);
    // The hidden host is really there for a signed-in reader: the check below is not vacuous.
    const agents = await api('GET', '/api/agents', viewer);
    for (const s of [HIDDEN.id, HIDDEN.hostname, HIDDEN.ip, HIDDEN.label]) expect(agents.text).toContain(s);
    const monitors = await api('GET', '/api/monitors', viewer);
    for (const s of [HIDDEN.monitor, HIDDEN.target, SHOWN_TARGET]) expect(monitors.text).toContain(s);
    expect((await api('GET', `/api/metrics/names?agent=${HIDDEN.id}`, viewer)).text).toContain(HIDDEN.metric);
    const leaks = bodies.flatMap(([path, body]) => NEVER.filter((s) => body.includes(s)).map((s) => `${path} holds ${s}`));
    expect(leaks).toEqual([]);
  });

  it('answers an unknown slug with the same 404 whatever the slug, a deleted page’s included', async () => {
    const temp = await api('POST', '/api/status-pages', operator, { slug: 'short-lived', title: 'Gone soon' });
    expect(temp.status).toBe(201);
    expect((await api('GET', '/api/public/status/short-lived')).status).toBe(200);
    expect((await api('DELETE', `/api/status-pages/${temp.body.id}`, operator)).status).toBe(204);
    const answers = await Promise.all(['short-lived', 'never-was', 'ACME', 'acme-'].map((s) => api('GET', `/api/public/status/${s}`)));
    expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 404]);
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    const html = await Promise.all(['short-lived', 'never-was'].map((s) => fetch(`${t.base}/status/${s}`)));
    expect(html.map((h) => h.status)).toEqual([404, 404]);
    expect(new Set(await Promise.all(html.map((h) => h.text()))).size).toBe(1);
  });

  it('cuts a burst from one address and computes the figures once, whatever the burst', async () => {
    const answers = await Promise.all(Array.from({ length: 80 }, () => api('GET', '/api/public/status/acme')));
    const ok = answers.filter((a) => a.status === 200);
    const cut = answers.filter((a) => a.status === 429);
    expect(cut.length).toBeGreaterThan(0);
    expect(cut[0]?.body.error.code).toBe('rate_limited');
    expect(new Set(ok.map((a) => a.body.generatedMs)).size).toBeLessThanOrEqual(1);
    const res = await fetch(`${t.base}/api/public/status/acme`);
    if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('the admin doors', () => {
  it('lets viewers read and only operators write, and names what is wrong in malformed input', async () => {
    expect((await api('GET', '/api/status-pages', viewer)).status).toBe(200);
    expect((await api('GET', `/api/status-pages/${pageId}/incidents`, viewer)).status).toBe(200);
    const spec = { slug: 'by-viewer', title: 'No' };
    expect(await api('POST', '/api/status-pages', viewer, spec)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect((await api('PUT', `/api/status-pages/${pageId}`, viewer, { slug: 'acme', title: 'x' })).status).toBe(403);
    expect((await api('POST', `/api/status-pages/${pageId}/incidents`, viewer, { title: 'x' })).status).toBe(403);
    const token = await t.token('operator');
    const bad = await api('POST', '/api/status-pages', token, { slug: 'Bad Slug!', title: 'x', hosts: [HIDDEN.id, HIDDEN.id] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('body slug');
    expect(bad.body.error.message).toContain('hosts.1');
    const unknown = await api('POST', '/api/status-pages', token, { slug: 'x', title: 'x', hosts: ['no-such-agent'] });
    expect(unknown).toMatchObject({ status: 400, body: { error: { message: 'body hosts.0: no agent has the id "no-such-agent"' } } });
    expect((await api('POST', '/api/status-pages', token, { slug: 'acme', title: 'dup' })).status).toBe(409);
    const note = await api('POST', `/api/status-pages/${pageId}/incidents/nope/updates`, token, { body: '' });
    expect(note.status).toBe(400);
    expect(note.body.error.message).toContain('body body');
  });
});
