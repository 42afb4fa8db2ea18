/**
 * Secrets at rest, from the seat of someone holding a copy of the metadata database but not the
 * master key: a read-only copy of meta.db and its WAL taken from a running server (or a dump of
 * the PostgreSQL tables) yields no session signing key, no channel secret and no agent payload
 * key, and no admin cookie forged with anything found in it gets into the real server. The copy
 * with its key file is a working backup; a copy without it does not start (and makes no new key).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { derivePayloadKey } from '@falconet/protocol';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../packages/server/src/db/secrets.ts';
import { createTempDatabase, type TempDatabase } from '../testing/postgres.ts';
import {
  type AgentProc,
  createToken,
  createUser,
  eventually,
  SERVER_CLI,
  type ServerProc,
  startAgent,
  startProcess,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../testing/receivers.ts';
import { signIn } from '../testing/sign-in.ts';

const PASSWORD = 'correct horse battery';
/** The secrets the operators typed in; none may be readable from a copy of the database. */
const SECRETS = {
  bearer: 'Bearer hook-bearer-4f1e9c2a7d',
  hmac: 'hook-hmac-8b3d6e0f51',
  urlToken: 'url-token-c7a2e94b06',
  botToken: '123456:tg-bot-token-5e8f1a3c9d',
  smtpPassword: 'smtp-password-2d9b7f4e18',
};

interface Session {
  cookie: string;
  csrf: string;
  sid: string;
  sub: string;
}

/** Signs in as `name`, with the session's id and subject from its JWT. */
async function sessionOf(base: string, name: string): Promise<Session> {
  const r = await signIn(base, name, PASSWORD);
  expect(r.status).toBe(200);
  const jwt = /falconet_session=([^;]+)/.exec(r.setCookie ?? '')?.[1] as string;
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as { sid: string; sub: string };
  return { cookie: `falconet_session=${jwt}`, csrf: r.body.csrfToken, sid: claims.sid, sub: claims.sub };
}

async function makeChannels(base: string, s: Session, receiver: HttpReceiver): Promise<string> {
  const headers = { cookie: s.cookie, 'x-falconet-csrf': s.csrf, 'content-type': 'application/json' };
  const specs = [
    {
      name: 'ops-hook',
      type: 'webhook',
      url: `${receiver.url}/hooks/${SECRETS.urlToken}`,
      headers: { Authorization: SECRETS.bearer },
      secret: SECRETS.hmac,
    },
    { name: 'ops-telegram', type: 'telegram', bot_token: SECRETS.botToken, chat_id: 42, api_url: receiver.url },
    {
      name: 'ops-mail',
      type: 'email',
      smtp: { host: '127.0.0.1', port: 2525, username: 'alerts', password: SECRETS.smtpPassword },
      from: 'falconet@example.test',
      to: ['ops@example.test'],
    },
  ];
  let hookId = '';
  for (const spec of specs) {
    const res = await fetch(`${base}/api/alerts/channels`, { method: 'POST', headers, body: JSON.stringify(spec) });
    expect(res.status, await res.clone().text()).toBe(201);
    if (spec.type === 'webhook') hookId = ((await res.json()) as { id: string }).id;
  }
  return hookId;
}

/** A webhook test through the channel arrives with the bearer and URL token the operator typed: the secrets opened. */
async function hookStillWorks(base: string, s: Session, hookId: string, receiver: HttpReceiver): Promise<void> {
  const before = receiver.requests.length;
  const res = await fetch(`${base}/api/alerts/channels/${hookId}/test`, {
    method: 'POST',
    headers: { cookie: s.cookie, 'x-falconet-csrf': s.csrf },
  });
  expect(res.status).toBe(200);
  const [req] = (await receiver.waitFor((r) => r.length > before)).slice(before);
  expect(req?.url).toBe(`/hooks/${SECRETS.urlToken}`);
  expect(req?.headers.authorization).toBe(SECRETS.bearer);
}

async function forge(key: Uint8Array, sid: string, sub: string): Promise<string> {
  return await new SignJWT({ sid })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer('falconet')
    .setAudience('falconet-dashboard')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key);
}

/**
 * Every key an attacker could try from the strings found: the text itself, its base64, base64url
 * and hex decodings, and for sealed values the ciphertext and the bytes around it.
 */
function candidateKeys(strings: Iterable<string>): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  const add = (b: Buffer) => {
    if (b.length >= 8) seen.set(b.toString('hex'), new Uint8Array(b));
  };
  for (const s of strings) {
    for (const part of new Set([s, ...s.split(':')])) {
      add(Buffer.from(part, 'utf8'));
      if (/^[A-Za-z0-9+/=_-]+$/.test(part)) {
        const b64 = Buffer.from(part, 'base64');
        add(b64);
        add(Buffer.from(part, 'base64url'));
        // A sealed body: 12-byte IV, ciphertext, 16-byte tag.
        if (b64.length > 28) add(b64.subarray(12, b64.length - 16));
      }
      if (/^([0-9a-f]{2})+$/i.test(part)) add(Buffer.from(part, 'hex'));
    }
  }
  return [...seen.values()];
}

/** Every forged cookie is refused by the real server; returns how many were tried. */
async function forgeriesRefused(base: string, strings: Iterable<string>, sid: string, sub: string): Promise<number> {
  const keys = candidateKeys(strings);
  for (const key of keys) {
    const res = await fetch(`${base}/api/agents`, { headers: { cookie: `falconet_session=${await forge(key, sid, sub)}` } });
    expect(res.status, `a cookie signed with ${Buffer.from(key).toString('hex')} got in`).toBe(401);
  }
  return keys.length;
}

/** The byte strings a secret could appear as in a file: as typed, and its base64 and hex forms. */
function forms(secret: string | Buffer): Buffer[] {
  const b = typeof secret === 'string' ? Buffer.from(secret) : secret;
  return [b, Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('hex'))];
}

function expectNoneIn(bytes: Buffer, secrets: Record<string, string | Buffer>, where: string): void {
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of forms(secret)) expect(bytes.includes(form), `${name} readable in ${where}`).toBe(false);
  }
}

/** The session signing key among the copied values, opened with the defender's key file. */
function openSigningKey(box: SecretBox, strings: Iterable<string>): Buffer {
  const context = 'auth_secrets.value:session_signing_key';
  for (const s of strings) {
    try {
      return Buffer.from(box.open(s, context), 'base64');
    } catch {
      // another value
    }
  }
  throw new Error('no sealed session signing key in the copy');
}

async function agentReporting(base: string, s: Session, agentId: string): Promise<void> {
  const metrics = await eventually(async () => {
    const agent = await fetch(`${base}/api/agents/${agentId}`, { headers: { cookie: s.cookie } });
    if (agent.status !== 200 || ((await agent.json()) as { status: string }).status !== 'online') return undefined;
    const text = await (await fetch(`${base}/metrics`, { headers: { cookie: s.cookie } })).text();
    return Number(/^falconet_server_reports_total (\d+)/m.exec(text)?.[1]) > 0 ? text : undefined;
  }, 30_000);
  // The sealed payloads opened with the payload key the server keeps sealed.
  expect(metrics).not.toMatch(/reason="decrypt_failed"\} [1-9]/);
}

describe('secrets at rest', () => {
  const cleanup: (() => Promise<void>)[] = [];
  const databases: TempDatabase[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
    for (const d of databases) await d.drop();
  });

  it('a copy of meta.db and its WAL without the key yields no secret and no way in; with the key it is a backup', async () => {
    const receiver = await startHttpReceiver();
    cleanup.push(() => receiver.close());
    const server: ServerProc = await startServer({ dataDir: join(tempDir(), 'data') });
    cleanup.push(() => server.stop());
    await createUser(server.dataDir, 'root', 'admin', PASSWORD);
    const admin = await sessionOf(server.url, 'root');
    const hookId = await makeChannels(server.url, admin, receiver);
    const keyMade = (await (
      await fetch(`${server.url}/api/audit?action=secrets.key_created`, { headers: { cookie: admin.cookie } })
    ).json()) as {
      items: { actor: string; target: string }[];
    };
    expect(keyMade.items).toMatchObject([{ actor: 'server', target: expect.stringMatching(/^[0-9a-f]{8}$/) }]);

    // A real agent sealing its payloads with the key derived from its token.
    const agentDir = join(tempDir(), 'agent');
    const { token } = await createToken(server.dataDir, { agent: 'victim-1' });
    const agentEnv = { FALCONET_SERVER_TOKEN: token, FALCONET_TRANSPORT_ENCRYPT: 'true' };
    const mkAgent = async (grpcPort: number) => {
      mkdirSync(agentDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(agentDir, 'agent-id'), 'victim-1\n', { mode: 0o600 });
      return await startAgent({ server: `grpc://127.0.0.1:${grpcPort}`, dataDir: agentDir, env: agentEnv });
    };
    let agent: AgentProc = await mkAgent(server.grpcPort);
    cleanup.push(() => agent.stop());
    await agentReporting(server.url, admin, 'victim-1');

    // The attacker's copy: meta.db and its WAL, read while the server runs.
    const stolen = tempDir('falconet-stolen-');
    for (const f of ['meta.db', 'meta.db-wal']) copyFileSync(join(server.dataDir, f), join(stolen, f));
    // The files as copied (opening the copy checkpoints its WAL into the database).
    const bytes = Buffer.concat(['meta.db', 'meta.db-wal'].map((f) => readFileSync(join(stolen, f))));
    const copy = new DatabaseSync(join(stolen, 'meta.db'));
    const tables = (copy.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    const strings = new Set<string>();
    for (const t of tables) {
      for (const row of copy.prepare(`SELECT * FROM "${t}"`).all()) {
        for (const v of Object.values(row)) if (typeof v === 'string') strings.add(v);
      }
    }
    const root = copy.prepare("SELECT id FROM users WHERE name = 'root'").get() as { id: string };
    expect(root.id).toBe(admin.sub);
    expect(copy.prepare('SELECT id FROM sessions WHERE id = ?').get(admin.sid)).toBeDefined();
    copy.close();

    // What the defender's key file opens, to show what the copy does not give away.
    const masterKey = readFileSync(join(server.dataDir, 'secret.key'), 'utf8');
    const box = new SecretBox(Buffer.from(masterKey.trim(), 'base64'));
    expect(keyMade.items[0]?.target).toBe(box.keyId);
    const signingKey = openSigningKey(box, strings);
    expect(signingKey).toHaveLength(32);
    const secrets = { ...SECRETS, signingKey, payloadKey: derivePayloadKey(token), masterKey: Buffer.from(masterKey.trim(), 'base64') };
    expectNoneIn(bytes, secrets, 'the copied meta.db and WAL');
    expectNoneIn(Buffer.from(JSON.stringify([...strings])), secrets, 'the rows of the copy');

    // Nothing found in the copy signs a cookie the server takes...
    const tried = await forgeriesRefused(server.url, strings, admin.sid, admin.sub);
    expect(tried).toBeGreaterThan(50);
    // ...while the same forgery with the real key (what the copy held in plain text before) gets in.
    const withKey = await forge(new Uint8Array(signingKey), admin.sid, admin.sub);
    expect((await fetch(`${server.url}/api/agents`, { headers: { cookie: `falconet_session=${withKey}` } })).status).toBe(200);

    // The copy alone does not start a server, and no new key is made that would orphan its secrets.
    const thief = startProcess(SERVER_CLI, [
      'run',
      '--data-dir',
      stolen,
      '--listen',
      '127.0.0.1:0',
      '--grpc-listen',
      '127.0.0.1:0',
      '--transfer-listen',
      '',
    ]);
    expect((await thief.exited).code).toBe(2);
    expect(thief.lines.join('\n')).toContain(
      `secrets are sealed under master key ${box.keyId}, and that key is not here: restore ${join(stolen, 'secret.key')} (from the backup taken with the database) or set FALCONET_SECRET_KEY`,
    );
    expect(existsSync(join(stolen, 'secret.key'))).toBe(false);

    // A backup with its key file restores: old sessions, channel secrets and the agent's payload key all work.
    await agent.stop();
    await server.stop();
    const restored = join(tempDir('falconet-restore-'), 'data');
    mkdirSync(restored, { mode: 0o700 });
    for (const f of readdirSync(server.dataDir)) {
      if (/^(meta\.db(-wal)?|secret\.key|task-signing-key\.pem)$/.test(f)) copyFileSync(join(server.dataDir, f), join(restored, f));
    }
    const back: ServerProc = await startServer({ dataDir: restored });
    cleanup.push(() => back.stop());
    const session = (await (await fetch(`${back.url}/api/auth/session`, { headers: { cookie: admin.cookie } })).json()) as {
      mode: string;
      user: { name: string };
    };
    expect(session).toMatchObject({ mode: 'signed-in', user: { name: 'root' } });
    await hookStillWorks(back.url, admin, hookId, receiver);
    agent = await mkAgent(back.grpcPort);
    cleanup.push(() => agent.stop());
    await agentReporting(back.url, admin, 'victim-1');
  });

  it('on PostgreSQL: a dump of the tables yields nothing, and every server sharing the database needs the same key', async () => {
    const db = await createTempDatabase();
    databases.push(db);
    const receiver = await startHttpReceiver();
    cleanup.push(() => receiver.close());
    const env = { FALCONET_DATABASE_URL: db.url };
    const first: ServerProc = await startServer({ env });
    cleanup.push(() => first.stop());
    await createUser(first.dataDir, 'root', 'admin', PASSWORD, env);
    const admin = await sessionOf(first.url, 'root');
    const hookId = await makeChannels(first.url, admin, receiver);
    const { token } = await createToken(first.dataDir, { agent: 'victim-2' }, env);

    // Someone with read access to the database dumps every table.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const strings = new Set<string>();
    const dump: unknown[] = [];
    try {
      const { rows: tables } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      );
      for (const { table_name } of tables) {
        const { rows } = await client.query(`SELECT * FROM "${table_name}"`);
        dump.push(...rows);
        for (const row of rows) for (const v of Object.values(row)) if (typeof v === 'string') strings.add(v);
      }
    } finally {
      await client.end();
    }
    const masterKey = readFileSync(join(first.dataDir, 'secret.key'), 'utf8').trim();
    const box = new SecretBox(Buffer.from(masterKey, 'base64'));
    const signingKey = openSigningKey(box, strings);
    expectNoneIn(Buffer.from(JSON.stringify(dump)), { ...SECRETS, signingKey, payloadKey: derivePayloadKey(token) }, 'the dump');
    expect(await forgeriesRefused(first.url, strings, admin.sid, admin.sub)).toBeGreaterThan(50);

    // A second server on the same database without the key stops at start, saying what to do...
    const bareDir = tempDir();
    const keyless = startProcess(
      SERVER_CLI,
      ['run', '--data-dir', bareDir, '--listen', '127.0.0.1:0', '--grpc-listen', '127.0.0.1:0', '--transfer-listen', ''],
      env,
    );
    expect((await keyless.exited).code).toBe(2);
    expect(keyless.lines.join('\n')).toMatch(/and that key is not here: .*or set FALCONET_SECRET_KEY\. No new key is made/);
    expect(existsSync(join(bareDir, 'secret.key'))).toBe(false);
    // ...and with the same key in FALCONET_SECRET_KEY it serves the first one's sessions and channels.
    const second: ServerProc = await startServer({ env: { ...env, FALCONET_SECRET_KEY: masterKey } });
    cleanup.push(() => second.stop());
    expect(existsSync(join(second.dataDir, 'secret.key'))).toBe(false);
    const seen = (await (await fetch(`${second.url}/api/auth/session`, { headers: { cookie: admin.cookie } })).json()) as { mode: string };
    expect(seen.mode).toBe('signed-in');
    await hookStillWorks(second.url, admin, hookId, receiver);
  });
});
