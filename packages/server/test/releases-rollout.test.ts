/**
 * Self-update rollouts on a real in-process server (with users, so every agent needs its token),
 * spoken to by scripted agents over the real agent channel, on both metadata engines: exactly the
 * share of eligible agents gets the signed offer, pause holds offers back, chunks reassemble to the
 * stored file, and from the attacker's seat: fetches of what was not offered, beyond the end or
 * before any offer are refused and audited; a viewer cannot start a rollout; a file changed on disk
 * is served as it is (the agent's hash check is what catches it).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareVersions, type pb, pb as proto, verifyManifest } from '@falconet/protocol';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawStream, rawStream, registerMessage, registerOn } from '../../../testing/agent-channel.ts';
import { eventually, tempDir } from '../../../testing/processes.ts';
import { MAX_CHUNK, rolloutRank, UpdateService } from '../src/releases/service.ts';
import { ReleaseStore } from '../src/releases/store.ts';
import { type Credential, startTestServer, type TestServer } from './support/auth.ts';
import { ENGINES, metaDbOpener } from './support/metadb.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

const OLD = '0.1.0';
const NEW = '0.2.0';

/** A real x86-64 executable's header with random bytes after it: several chunks long, and not the same twice. */
function fakeAgentBinary(dir: string, bytes: number): string {
  const head = readFileSync('/bin/true').subarray(0, 64);
  const body = Buffer.concat([head, createHash('sha512').update(String(Math.random())).digest()]);
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += body.length) body.copy(out, i);
  head.copy(out, 0);
  out.writeUInt32LE(Math.floor(Math.random() * 2 ** 32), 100);
  const file = join(dir, `falconet-agent-${NEW}-linux-x64`);
  writeFileSync(file, out);
  return file;
}

describe.each(ENGINES)('rollouts on %s', { timeout: 120_000 }, (engine) => {
  const databases = metaDbOpener(engine);
  let t: TestServer;
  let grpc = '';
  let admin: Credential;
  let viewer: Credential;
  let binary: Buffer;
  const streams: RawStream[] = [];
  /** The newest stream of each scripted agent. */
  const byId = new Map<string, RawStream>();
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    t = await startTestServer({ databaseUrl: await databases.url() });
    grpc = `127.0.0.1:${t.server.addresses?.grpc.port}`;
    admin = await t.session('admin');
    viewer = await t.session('viewer');
    const file = fakeAgentBinary(tempDir(), 2 * MAX_CHUNK + 12345);
    binary = readFileSync(file);
    new ReleaseStore(t.server.config.data_dir).add({ file });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await t?.stop();
  });

  async function api(method: string, path: string, cred: Credential, body?: unknown): Promise<{ status: number; body: Json }> {
    const headers: Record<string, string> = { ...(method === 'GET' ? cred.headers : cred.mutating) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(t.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Json };
  }

  /** A scripted agent with its own token, registered as an agent that can update itself (unless told otherwise). */
  async function agent(id: string, fields: Partial<pb.Register> = {}): Promise<RawStream> {
    // One token per agent: a token binds to the first identity that uses it.
    const token = tokens.get(id) ?? (await t.server.ingest.tokens.create(id)).token;
    tokens.set(id, token);
    const s = rawStream(grpc);
    streams.push(s);
    byId.set(id, s);
    await registerOn(s, registerMessage(id, { token, version: OLD, releaseTarget: 'linux-x64', updateBlocked: '', ...fields }));
    return s;
  }

  const offers = (s: RawStream) => s.received.flatMap((m) => (m.body?.$case === 'updateOffer' ? [m.body.value] : []));

  /** Sends UpdateFetch and waits for the UpdateChunk that answers it. */
  async function fetchChunk(s: RawStream, rolloutId: string, offset: number, length: number): Promise<pb.UpdateChunk> {
    const before = s.received.length;
    s.send({ body: { $case: 'updateFetch', value: { rolloutId, offset, length } } });
    return await eventually(() => {
      const m = s.received.slice(before).find((x) => x.body?.$case === 'updateChunk');
      return m?.body?.$case === 'updateChunk' ? m.body.value : undefined;
    });
  }

  const status = (s: RawStream, rolloutId: string, state: pb.UpdateState, reason = '') =>
    s.send({ body: { $case: 'updateStatus', value: { rolloutId, state, fromVersion: OLD, toVersion: NEW, reason, timeMs: Date.now() } } });

  let rolloutId = '';
  const names = ['a1', 'a2', 'a3', 'a4'];
  const agents = new Map<string, RawStream>();
  let offered: string[] = [];
  let notOffered: string[] = [];

  it('50% of four eligible agents: exactly two get the signed offer; blocked, other-target and up-to-date agents are not counted', async () => {
    for (const n of names) agents.set(n, await agent(n));
    await agent('from-node', { updateBlocked: 'run from Node.js, not a single-file binary', releaseTarget: '' });
    await agent('arm', { releaseTarget: 'linux-arm64' });
    await agent('current', { version: NEW });
    await agent('not-semver', { version: 'test' });

    const releases = await api('GET', '/api/releases', viewer);
    expect(releases.status).toBe(200);
    expect(releases.body.items).toEqual([
      expect.objectContaining({
        version: NEW,
        target: 'linux-x64',
        size: binary.length,
        sha256: createHash('sha256').update(binary).digest('hex'),
      }),
    ]);

    const created = await api('POST', '/api/rollouts', admin, { version: NEW, percent: 50 });
    expect(created.status).toBe(201);
    rolloutId = created.body.id;
    expect(created.body).toMatchObject({ version: NEW, percent: 50, status: 'active', selected: 2 });

    await eventually(() => [...agents.values()].filter((s) => offers(s).length > 0).length === 2);
    offered = names.filter((n) => offers(agents.get(n) as RawStream).length > 0);
    notOffered = names.filter((n) => !offered.includes(n));
    expect(offered).toHaveLength(2);
    for (const s of streams.slice(4)) expect(offers(s)).toEqual([]);

    // The offer verifies with the key the API publishes, and describes the stored file.
    const offer = offers(agents.get(offered[0] as string) as RawStream)[0] as pb.UpdateOffer;
    expect(offer.rolloutId).toBe(rolloutId);
    const manifest = verifyManifest(offer.manifest, offer.manifestSignature, [createPublicKey(releases.body.publicKey)]);
    expect(manifest).toMatchObject({ name: 'falconet-agent', version: NEW, target: 'linux-x64', size: binary.length });
    expect(compareVersions(manifest.version, OLD)).toBeGreaterThan(0);

    const detail = await api('GET', `/api/rollouts/${rolloutId}`, viewer);
    expect(detail.body.agents.map((a: Json) => [a.agentId, a.state]).sort()).toEqual(offered.map((n) => [n, 'offered']).sort());
    expect((await api('GET', '/api/rollouts', viewer)).body.items[0]).toMatchObject({ id: rolloutId, counts: { offered: 2 } });
  });

  it('chunks reassemble to the exact stored file', async () => {
    const s = agents.get(offered[0] as string) as RawStream;
    status(s, rolloutId, proto.UpdateState.UPDATE_STATE_DOWNLOADING);
    const parts: Buffer[] = [];
    for (let offset = 0; offset < binary.length; ) {
      const c = await fetchChunk(s, rolloutId, offset, MAX_CHUNK);
      expect(c.error).toBe('');
      expect(c.offset).toBe(offset);
      parts.push(Buffer.from(c.data));
      offset += c.data.length;
    }
    expect(parts).toHaveLength(3);
    expect(Buffer.concat(parts).equals(binary)).toBe(true);
  });

  it('refuses, and audits, a fetch of a rollout not offered, beyond the end, too long, or before any offer', async () => {
    const stranger = agents.get(notOffered[0] as string) as RawStream;
    const mine = agents.get(offered[0] as string) as RawStream;
    expect((await fetchChunk(stranger, rolloutId, 0, 1024)).error).toMatch(/was not offered to this agent/);
    expect((await fetchChunk(mine, rolloutId, binary.length, 1024)).error).toMatch(/beyond the end/);
    expect((await fetchChunk(mine, rolloutId, 2 ** 40, 1024)).error).toMatch(/beyond the end/);
    expect((await fetchChunk(mine, rolloutId, 0, MAX_CHUNK + 1)).error).toMatch(/ask for 1 to 1048576 bytes/);
    expect((await fetchChunk(mine, rolloutId, 0, 0)).error).toMatch(/ask for 1 to/);
    // An agent that cannot update itself, so it never counts toward the rollout's share.
    const fresh = await agent('fresh', { updateBlocked: 'run from Node.js' });
    expect((await fetchChunk(fresh, 'no-such-rollout', 0, 1024)).error).toMatch(/"no-such-rollout" was not offered/);
    for (const c of [...stranger.received, ...fresh.received]) {
      if (c.body?.$case === 'updateChunk') expect(c.body.value.data.length).toBe(0);
    }
    const audit = await api('GET', '/api/audit?action=update.fetch&outcome=denied&limit=100', admin);
    expect(audit.body.items.length).toBeGreaterThanOrEqual(6);
    expect(audit.body.items.map((e: Json) => e.actor)).toContain(`agent:${notOffered[0]}`);
  });

  it('a viewer or an operator cannot start or steer a rollout; bad bodies are named', async () => {
    expect((await api('POST', '/api/rollouts', viewer, { version: NEW, percent: 100 })).status).toBe(403);
    expect((await api('POST', '/api/rollouts', await t.session('operator'), { version: NEW, percent: 100 })).status).toBe(403);
    expect((await api('POST', '/api/rollouts', await t.token('viewer'), { version: NEW, percent: 100 })).status).toBe(403);
    expect((await api('POST', `/api/rollouts/${rolloutId}/cancel`, viewer)).status).toBe(403);
    const bad = async (body: unknown) => (await api('POST', '/api/rollouts', admin, body)).body.error.message as string;
    expect(await bad({ version: NEW, percent: 0 })).toMatch(/percent/);
    expect(await bad({ version: NEW, percent: 101 })).toMatch(/percent/);
    expect(await bad({ version: 'latest', percent: 10 })).toMatch(/body version: "latest" is not a version/);
    expect(await bad({ version: '9.9.9', percent: 10 })).toMatch(/release 9.9.9 is not stored/);
    expect(await bad({ version: NEW, percent: 10, target: 'linux-arm64' })).toMatch(/release 0.2.0 for linux-arm64 is not stored/);
    expect(await bad({ version: NEW, percent: 10, target: 'windows' })).toMatch(/body target: "windows"/);
    expect(await bad({ version: NEW, percent: 10, selector: 'role' })).toMatch(/body selector: "role": expected NAME=VALUE/);
    expect(await bad({ version: NEW, percent: 10, extra: 1 })).toMatch(/extra|Unrecognized/i);
    expect((await api('GET', '/api/rollouts/nope', viewer)).status).toBe(404);
  });

  let third = '';
  it('pause holds offers back from an agent that connects later; resume sends them', async () => {
    expect((await api('POST', `/api/rollouts/${rolloutId}/pause`, admin)).body.status).toBe('paused');
    // Five eligible now (the four and "late"): round(2.5) = 3 are to be chosen, but nothing is offered while paused.
    const late = await agent('late');
    await t.server.updates.settled();
    for (const id of [...notOffered, 'late']) expect(offers(byId.get(id) as RawStream)).toEqual([]);
    const resumed = await api('POST', `/api/rollouts/${rolloutId}/resume`, admin);
    expect(resumed.body).toMatchObject({ status: 'active', selected: 3 });
    third = (resumed.body.agents as Json[]).map((a) => a.agentId).find((id: string) => !offered.includes(id));
    expect([...notOffered, 'late']).toContain(third);
    await eventually(() => offers(byId.get(third) as RawStream).length === 1);
    expect((resumed.body.agents as Json[]).find((a) => a.agentId === third).state).toBe('offered');
    // Only the chosen one: the others still have nothing.
    for (const id of [...notOffered, 'late'].filter((x) => x !== third)) expect(offers(byId.get(id) as RawStream)).toEqual([]);
    void late;
  });

  it('records each status; a refusal is final; re-registering with the new version counts as success', async () => {
    const [good, bad] = offered as [string, string];
    const g = agents.get(good) as RawStream;
    const b = agents.get(bad) as RawStream;
    status(g, rolloutId, proto.UpdateState.UPDATE_STATE_VERIFIED);
    status(g, rolloutId, proto.UpdateState.UPDATE_STATE_SWAPPED);
    status(b, rolloutId, proto.UpdateState.UPDATE_STATE_REFUSED, `downgrade from 0.3.0 to ${NEW} refused`);
    const stateOf = async (id: string) =>
      (await api('GET', `/api/rollouts/${rolloutId}`, viewer)).body.agents.find((a: Json) => a.agentId === id);
    await eventually(async () => (await stateOf(good))?.state === 'swapped' && (await stateOf(bad))?.state === 'refused');
    expect(await stateOf(bad)).toMatchObject({ reason: `downgrade from 0.3.0 to ${NEW} refused` });

    // The refusing agent reconnects: no offer of this rollout again.
    b.close();
    const b2 = await agent(bad);
    // The swapped agent comes back as the new version: succeeded.
    g.close();
    const g2 = await agent(good, { version: NEW });
    await eventually(async () => (await stateOf(good))?.state === 'succeeded');
    expect((await stateOf(good)).reason).toBe(`re-registered with version ${NEW}`);
    await t.server.updates.settled();
    expect(offers(b2)).toEqual([]);
    expect(offers(g2)).toEqual([]);

    // A status for a rollout this agent was never offered is refused and audited, and changes nothing.
    status(byId.get('fresh') as RawStream, rolloutId, proto.UpdateState.UPDATE_STATE_SUCCEEDED);
    const audit = await eventually(async () => {
      const items = (await api('GET', '/api/audit?action=update.status&outcome=denied&limit=10', admin)).body.items;
      return items.length ? items : undefined;
    });
    expect(audit[0].detail.error).toBe('rollout not offered to this agent');
    const states = (await api('GET', '/api/audit?action=update.refused&limit=10', admin)).body.items;
    expect(states[0]).toMatchObject({ actor: `agent:${bad}`, target: rolloutId, outcome: 'failed' });
    expect((await api('GET', '/api/audit?action=rollout.create&limit=10', admin)).body.items[0]).toMatchObject({ actor: 'admin-user' });
  });

  it('serves a file changed on disk as it is; a cancelled rollout serves nothing', async () => {
    const store = new ReleaseStore(t.server.config.data_dir);
    const path = (store.get(NEW, 'linux-x64') as { path: string }).path;
    const tampered = Buffer.from(binary);
    tampered[5000] = (tampered[5000] as number) ^ 0xff;
    writeFileSync(path, tampered);
    const target = byId.get(third) as RawStream;
    const c = await fetchChunk(target, rolloutId, 0, MAX_CHUNK);
    expect(c.error).toBe('');
    expect(Buffer.from(c.data).equals(tampered.subarray(0, MAX_CHUNK))).toBe(true);
    expect(createHash('sha256').update(c.data).digest('hex')).not.toBe(
      createHash('sha256').update(binary.subarray(0, MAX_CHUNK)).digest('hex'),
    );

    // The binary gone from disk: an error for the agent, and its stream carries on.
    rmSync(path);
    expect((await fetchChunk(target, rolloutId, 0, 1024)).error).toBe(`release ${NEW} cannot be read on the server`);
    writeFileSync(path, tampered);
    expect((await fetchChunk(target, rolloutId, 0, 1024)).data.length).toBe(1024);

    expect((await api('POST', `/api/rollouts/${rolloutId}/cancel`, admin)).body.status).toBe('cancelled');
    expect((await fetchChunk(target, rolloutId, 0, 1024)).error).toMatch(/was cancelled/);
    expect((await api('POST', `/api/rollouts/${rolloutId}/resume`, admin)).status).toBe(409);
    const audit = (await api('GET', '/api/audit?action=rollout.cancel&limit=10', admin)).body.items;
    expect(audit[0]).toMatchObject({ target: rolloutId, actor: 'admin-user' });

    // All of it is in the metadata database: a service loading it afresh (a restart) sees the same.
    const reloaded = new UpdateService({
      meta: t.server.meta,
      releases: store,
      registry: t.server.registry,
      audit: async () => undefined,
      log: pino({ level: 'silent' }),
    });
    await reloaded.load();
    expect(reloaded.get(rolloutId)).toEqual(t.server.updates.get(rolloutId));
    expect(reloaded.list()).toEqual(t.server.updates.list());
  });

  it('a label selector chooses only agents with those trusted labels, never labels an agent declares', async () => {
    const [, bad] = offered as [string, string];
    for (const id of [bad, 'late']) {
      expect((await api('PUT', `/api/agents/${id}/labels`, admin, { labels: { role: 'canary' } })).status).toBe(200);
    }
    const declared = await agent('declared', { labels: { role: 'canary' } });
    // The first rollout is cancelled, so its agents are free again; the one that refused it may try a new one.
    const r = await api('POST', '/api/rollouts', admin, { version: NEW, percent: 100, selector: 'role=canary', target: 'linux-x64' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ selector: { role: 'canary' }, target: 'linux-x64', selected: 2 });
    expect((r.body.agents as Json[]).map((a) => a.agentId).sort()).toEqual([bad, 'late'].sort());
    await eventually(() => offers(byId.get('late') as RawStream).some((o) => o.rolloutId === r.body.id));
    await eventually(() => offers(byId.get(bad) as RawStream).some((o) => o.rolloutId === r.body.id));
    await t.server.updates.settled();
    expect(offers(declared)).toEqual([]);
  });
});

describe('choosing agents', { timeout: 120_000 }, () => {
  it('takes exactly round(percent × eligible / 100), the lowest hashes of rollout and agent id', async () => {
    const t = await startTestServer();
    const streams: RawStream[] = [];
    try {
      new ReleaseStore(t.server.config.data_dir).add({ file: fakeAgentBinary(tempDir(), 4096) });
      const grpc = `127.0.0.1:${t.server.addresses?.grpc.port}`;
      const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'];
      for (const id of ids) {
        const { token } = await t.server.ingest.tokens.create(id);
        const s = rawStream(grpc);
        streams.push(s);
        await registerOn(s, registerMessage(id, { token, version: OLD, releaseTarget: 'linux-x64' }));
      }
      const admin = await t.session('admin');
      const create = async (percent: number) => {
        const res = await fetch(`${t.base}/api/rollouts`, {
          method: 'POST',
          headers: { ...admin.mutating, 'content-type': 'application/json' },
          body: JSON.stringify({ version: NEW, percent }),
        });
        expect(res.status).toBe(201);
        return (await res.json()) as Json;
      };
      // 50% of 7 is 3.5: four agents, the four whose hash with this rollout's id sorts first.
      const r = await create(50);
      const expected = [...ids].sort((a, b) => (rolloutRank(r.id, a) < rolloutRank(r.id, b) ? -1 : 1)).slice(0, 4);
      expect((r.agents as Json[]).map((a) => a.agentId).sort()).toEqual(expected.sort());
      // The three left over are free; 1% of them is 0.03: nobody.
      expect((await create(1)).selected).toBe(0);
      expect((await create(34)).selected).toBe(1);
    } finally {
      for (const s of streams) s.close();
      await t.stop();
    }
  });
});
