/**
 * The one-line install's routes on an in-process server with users: the script with this server's
 * addresses (and its certificate pinned when it made its own), the newest held agent binary with its
 * SHA-256, the refusals (no binary, unknown target, a ../ in the name, a hostile Host header), and
 * the exchange of an enrollment token for an agent token, tried from the attacker's seat too.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { fakeAgentBinary } from '../../../testing/release.ts';
import { AGENT_SCRIPT_TEMPLATE, AGENT_UNIT } from '../src/install/texts.generated.ts';
import { GENERATED_FILE, SCRIPT_FILE, UNIT_FILE } from '../src/install/texts-source.ts';
import { ReleaseStore } from '../src/releases/store.ts';
import { startTestServer, type TestServer } from './support/auth.ts';

let t: TestServer;

/** Adds a release to the server's store as `falconet-server release add` does (signed manifest and all). */
function hold(server: TestServer, version: string, target: 'linux-x64', body: string): void {
  const file = join(tempDir('falconet-held-'), 'falconet-agent');
  writeFileSync(file, fakeAgentBinary(body));
  new ReleaseStore(server.server.config.data_dir).add({ file, version, target });
}

/** A GET with the path exactly as written (fetch would resolve ../) and any Host header. */
function rawGet(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  t = await startTestServer();
  hold(t, '0.9.0', 'linux-x64', 'agent 0.9.0');
  hold(t, '0.10.0', 'linux-x64', 'agent 0.10.0');
  hold(t, '0.10.1-rc.1', 'linux-x64', 'agent 0.10.1-rc.1');
  hold(t, '0.10.0-rc.2', 'linux-x64', 'agent 0.10.0-rc.2');
  mkdirSync(join(t.server.config.data_dir, 'releases', 'not-a-version', 'linux-x64'), { recursive: true });
});
afterAll(async () => {
  await t?.stop();
});

async function enroll(body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`${t.base}/install/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

describe('GET /install/agent.sh', () => {
  it('serves the script with this server filled in, without a sign-in, and shellcheck finds nothing in it', async () => {
    const res = await fetch(`${t.base}/install/agent.sh`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/x-shellscript/);
    const script = await res.text();
    expect(script).toContain(`FALCONET_HTTP='${t.base}'`);
    expect(script).toContain(`FALCONET_GRPC_ADDR='127.0.0.1:${t.server.addresses?.grpc.port}'`);
    expect(script).toContain(`FALCONET_GRPC_TLS='no'`);
    // The server's release key, for the agent to pin: its rollouts then reach agents installed this way.
    const releaseKey = new ReleaseStore(t.server.config.data_dir).publicKeyBase64();
    expect(Buffer.from(releaseKey, 'base64')).toHaveLength(32);
    expect(script).toContain(`FALCONET_RELEASE_KEY='${releaseKey}'`);
    expect(script).not.toMatch(/@[A-Z_]+@/);
    // The unit rides along whole; the script rewrites only its ExecStart.
    expect(script).toContain(AGENT_UNIT.trimEnd());
    const file = join(tempDir(), 'agent.sh');
    writeFileSync(file, script);
    expect(execFileSync('shellcheck', ['-s', 'sh', '-S', 'style', file], { encoding: 'utf8' })).toBe('');
    execFileSync('sh', ['-n', file]);
  });

  it('refuses a Host header that could break out of the script', async () => {
    for (const host of ["evil'$(id)", 'a b', 'x;rm']) {
      const r = await rawGet(t.port, '/install/agent.sh', host);
      expect(r.status).toBe(400);
      expect(r.body).toMatch(/^Host header ".*": not a host name/);
    }
    const ok = await rawGet(t.port, '/install/agent.sh', 'monitor.example.com:8080');
    expect(ok.body).toContain(`FALCONET_GRPC_ADDR='monitor.example.com:${t.server.addresses?.grpc.port}'`);
    const v6 = await rawGet(t.port, '/install/agent.sh', '[::1]:8080');
    expect(v6.body).toContain(`FALCONET_GRPC_ADDR='[::1]:${t.server.addresses?.grpc.port}'`);
  });

  it('pins the certificate the server made for itself, and uses install.grpc_address when set', async () => {
    const tls = await startTestServer({
      users: false,
      config: { grpc_tls: { mode: 'on' }, install: { grpc_address: 'mon.example.net:443' } },
    });
    try {
      const script = await (await fetch(`${tls.base}/install/agent.sh`)).text();
      const fingerprint = tls.server.ingest.security?.fingerprint ?? '';
      expect(fingerprint).toMatch(/^[0-9A-F:]{95}$/);
      expect(script).toContain(`FALCONET_FINGERPRINT='${fingerprint}'`);
      expect(script).toContain(`FALCONET_GRPC_TLS='yes'`);
      expect(script).toContain(`FALCONET_GRPC_ADDR='mon.example.net:443'`);
    } finally {
      await tls.stop();
    }
  });

  it('install.grpc_address must be HOST:PORT', async () => {
    await expect(startTestServer({ users: false, config: { install: { grpc_address: "x'; id" } } })).rejects.toThrow(/HOST:PORT/);
  });

  it('the embedded texts are the current agent.sh and systemd unit (npm run build -w @falconet/server regenerates them)', () => {
    expect(AGENT_SCRIPT_TEMPLATE, `${GENERATED_FILE} is stale`).toBe(readFileSync(SCRIPT_FILE, 'utf8'));
    expect(AGENT_UNIT, `${GENERATED_FILE} is stale`).toBe(readFileSync(UNIT_FILE, 'utf8'));
  });
});

describe('GET /install/falconet-agent-TARGET', () => {
  it('serves the newest held version by semver, with its SHA-256 in a header and at .sha256', async () => {
    const res = await fetch(`${t.base}/install/falconet-agent-linux-x64`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.subarray(64).toString()).toBe('agent 0.10.1-rc.1');
    const sha = createHash('sha256').update(body).digest('hex');
    expect(res.headers.get('x-falconet-sha256')).toBe(sha);
    expect(res.headers.get('x-falconet-version')).toBe('0.10.1-rc.1');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const sum = await fetch(`${t.base}/install/falconet-agent-linux-x64.sha256`);
    expect(await sum.text()).toBe(`${sha}  falconet-agent-linux-x64\n`);
  });

  it('keeps announcing the hash signed into the manifest when the held file is changed afterwards', async () => {
    const file = join(t.server.config.data_dir, 'releases', '0.10.1-rc.1', 'linux-x64', 'falconet-agent');
    const before = await (await fetch(`${t.base}/install/falconet-agent-linux-x64.sha256`)).text();
    writeFileSync(file, 'agent 0.10.1-rc.1 with a backdoor');
    const res = await fetch(`${t.base}/install/falconet-agent-linux-x64`);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.toString()).toContain('backdoor');
    expect(res.headers.get('x-falconet-sha256')).toBe(before.split(' ')[0]);
    expect(createHash('sha256').update(body).digest('hex')).not.toBe(before.split(' ')[0]);
  });

  it('answers 404 with what to do when no binary is held for the target', async () => {
    for (const path of ['/install/falconet-agent-linux-arm64', '/install/falconet-agent-linux-arm64.sha256']) {
      const res = await fetch(t.base + path);
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('this server holds no agent binary for linux-arm64: falconet-server release add FILE\n');
    }
  });

  it('refuses unknown targets and path traversal, however written', async () => {
    for (const path of [
      '/install/falconet-agent-../../x',
      '/install/falconet-agent-..%2F..%2Fsecret.key',
      '/install/falconet-agent-%2e%2e%2f%2e%2e%2fsecret.key',
      '/install/falconet-agent-linux-x64/../../../secret.key',
      '/install/falconet-agent-darwin-x64',
      '/install/../secret.key',
    ]) {
      const r = await rawGet(t.port, path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).not.toContain('agent 0.');
      expect(r.body, path).not.toMatch(/<html/i);
    }
    expect((await rawGet(t.port, '/install/falconet-agent-..%2F..%2Fsecret.key')).body).toMatch(
      /^no agent target "\.\.\/\.\.\/secret\.key"/,
    );
  });
});

describe('POST /install/enroll and who may make enrollment tokens', () => {
  it('anonymous callers and viewers cannot make enrollment tokens; an admin can', async () => {
    const body = JSON.stringify({ name: 'new-host', expires: '24h', maxUses: 1 });
    const anon = await fetch(`${t.base}/api/enrollment-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(anon.status).toBe(401);
    for (const role of ['viewer', 'operator'] as const) {
      const cred = await t.session(role);
      const r = await fetch(`${t.base}/api/enrollment-tokens`, {
        method: 'POST',
        headers: { ...cred.mutating, 'content-type': 'application/json' },
        body,
      });
      expect(r.status, role).toBe(403);
    }
    const admin = await t.session('admin');
    const ok = await fetch(`${t.base}/api/enrollment-tokens`, {
      method: 'POST',
      headers: { ...admin.mutating, 'content-type': 'application/json' },
      body,
    });
    expect(ok.status).toBe(201);
  });

  it('exchanges a one-use enrollment token for an agent token the agent channel accepts, with its labels, once', async () => {
    const made = await t.server.auth.enrollment.create({
      name: 'add-host',
      labels: { rack: '7' },
      expiresMs: Date.now() + 86_400_000,
      maxUses: 1,
      createdBy: 'test',
    });
    const r = await enroll({ token: made.token, hostname: 'web-9' });
    expect(r.status).toBe(200);
    const agentToken = r.text.trim();
    expect(agentToken).toMatch(/^fnt_[A-Za-z0-9_-]+$/);
    const check = await t.server.ingest.tokens.verify(agentToken);
    expect(check.ok).toBe(true);
    if (check.ok) expect(check.token).toMatchObject({ agent: 'web-9', labels: { rack: '7' } });
    const again = await enroll({ token: made.token, hostname: 'web-10' });
    expect(again).toEqual({ status: 401, text: expect.stringMatching(/^the enrollment token has been used as many times as it allows/) });
    const audit = await t.server.auth.audit.query({ action: 'enrollment.redeem', limit: 10 });
    expect(audit.map((e) => e.outcome).sort()).toEqual(['denied', 'ok']);
  });

  it('refuses wrong, expired, revoked and malformed tokens and bad hostnames, naming which', async () => {
    const expired = await t.server.auth.enrollment.create(
      { name: 'old', labels: {}, expiresMs: Date.now() - 1000, maxUses: 5, createdBy: 'test' },
      Date.now() - 86_400_000,
    );
    const revoked = await t.server.auth.enrollment.create({
      name: 'gone',
      labels: {},
      expiresMs: Date.now() + 86_400_000,
      maxUses: 5,
      createdBy: 'test',
    });
    await t.server.auth.enrollment.revoke(revoked.record.id);
    const good = await t.server.auth.enrollment.create({
      name: 'ok',
      labels: {},
      expiresMs: Date.now() + 86_400_000,
      maxUses: 5,
      createdBy: 'test',
    });
    const forged = `${good.token.slice(0, -4)}AAAA`;
    expect((await enroll({ token: expired.token, hostname: 'h1' })).text).toMatch(/^the enrollment token is expired/);
    expect((await enroll({ token: revoked.token, hostname: 'h1' })).text).toMatch(/^the enrollment token is revoked/);
    expect(await enroll({ token: forged, hostname: 'h1' })).toEqual({
      status: 401,
      text: expect.stringMatching(/^the enrollment token is unknown/),
    });
    expect((await enroll({ token: 'fnt_not-an-enrollment-token', hostname: 'h1' })).text).toMatch(/^--token is not an enrollment token/);
    const badHost = await enroll({ token: good.token, hostname: 'a/../b' });
    expect(badHost.status).toBe(400);
    expect(badHost.text).toMatch(/^hostname "a\/\.\.\/b"/);
    const noBody = await enroll({ hostname: 'h1' });
    expect(noBody.status).toBe(400);
    expect(noBody.text).toMatch(/body token/);
    // None of these spent a use of the good token.
    expect((await t.server.auth.enrollment.list()).find((e) => e.id === good.record.id)?.uses).toBe(0);
  });
});
