import type { Agent } from '@falconet/agent';
import * as contract from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { eventually } from '../../../testing/processes.ts';
import { channelSpecSchema, ruleSpecSchema, silenceSpecSchema } from '../src/alerts/spec.ts';
import type { FalconetServer } from '../src/app.ts';
import { startTestAgent } from './support/agent.ts';
import { startTestServer } from './support/auth.ts';

let server: FalconetServer;
let agent: Agent;
let base = '';
let agentId = '';

beforeAll(async () => {
  const t = await startTestServer({ users: false });
  server = t.server;
  base = t.base;
  agent = await startTestAgent(server, { interval: '200ms', labels: { role: 'web', zone: 'a' } });
  agentId = agent.identity?.agentId as string;
  await eventually(
    async () =>
      ((await (await fetch(`${base}/api/agents/${agentId}`)).json()) as { summary?: Record<string, number> }).summary
        ?.falconet_cpu_usage_percent !== undefined,
  );
});

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
});

async function get(path: string) {
  const res = await fetch(base + path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

describe('REST API', () => {
  it('lists the agent online with its identity and labels', async () => {
    const { status, body } = await get('/api/agents');
    expect(status).toBe(200);
    const items = body.items as { id: string; status: string; labels: Record<string, string>; hostname: string }[];
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ id: agentId, status: 'online', labels: { role: 'web', zone: 'a' } });
  });

  it('filters, sorts and paginates the list', async () => {
    expect(((await get('/api/agents?status=offline')).body.items as unknown[]).length).toBe(0);
    expect(((await get('/api/agents?label=role=web')).body.items as unknown[]).length).toBe(1);
    expect(((await get('/api/agents?label=role=db')).body.items as unknown[]).length).toBe(0);
    expect((await get('/api/agents?limit=1&offset=1')).body).toMatchObject({ items: [], total: 1 });
    const bad = await get('/api/agents?sort=color&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('bad_request');
    expect(bad.body.error?.message).toMatch(/sort/);
  });

  it('answers one agent, and 404 with a JSON error for an unknown one', async () => {
    expect((await get(`/api/agents/${agentId}`)).body.id).toBe(agentId);
    const missing = await get('/api/agents/nope');
    expect(missing).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'agent "nope" not found' } } });
  });

  it('returns history of a counter and of the usage series', async () => {
    const cpu = await get(`/api/metrics?agent=${agentId}&name=node_cpu_seconds_total&labels=cpu=0,mode=idle`);
    expect(cpu.status).toBe(200);
    const series = cpu.body.series as { labels: Record<string, string>; points: [number, number][] }[];
    expect(series).toHaveLength(1);
    expect(series[0]?.labels).toEqual({ cpu: '0', mode: 'idle' });
    expect(series[0]?.points.length).toBeGreaterThan(0);
    const usage = await get(`/api/metrics?agent=${agentId}&name=falconet_cpu_usage_percent&step=60000&agg=max`);
    expect((usage.body.series as unknown[]).length).toBe(1);
  });

  it('rejects bad metric queries with the field named', async () => {
    const noName = await get(`/api/metrics?agent=${agentId}`);
    expect(noName.status).toBe(400);
    expect(noName.body.error?.message).toMatch(/name/);
    const badTime = await get(`/api/metrics?agent=${agentId}&name=x&from=yesterday`);
    expect(badTime.body.error?.message).toMatch(/"yesterday" is not a time/);
    const badLabels = await get(`/api/metrics?agent=${agentId}&name=x&labels={oops`);
    expect(badLabels.body.error?.message).toMatch(/labels: not valid JSON/);
    const reversed = await get(`/api/metrics?agent=${agentId}&name=x&from=2000&to=1000`);
    expect(reversed.status).toBe(400);
    expect((await get('/api/metrics?agent=ghost&name=x')).status).toBe(404);
  });

  it('lists metric names and a fleet summary', async () => {
    const names = (await get(`/api/metrics/names?agent=${agentId}`)).body.names as string[];
    expect(names).toEqual(expect.arrayContaining(['node_cpu_seconds_total', 'node_memory_MemTotal_bytes', 'falconet_cpu_usage_percent']));
    const fleet = await get('/api/fleet/summary');
    expect(fleet.body).toMatchObject({ agents: 1, online: 1, offline: 0 });
    expect((fleet.body.averages as Record<string, number>).cpu).toBeTypeOf('number');
  });

  it('publishes an OpenAPI document generated from the route schemas', async () => {
    const doc = (await get('/api/openapi.json')).body as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/agents', '/api/agents/{id}', '/api/metrics', '/api/fleet/summary']),
    );
  });

  it('publishes every /api route with its answers in the OpenAPI document', async () => {
    const doc = (await get('/api/openapi.json')).body as {
      paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
    };
    const missing: string[] = [];
    for (const r of apiRoutes()) {
      const op = doc.paths[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
      const ok = Object.entries(op?.responses ?? {}).find(([status]) => status.startsWith('2'));
      if (!ok || (ok[0] !== '204' && !ok[1].content?.['application/json']?.schema)) missing.push(`${r.method} ${r.url}`);
    }
    expect(missing).toEqual([]);
  });

  it('exposes its own /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^falconet_server_reports_total [1-9]/m);
    expect(text).toContain('falconet_server_agents{status="online"} 1');
  });

  it('answers unknown API routes with a JSON 404', async () => {
    expect(await get('/api/nothing')).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'no route GET /api/nothing' } },
    });
  });
});

/** Routes under /api/ that are not in the OpenAPI document, each with the reason. */
const UNDOCUMENTED = new Map([
  ['GET /api/openapi.json', 'the document itself'],
  ['GET /api/live', "a WebSocket: its messages are the contract's LiveClientMessage and LiveServerMessage"],
  ['POST /api/v1/write', "Prometheus remote_write: a snappy protobuf body, Prometheus' contract (docs/prometheus.md)"],
  ['GET /api/v1/label/:name/values', "Prometheus' query API in Prometheus' own shapes (docs/prometheus.md)"],
  ...['query', 'query_range', 'series', 'labels', 'metadata', 'status/buildinfo'].flatMap((r) =>
    ['GET', 'POST'].map(
      (m) => [`${m} /api/v1/${r}`, "Prometheus' query API in Prometheus' own shapes (docs/prometheus.md)"] as [string, string],
    ),
  ),
]);

/** Every REST route under /api/, once per method (no HEAD twins). */
function apiRoutes() {
  const routes = server.routes.filter((r) => r.url.startsWith('/api/') && r.method !== 'HEAD');
  expect(routes.length).toBeGreaterThan(40);
  return routes.filter((r) => !UNDOCUMENTED.has(`${r.method} ${r.url}`));
}

describe('the API contract', () => {
  /** The schemas a route may use: the contract's, and the alert specs the server builds from it with its own checks. */
  const allowed = new Set<unknown>([
    ...Object.values(contract).filter((v) => v instanceof z.ZodType),
    ruleSpecSchema,
    silenceSpecSchema,
    // Each channel type declares its own fields (alerts/channels); the common ones are the contract's.
    channelSpecSchema,
  ]);

  it('validates every route with the schemas of @falconet/protocol/api, answers included', () => {
    const problems: string[] = [];
    for (const r of apiRoutes()) {
      const schema = (r.options.schema ?? {}) as Record<string, unknown> & { response?: Record<string, unknown> };
      const route = `${r.method} ${r.url}`;
      const answers = Object.keys(schema.response ?? {});
      if (!answers.some((s) => s.startsWith('2'))) problems.push(`${route}: no schema for its answer`);
      for (const part of ['params', 'querystring', 'body'] as const) {
        if (schema[part] !== undefined && !allowed.has(schema[part])) problems.push(`${route}: ${part} is not the contract's`);
      }
      for (const [status, s] of Object.entries(schema.response ?? {})) {
        if (!allowed.has(s)) problems.push(`${route}: the ${status} answer is not the contract's`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has each route under /api/ either documented or named above with its reason', () => {
    const all = new Set(server.routes.map((r) => `${r.method} ${r.url}`));
    expect([...UNDOCUMENTED.keys()].filter((k) => !all.has(k))).toEqual([]);
  });
});

describe('/api/live', () => {
  it('pushes agent updates to everyone and samples to subscribers', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/live`);
    const messages: { type: string; agentId?: string; samples?: { name: string }[]; agent?: { id: string } }[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'subscribe', agentId }));
    await eventually(() => messages.some((m) => m.type === 'samples' && m.agentId === agentId), 10_000);
    expect(messages[0]?.type).toBe('hello');
    expect(messages.some((m) => m.type === 'agent' && m.agent?.id === agentId)).toBe(true);
    const samples = messages.find((m) => m.type === 'samples')?.samples ?? [];
    expect(samples.map((s) => s.name)).toContain('node_load1');
    ws.send('not json');
    await eventually(() => messages.some((m) => m.type === 'error'), 5_000);
    ws.close();
    // Every message the server sent is one the contract declares.
    for (const m of messages) contract.LiveServerMessage.parse(m);
  });
});

describe('registry', () => {
  it('marks the agent offline when its stream ends', async () => {
    const a2 = await startTestAgent(server, { interval: '200ms' });
    const id = a2.identity?.agentId as string;
    await eventually(() => server.registry.get(id)?.status === 'online', 10_000);
    await a2.stop();
    await eventually(() => server.registry.get(id)?.status === 'offline', 10_000);
  });
});
