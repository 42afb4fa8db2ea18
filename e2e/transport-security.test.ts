import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type AgentIdentity, MemoryBacklog, ReportStream, type TlsSettings } from '@falconet/agent';
import { derivePayloadKey, encodePayload, PayloadEncoding, PayloadKind, pb, reportAad, seal } from '@falconet/protocol';
import { type ClientDuplexStream, credentials } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../packages/server/src/ingest/x509.ts';
import { bareIdentity, MemorySequence } from '../testing/agent-channel.ts';
import { createToken, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

/** An agent token, checking what create-token says of it. */
async function agentToken(dataDir: string, agent: string, expires?: string): Promise<string> {
  const made = await createToken(dataDir, { agent, expires });
  expect(made.message).toMatch(new RegExp(`token [0-9a-f]{12} for agent "${agent}".*It is shown once`));
  return made.token;
}

const identity = (agentId: string): AgentIdentity => bareIdentity(agentId, { hostname: `${agentId}-host`, os: 'test' });

/** The real agent transport, dialling `port`; resolves "connected" or the first error it logs. */
async function dial(
  port: number,
  agentId: string,
  opts: { token?: string; tls?: Partial<TlsSettings>; encrypt?: boolean } = {},
): Promise<{ outcome: string; stream: ReportStream }> {
  const lines: { level: number; msg: string; reason?: string }[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _e, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    }),
  );
  const stream = new ReportStream({
    address: { host: '127.0.0.1', port, tls: false },
    identity: identity(agentId),
    labels: {},
    token: opts.token ?? '',
    intervalMs: 1000,
    log,
    sequence: new MemorySequence(),
    backlog: new MemoryBacklog(),
    tls: opts.tls,
    encrypt: opts.encrypt,
  });
  stream.start();
  const outcome = await eventually(() => {
    if (lines.some((l) => l.msg === 'connected to server')) return 'connected';
    const err = lines.find((l) => l.level >= 40);
    // The classification, without the hint and the retry that follow it.
    return err ? `${(err.msg as string).replace(/[:;].*$/, '')}: ${err.reason}` : undefined;
  }, 20_000);
  return { outcome, stream };
}

function rejected(text: string, reason: string): number {
  return Number(
    new RegExp(`^falconet_server_ingest_rejected_total\\{channel="grpc",reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
  );
}

describe('transport security', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('refuses absent, wrong, expired and borrowed tokens and a tampered sealed payload; takes a good token', async () => {
    const server: ServerProc = await startServer();
    cleanup.push(() => server.stop());

    // Before any token exists, a loopback agent needs none (the first-run default).
    const open = await dial(server.grpcPort, 'sec-before');
    expect(open.outcome).toBe('connected');
    await open.stream.stop();

    const good = await agentToken(server.dataDir, 'sec-good');
    const expiring = await agentToken(server.dataDir, 'sec-exp', '1s');
    await new Promise((r) => setTimeout(r, 1200));

    const none = await dial(server.grpcPort, 'sec-none');
    expect(none.outcome).toMatch(
      /server refused this agent.*this server requires an agent token: make one with `falconet-server create-token/,
    );
    const wrong = await dial(server.grpcPort, 'sec-good', { token: 'fnt_thisIsNotARealTokenAtAllxxxxxxxxxxxxxxxxxxx' });
    expect(wrong.outcome).toMatch(/server refused this agent.*agent token rejected: unknown token/);
    const expired = await dial(server.grpcPort, 'sec-exp', { token: expiring });
    expect(expired.outcome).toMatch(/agent token rejected: token [0-9a-f]{12} expired at \d{4}-/);
    const borrowed = await dial(server.grpcPort, 'sec-other', { token: good });
    expect(borrowed.outcome).toMatch(/agent token rejected: token [0-9a-f]{12} is for agent "sec-good", not sec-other-host \(sec-other\)/);
    for (const s of [none, wrong, expired, borrowed]) {
      expect(s.stream.state).not.toBe('connected');
      await s.stream.stop();
    }

    // The right token, payloads sealed with the key derived from it: stored.
    const ok = await dial(server.grpcPort, 'sec-good', { token: good, encrypt: true });
    expect(ok.outcome).toBe('connected');
    await ok.stream.enqueue([{ name: 'sealed_value', labels: {}, value: 42, timestampMs: Date.now() }]);
    expect(await ok.stream.flush(10_000)).toBe(true);
    expect(ok.stream.stats.rejected).toBe(0);
    const pts = await getJson<{ series: { points: [number, number][] }[] }>(`${server.url}/api/metrics?agent=sec-good&name=sealed_value`);
    expect(pts.series[0]?.points[0]?.[1]).toBe(42);
    await ok.stream.stop();

    // A sealed payload changed on the way, or moved to another sequence, fails authentication.
    const { AgentChannelClient } = await import('@falconet/protocol');
    const client = new AgentChannelClient(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    const call: ClientDuplexStream<pb.AgentMessage, pb.ServerMessage> = client.connect();
    const answers: pb.ServerMessage[] = [];
    call.on('data', (m: pb.ServerMessage) => answers.push(m));
    call.on('error', () => undefined);
    call.write({
      body: { $case: 'register', value: pb.Register.fromPartial({ agentId: 'sec-good', hostname: 'sec-good-host', token: good }) },
    });
    const lastSeq = await eventually(() => {
      const body = answers.find((m) => m.body?.$case === 'registered')?.body;
      return body?.$case === 'registered' ? body.value.lastSeq : undefined;
    });
    const key = derivePayloadKey(good);
    const gz = encodePayload([{ name: 'tampered', labels: {}, value: 1, timestampMs: Date.now() }], { gzip: true }).payload;
    const tampered = seal(gz, key, reportAad('sec-good', lastSeq + 1));
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] as number) ^ 0x01;
    const moved = seal(gz, key, reportAad('sec-good', lastSeq + 99));
    const sealed = PayloadEncoding.PAYLOAD_ENCODING_GZIP_AES256GCM;
    call.write({
      body: {
        $case: 'report',
        value: {
          seq: lastSeq + 1,
          encoding: sealed,
          payload: tampered,
          sampleCount: 1,
          createdMs: 0,
          kind: PayloadKind.PAYLOAD_KIND_SAMPLES,
        },
      },
    });
    call.write({
      body: {
        $case: 'report',
        value: { seq: lastSeq + 2, encoding: sealed, payload: moved, sampleCount: 1, createdMs: 0, kind: PayloadKind.PAYLOAD_KIND_SAMPLES },
      },
    });
    const acks = await eventually(() => {
      const a = answers.filter((m) => m.body?.$case === 'ack').map((m) => m.body?.value as pb.Ack);
      return a.length === 2 ? a : undefined;
    });
    expect(acks.map((a) => a.error)).toEqual([
      'sealed payload failed authentication (wrong key or tampered data)',
      'sealed payload failed authentication (wrong key or tampered data)',
    ]);
    call.cancel();
    client.close();
    expect((await getJson<{ names: string[] }>(`${server.url}/api/metrics/names?agent=sec-good`)).names).not.toContain('tampered');

    // A real agent process with its own token (made for its hostname), sealing its reports.
    const token = await agentToken(server.dataDir, hostname());
    const agent = await startAgent({
      server: `127.0.0.1:${server.grpcPort}`,
      env: { FALCONET_SERVER_TOKEN: token, FALCONET_TRANSPORT_ENCRYPT: 'true' },
    });
    cleanup.push(() => agent.stop());
    await agent.waitFor(/"connected to server"/);
    const listed = await eventually(async () => {
      const r = await getJson<{ items: { id: string; hostname: string; summary: Record<string, number> }[] }>(`${server.url}/api/agents`);
      return r.items.find((a) => a.hostname === hostname() && a.summary.node_load1 !== undefined);
    });
    expect(listed).toBeDefined();

    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(rejected(text, 'token_missing')).toBeGreaterThanOrEqual(1);
    expect(rejected(text, 'token_invalid')).toBeGreaterThanOrEqual(1);
    expect(rejected(text, 'token_expired')).toBeGreaterThanOrEqual(1);
    expect(rejected(text, 'token_wrong_agent')).toBeGreaterThanOrEqual(1);
    expect(rejected(text, 'decrypt_failed')).toBe(2);
    const agents = await getJson<{ items: { id: string }[] }>(`${server.url}/api/agents`);
    expect(agents.items.map((a) => a.id)).not.toContain('sec-none');
    expect(agents.items.map((a) => a.id)).not.toContain('sec-other');
  });

  it('TLS: a self-signed certificate on first start; agents verify it by CA file or pinned fingerprint', async () => {
    const server = await startServer({ env: { FALCONET_GRPC_TLS_MODE: 'on' } });
    cleanup.push(() => server.stop());
    const certFile = join(server.dataDir, 'tls', 'server.crt');
    const tlsLine = JSON.parse(await server.waitFor(/"agent channel uses TLS/));
    expect(tlsLine.certFile).toBe(certFile);
    const fingerprint: string = tlsLine.fingerprint;
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(server.lines.some((l) => l.includes('generated a self-signed TLS certificate'))).toBe(true);

    const byCa = await dial(server.grpcPort, 'tls-ca', { tls: { mode: 'on', caFile: certFile } });
    expect(byCa.outcome).toBe('connected');
    await byCa.stream.stop();

    const otherCa = join(tempDir(), 'other-ca.crt');
    writeFileSync(otherCa, selfSignedCertificate('someone-else', ['localhost', '127.0.0.1']).certPem);
    const wrongCa = await dial(server.grpcPort, 'tls-wrong-ca', { tls: { mode: 'on', caFile: otherCa } });
    expect(wrongCa.outcome).toMatch(/^TLS check of the server failed: .*certificate/i);
    await wrongCa.stream.stop();

    const wrongPin = await dial(server.grpcPort, 'tls-wrong-pin', { tls: { mode: 'on', fingerprint: 'AB'.repeat(32) } });
    expect(wrongPin.outcome).toMatch(
      /^TLS check of the server failed: server certificate SHA-256 .* does not match transport.tls.fingerprint AB:AB/,
    );
    await wrongPin.stream.stop();

    const systemRoots = await dial(server.grpcPort, 'tls-system', { tls: { mode: 'on' } });
    expect(systemRoots.outcome).toMatch(/^TLS check of the server failed: .*self[- ]signed certificate/i);
    await systemRoots.stream.stop();

    const plain = await dial(server.grpcPort, 'tls-plain', { tls: { mode: 'off' } });
    expect(plain.outcome).not.toBe('connected');
    await plain.stream.stop();

    // A real agent process pinning the fingerprint over grpcs://.
    const agent = await startAgent({
      server: `grpcs://127.0.0.1:${server.grpcPort}`,
      env: { FALCONET_TRANSPORT_TLS_FINGERPRINT: fingerprint },
    });
    cleanup.push(() => agent.stop());
    const connected = JSON.parse(await agent.waitFor(/"connected to server"/));
    expect(connected.security).toMatch(/^TLS, certificate pinned/);
    await eventually(async () => {
      const r = await getJson<{ items: { hostname: string; status: string }[] }>(`${server.url}/api/agents`);
      return r.items.some((a) => a.hostname === hostname() && a.status === 'online');
    });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^falconet_server_agent_streams 1$/m);
  });
});
