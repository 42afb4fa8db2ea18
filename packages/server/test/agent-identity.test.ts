/**
 * Agent identity on an in-process server with users (so every agent needs a token), from the
 * attacker's seat: a valid token of another agent, spoken through the real agent channel. Tokens
 * bind to one identity, once; hostile registrations and reports are refused or harmless (a seeded
 * fuzz); sequence jumps are refused without losing the agent's spool, and an operator resets them;
 * only trusted labels choose agents for tasks.
 */
import { MemoryBacklog, ReportStream } from '@falconet/agent';
import { pb, type Sample } from '@falconet/protocol';
import { status as GrpcStatus } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bareIdentity,
  MemorySequence,
  type RawStream,
  rawStream,
  registerMessage,
  registerOn,
  rejectedCount,
  reportMessage,
} from '../../../testing/agent-channel.ts';
import { eventually } from '../../../testing/processes.ts';
import type { AgentToken } from '../src/agents/tokens.ts';
import { AgentRepository } from '../src/db/agents.ts';
import { type Credential, startTestServer, type TestServer } from './support/auth.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

/** A small bound, so the test can jump past it cheaply. */
const MAX_JUMP = 1000;

let t: TestServer;
let target = '';
let operator: Credential;

beforeAll(async () => {
  t = await startTestServer({ config: { ingest: { max_sequence_jump: MAX_JUMP } } });
  target = `127.0.0.1:${t.server.addresses?.grpc.port}`;
  operator = await t.session('operator');
});
afterAll(async () => {
  await t?.stop();
});

const gauge = (name: string, value: number, t0 = Date.now()): Sample => ({ name, labels: {}, value, timestampMs: t0 });

async function api(method: string, path: string, cred: Credential, body?: unknown): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { ...(method === 'GET' ? cred.headers : cred.mutating) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(t.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
}

async function token(agent: string, labels?: Record<string, string>): Promise<{ token: string; record: AgentToken }> {
  return await t.server.ingest.tokens.create(agent, { labels });
}

/** Registers on a fresh stream; resolves with the stream, or with the status the server refused it with. */
async function register(msg: pb.AgentMessage): Promise<{ s: RawStream; refused?: { code: number; details: string } }> {
  const s = rawStream(target);
  try {
    await registerOn(s, msg);
    return { s };
  } catch (err) {
    s.close();
    const e = err as { code?: number; details?: string; message: string };
    return { s, refused: { code: e.code ?? -1, details: e.details ?? e.message } };
  }
}

async function ackOf(s: RawStream): Promise<pb.Ack | { ended: string }> {
  const m = await Promise.race([s.next(), s.ended.then((e) => ({ ended: `${e?.code}: ${e?.details}` }))]);
  if ('ended' in m) return m;
  if (m.body?.$case !== 'ack') throw new Error(`expected an ack, got ${JSON.stringify(m)}`);
  return m.body.value;
}

async function metricsText(): Promise<string> {
  return await (await fetch(`${t.base}/metrics`, { headers: (await t.token('viewer')).headers })).text();
}

async function auditOf(actor: string): Promise<Json[]> {
  return (await api('GET', `/api/audit?actor=${encodeURIComponent(actor)}&limit=1000`, await t.session('admin'))).body.items;
}

/** Everything the server holds about an agent that an attacker would want to change. */
async function snapshot(agentId: string) {
  const store = t.server.store;
  const [series] = await store.querySeries({ agentId, name: 'victim_value', fromMs: 0, toMs: Date.now() + 3_600_000 });
  const tokens = await t.server.ingest.tokens.boundTo(agentId);
  return {
    record: t.server.registry.get(agentId),
    lastSeq: await store.lastSeq(agentId),
    points: series?.points,
    tokens: tokens.map((x) => ({ id: x.id, bound: x.bound, labels: x.labels })),
  };
}

/** mulberry32: a small seeded generator, so every run makes the same cases. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

describe('agent tokens bound to one identity', () => {
  it('binds at creation when the agent is known, else at its first registration, once, even when two registrations race', async () => {
    // Unknown when made: bound by the first registration that matches its name.
    const first = await token('race-host');
    expect(first.record.bound).toBeNull();
    const racing = await Promise.all(
      ['race-a', 'race-b', 'race-c'].map((id) => register(registerMessage(id, { hostname: 'race-host', token: first.token }))),
    );
    const won = racing.filter((r) => !r.refused);
    expect(won).toHaveLength(1);
    const bound = (await t.server.ingest.tokens.get(first.record.id))?.bound;
    expect(bound?.hostname).toBe('race-host');
    for (const r of racing.filter((x) => x.refused)) {
      expect(r.refused?.code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect(r.refused?.details).toMatch(
        new RegExp(`token ${first.record.id} is bound to agent "${bound?.agentId}" \\(host "race-host"\\)`),
      );
    }
    for (const r of racing) r.s.close();
    const audit = await auditOf(`agent-token:${first.record.id}`);
    expect(audit.filter((e) => e.action === 'agent.enrol')).toHaveLength(1);
    expect(audit.filter((e) => e.action === 'agent.register' && e.outcome === 'denied')).toHaveLength(2);

    // Known when made (by agent id or by its one hostname): bound at once.
    // Records reach the metadata database in batches; the CLI reads them there.
    await t.server.registry.persist();
    const byId = await token(bound?.agentId as string);
    expect(byId.record.bound).toMatchObject({ agentId: bound?.agentId, hostname: 'race-host' });
    const byHost = await token('race-host');
    expect(byHost.record.bound).toMatchObject({ agentId: bound?.agentId, hostname: 'race-host' });
    // A second token for the same agent (a key rotation) works for it, and for it only.
    expect(
      (await register(registerMessage(bound?.agentId as string, { hostname: 'race-host', token: byHost.token }))).refused,
    ).toBeUndefined();
    const other = await register(registerMessage('race-z', { hostname: 'race-host', token: byHost.token }));
    expect(other.refused?.details).toMatch(/is bound to agent/);
  });

  it("survives a seeded fuzz of hostile registrations and reports with another agent's valid token; the victim is unchanged", async () => {
    // The victim: bound to its token, a few reports stored, then gone quiet.
    const victimToken = await token('victim-host', { tier: 'gold' });
    const v = await register(registerMessage('victim-1', { hostname: 'victim-host', token: victimToken.token }));
    expect(v.refused).toBeUndefined();
    for (let seq = 1; seq <= 5; seq++) {
      v.s.send(reportMessage(seq, [gauge('victim_value', seq * 10, Date.now() - 1000 + seq)]));
      expect(await ackOf(v.s)).toEqual({ seq, error: '' });
    }
    v.s.close();
    await eventually(() => t.server.registry.get('victim-1')?.connected === false);
    const before = await snapshot('victim-1');
    expect(before.lastSeq).toBe(5);
    expect(before.points).toHaveLength(5);

    // The attacker holds web-2's token, bound by its own first registration.
    const attacker = await token('web-2');
    const own = await register(registerMessage('attacker-1', { hostname: 'web-2', token: attacker.token }));
    expect(own.refused).toBeUndefined();
    own.s.close();

    const rand = seeded(26);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const long = (n: number) => 'a'.repeat(n);
    const ids = [
      'victim-1', // the victim itself
      'attacker-1', // its own
      'VICTIM-1',
      'victim-1.',
      'victim\u20111', // a non-breaking hyphen that looks like one
      'victim-1\u0000',
      ' victim-1',
      '../victim-1',
      'push:victim-host',
      '',
      long(128),
      long(129),
      long(10_000),
      '\u{1F600}',
      'web-2',
      'victim-host',
    ];
    const hosts = [
      'web-2',
      'victim-host',
      'Victim-Host',
      'victim-host ',
      '',
      long(255),
      long(256),
      long(100_000),
      'web-2\nvictim-host',
      '\u202Eweb-2',
      'ünïcödé',
    ];
    const labelSets: Record<string, string>[] = [
      {},
      { role: 'db' },
      { role: 'db', zone: 'a' },
      { 'bad name': 'x' },
      { __reserved: 'x' },
      { role: long(2000) },
      Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`l${i}`, 'x'])),
    ];
    // Sequence numbers as the wire carries them (uint64): huge, at and past 2^53, the whole range.
    const seqs: (number | bigint)[] = [
      0,
      1,
      2,
      3,
      MAX_JUMP,
      MAX_JUMP + 2,
      2 ** 40,
      2 ** 40 + 1,
      2 ** 53 - 1,
      2n ** 53n,
      2n ** 53n + 1n,
      2n ** 64n - 1n,
    ];
    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    const CASES = 300;
    for (let i = 0; i < CASES; i++) {
      // A third of the cases present exactly the identity the token is bound to, so reports get their turn.
      const own = rand() < 0.35;
      const agentId = own ? 'attacker-1' : pick(ids);
      const hostname = own ? 'web-2' : pick(hosts);
      const labels = pick(labelSets);
      const r = await register(registerMessage(agentId, { hostname, labels, token: attacker.token, ips: [pick(ids)] }));
      if (r.refused) {
        expect([GrpcStatus.UNAUTHENTICATED, GrpcStatus.INVALID_ARGUMENT], r.refused.details).toContain(r.refused.code);
        count(`register refused ${r.refused.code}`);
        continue;
      }
      // Accepted only as exactly the identity the token is bound to.
      expect({ agentId, hostname }).toEqual({ agentId: 'attacker-1', hostname: 'web-2' });
      count('registered');
      const raw = rand() < 0.2;
      if (raw) {
        // Bytes no encoder makes: a sequence varint cut short, or longer than any uint64.
        r.s.send(
          Buffer.from(
            pick([
              [0x12, 0x02, 0x08, 0xff],
              [0x12, 0x0c, 0x08, ...Array(10).fill(0xff), 0x01],
            ]),
          ),
        );
      } else {
        const seq = pick(seqs);
        r.s.send(Buffer.from(pb.AgentMessage.encode(reportMessage(seq as number, [gauge('attacker_value', i)])).finish()));
      }
      const a = await ackOf(r.s);
      count('ended' in a ? `report ended ${a.ended.split(':')[0]}` : a.error ? 'report refused' : 'report stored');
      if ('ended' in a) expect(a.ended).toMatch(new RegExp(`^(${GrpcStatus.FAILED_PRECONDITION}|${GrpcStatus.INVALID_ARGUMENT}): `));
      r.s.close();
    }
    // Every branch was taken, so the run proves something about each.
    expect([...outcomes.keys()].sort()).toEqual(
      expect.arrayContaining([
        `register refused ${GrpcStatus.UNAUTHENTICATED}`,
        `register refused ${GrpcStatus.INVALID_ARGUMENT}`,
        'registered',
        'report stored',
        `report ended ${GrpcStatus.FAILED_PRECONDITION}`,
        `report ended ${GrpcStatus.INVALID_ARGUMENT}`,
      ]),
    );
    const registrations = [...outcomes].filter(([k]) => k.startsWith('register')).reduce((n, [, v]) => n + v, 0);
    expect(registrations).toBe(CASES);

    // The victim is as it was; the attacker never got past a bounded sequence.
    expect(await snapshot('victim-1')).toEqual(before);
    expect(await t.server.store.lastSeq('attacker-1')).toBeLessThanOrEqual(2 * MAX_JUMP + 3);
    expect(t.server.registry.list().every((a) => (a.id !== 'VICTIM-1' && a.hostname !== 'victim-host') || a.id === 'victim-1')).toBe(true);
    const text = await metricsText();
    expect(rejectedCount(text, 'grpc', 'token_wrong_agent')).toBeGreaterThan(0);
    expect(rejectedCount(text, 'grpc', 'sequence_jump')).toBeGreaterThan(0);
    const denied = (await auditOf(`agent-token:${attacker.record.id}`)).filter((e) => e.outcome === 'denied');
    expect(denied.length).toBe(
      (outcomes.get(`register refused ${GrpcStatus.UNAUTHENTICATED}`) ?? 0) +
        (outcomes.get(`report ended ${GrpcStatus.FAILED_PRECONDITION}`) ?? 0),
    );
    // The server is alive and the victim goes on where it was.
    expect((await fetch(`${t.base}/healthz`)).status).toBe(200);
    const back = await register(registerMessage('victim-1', { hostname: 'victim-host', token: victimToken.token }));
    expect(back.refused).toBeUndefined();
    back.s.send(reportMessage(6, [gauge('victim_value', 60)]));
    expect(await ackOf(back.s)).toEqual({ seq: 6, error: '' });
    back.s.close();
  }, 120_000);
});

describe('report sequence jumps', () => {
  it("refuses a jump without acknowledging it: the agent keeps the report until an operator resets the agent's sequence", async () => {
    const made = await token('jumper-host');
    const sequence = new MemorySequence();
    const backlog = new MemoryBacklog();
    const logged: { msg: string; reason?: string }[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const stream = new ReportStream({
      address: { host: '127.0.0.1', port: t.server.addresses?.grpc.port as number, tls: false },
      identity: bareIdentity('jumper-1', { hostname: 'jumper-host' }),
      labels: {},
      token: made.token,
      intervalMs: 1000,
      log: capture,
      sequence,
      backlog,
      circuitOpenMs: 200,
    });
    stream.start();
    try {
      for (let i = 1; i <= 3; i++) await stream.enqueue([gauge('jumper_value', i)]);
      expect(await stream.flush(10_000)).toBe(true);
      expect(await t.server.store.lastSeq('jumper-1')).toBe(3);
      // The agent's numbering really jumps (its sequence file came from elsewhere): far past the bound.
      sequence.advancePast(3 + 5 * MAX_JUMP);
      await stream.enqueue([gauge('jumper_value', 4)]);
      await eventually(() => t.server.registry.get('jumper-1')?.sequenceRefused ?? undefined);
      expect(t.server.registry.get('jumper-1')?.sequenceRefused).toMatchObject({ seq: 5 * MAX_JUMP + 4, lastSeq: 3 });
      // Refused, never stored, never acknowledged: still in the agent's backlog.
      expect(await stream.flush(500)).toBe(false);
      expect(backlog.stats.pendingReports).toBe(1);
      expect(stream.stats.rejected).toBe(0);
      expect(await t.server.store.lastSeq('jumper-1')).toBe(3);
      // The agent is told, and says what to do.
      expect(logged.find((l) => l.msg.startsWith("server refused this agent's report sequence"))?.reason).toMatch(
        /^report sequence 5004 is 5001 beyond the last acknowledged 3 \(ingest.max_sequence_jump 1000\): refused, not stored; .*reset its sequence state \(POST \/api\/agents\/ID\/sequence\/reset\)/,
      );
      const denied = (await auditOf(`agent-token:${made.record.id}`)).filter((e) => e.action === 'agent.report');
      expect(denied[0]).toMatchObject({
        outcome: 'denied',
        target: 'jumper-1',
        detail: { reason: 'sequence_jump', seq: 5 * MAX_JUMP + 4, lastSeq: 3 },
      });
      expect(denied[0].detail.message).toMatch(
        /is 5001 beyond the last acknowledged 3 \(ingest.max_sequence_jump 1000\): refused, not stored/,
      );

      // A viewer may not reset; an operator may, and it is audited.
      expect((await api('POST', '/api/agents/jumper-1/sequence/reset', await t.session('viewer'))).status).toBe(403);
      expect((await api('POST', '/api/agents/nobody-at-all/sequence/reset', operator)).status).toBe(404);
      const reset = await api('POST', '/api/agents/jumper-1/sequence/reset', operator);
      expect(reset).toEqual({ status: 200, body: { agentId: 'jumper-1', previousLastSeq: 3, lastSeq: 0 } });
      expect((await auditOf('operator-user')).find((e) => e.action === 'agent.sequence.reset')).toMatchObject({
        target: 'jumper-1',
        outcome: 'ok',
        detail: { previousLastSeq: 3 },
      });
      // The agent's next attempt delivers what it kept.
      expect(await stream.flush(20_000)).toBe(true);
      expect(await t.server.store.lastSeq('jumper-1')).toBe(5 * MAX_JUMP + 4);
      const [series] = await t.server.store.querySeries({
        agentId: 'jumper-1',
        name: 'jumper_value',
        fromMs: 0,
        toMs: Date.now() + 60_000,
      });
      expect(series?.points.map((p) => p[1])).toEqual([1, 2, 3, 4]);
      expect(t.server.registry.get('jumper-1')?.sequenceRefused).toBeNull();
    } finally {
      await stream.stop();
    }
  });

  it('holds off an agent whose stored sequence no agent makes (left by an earlier attack) until an operator resets it', async () => {
    const made = await token('poisoned-host');
    await t.server.store.appendReport('poisoned-1', 2 ** 53 - 2, [gauge('poison', 1)]);
    const held = await register(registerMessage('poisoned-1', { hostname: 'poisoned-host', token: made.token }));
    expect(held.refused?.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(held.refused?.details).toMatch(
      /^the server holds sequence 9007199254740990 for agent "poisoned-1", beyond any an agent makes; an operator must reset/,
    );
    expect((await api('POST', '/api/agents/poisoned-1/sequence/reset', operator)).body.previousLastSeq).toBe(2 ** 53 - 2);
    const r = await register(registerMessage('poisoned-1', { hostname: 'poisoned-host', token: made.token }));
    expect(r.refused).toBeUndefined();
    r.s.send(reportMessage(1, [gauge('poison', 2)]));
    expect(await ackOf(r.s)).toEqual({ seq: 1, error: '' });
    r.s.close();
  });
});

describe('trusted labels choose agents for tasks', () => {
  it('sends a task for role=db to the agent whose token says role=db, never to one that only declares it', async () => {
    const dbToken = await token('db-host', { role: 'db' });
    const db = await register(registerMessage('db-1', { hostname: 'db-host', token: dbToken.token }));
    const liarToken = await token('liar-host');
    const liar = await register(registerMessage('liar-1', { hostname: 'liar-host', token: liarToken.token, labels: { role: 'db' } }));
    expect(db.refused ?? liar.refused).toBeUndefined();
    expect(t.server.registry.get('liar-1')).toMatchObject({ labels: { role: 'db' }, trustedLabels: {} });
    expect(t.server.registry.get('db-1')).toMatchObject({ labels: {}, tokenLabels: { role: 'db' }, trustedLabels: { role: 'db' } });

    const created = await api('POST', '/api/tasks', operator, { command: '/bin/echo', args: ['x'], labels: { role: 'db' } });
    expect(created.status).toBe(201);
    expect(created.body.task.agentIds).toContain('db-1');
    expect(created.body.task.agentIds).not.toContain('liar-1');
    await eventually(() => db.s.received.some((m) => m.body?.$case === 'task'));
    expect(liar.s.received.filter((m) => m.body?.$case === 'task')).toEqual([]);

    // Server-side labels: set by an operator, audited, validated; "" takes away a label of the token.
    expect((await api('PUT', '/api/agents/db-1/labels', await t.session('viewer'), { labels: {} })).status).toBe(403);
    expect((await api('PUT', '/api/agents/nobody/labels', operator, { labels: {} })).status).toBe(404);
    const bad = await api('PUT', '/api/agents/db-1/labels', operator, { labels: { 'no good': 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^body labels: label "no good": not a label name/);
    const set = await api('PUT', '/api/agents/db-1/labels', operator, { labels: { role: '', zone: 'a' } });
    expect(set.body).toMatchObject({ serverLabels: { role: '', zone: 'a' }, trustedLabels: { zone: 'a' } });
    const none = await api('POST', '/api/tasks', operator, { command: '/bin/echo', labels: { role: 'db' } });
    expect(none.body.error.message).toMatch(/^no agent has the labels role=db as trusted labels \(\d+ declare them;/);
    expect((await auditOf('operator-user')).find((e) => e.action === 'agent.labels')).toMatchObject({
      target: 'db-1',
      detail: { before: {}, after: { role: '', zone: 'a' } },
    });
    // Written to the metadata database, where a restarted server loads them from.
    expect((await new AgentRepository(t.server.meta).serverLabels()).get('db-1')).toEqual({ role: '', zone: 'a' });
    db.s.close();
    liar.s.close();
  });
});
