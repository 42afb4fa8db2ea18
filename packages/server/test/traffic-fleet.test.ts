/**
 * GET /api/traffic/fleet on a real server with a real agent reporting over gRPC: every host's
 * current cycle for any signed-in role, a plan set by an admin showing in it, and the doors
 * around it shut to callers without a session and to a viewer reaching the admin routes.
 */
import type { Agent } from '@falconet/agent';
import { ROLES, TrafficFleet } from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../testing/processes.ts';
import { hashPassword } from '../src/auth/passwords.ts';
import { startTestAgent } from './support/agent.ts';
import { PASSWORD, startTestServer, type TestServer } from './support/auth.ts';

let t: TestServer;
let agent: Agent;
let agentId: string;

async function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(t.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  // The agent connects over loopback before any user exists; the users come after, for the role checks.
  t = await startTestServer({ users: false });
  agent = await startTestAgent(t.server, { interval: '200ms' });
  agentId = agent.identity?.agentId as string;
  await eventually(async () => {
    const found = await t.server.store.querySeries({
      agentId,
      name: 'node_network_receive_bytes_total',
      fromMs: Date.now() - 60_000,
      toMs: Date.now(),
    });
    return found.length > 0;
  }, 30_000);
  const hash = await hashPassword(PASSWORD);
  for (const role of ROLES) t.userIds[role] = (await t.server.auth.users.create(`${role}-user`, role, hash)).id;
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await t?.stop();
});

describe('GET /api/traffic/fleet', () => {
  it("lists every host's current cycle for a viewer, in the contract's shape", async () => {
    const viewer = await t.session('viewer');
    const res = await call('GET', '/api/traffic/fleet', viewer.headers);
    expect(res.status).toBe(200);
    const fleet = TrafficFleet.parse(res.body);
    const row = fleet.hosts.find((h) => h.agent === agentId);
    expect(row).toMatchObject({ hostname: agent.identity?.hostname, quotaBytes: 0, usedPercent: null });
    expect(row?.endMs).toBeGreaterThan(row?.startMs ?? Number.POSITIVE_INFINITY);
    expect(row?.startMs).toBeLessThanOrEqual(Date.now());
  });

  it('shows the quota an admin sets, as used bytes and percent', async () => {
    const admin = await t.session('admin');
    const put = await call('PUT', `/api/traffic/plans/${agentId}`, admin.mutating, {
      interfaces: ['lo'],
      quota_bytes: 1_000_000_000,
      quota_direction: 'sum',
    });
    expect(put.status).toBe(200);
    const viewer = await t.token('viewer');
    const row = TrafficFleet.parse((await call('GET', '/api/traffic/fleet', viewer.headers)).body).hosts.find((h) => h.agent === agentId);
    expect(row?.quotaBytes).toBe(1_000_000_000);
    expect(row?.usedPercent).toBeCloseTo(((row?.usedBytes ?? 0) / 1_000_000_000) * 100, 6);
    expect(row?.usedBytes).toBe((row?.rxBytes ?? 0) + (row?.txBytes ?? 0));
  });

  it('refuses a caller without a session or token, and a viewer changing a plan', async () => {
    expect((await call('GET', '/api/traffic/fleet', {})).status).toBe(401);
    expect((await call('GET', '/api/traffic/fleet', { authorization: 'Bearer not-a-token' })).status).toBe(401);
    const viewer = await t.session('viewer');
    expect((await call('PUT', `/api/traffic/plans/${agentId}`, viewer.mutating, { quota_bytes: 1 })).status).toBe(403);
    const operator = await t.session('operator');
    expect((await call('DELETE', `/api/traffic/plans/${agentId}`, operator.mutating)).status).toBe(403);
  });
});
