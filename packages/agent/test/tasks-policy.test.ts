import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SignedTaskFields, taskSigningPayload } from '@falconet/protocol';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../testing/processes.ts';
import { agentTasksSchema } from '../src/tasks/config.ts';
import { PinnedServerKey } from '../src/tasks/keys.ts';
import { parsePasswd } from '../src/tasks/passwd.ts';
import { isRefusal, TaskPolicy } from '../src/tasks/policy.ts';

const log = pino({ level: 'silent' });
const users = parsePasswd(
  'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n',
);

const policy = (cfg: unknown, uid = 1000) => new TaskPolicy(agentTasksSchema.parse(cfg), { users, uid });

describe('the allowlist', () => {
  const allow = [
    { command: '/usr/bin/systemctl', args: ['restart|status', 'nginx|redis'] },
    { name: 'echo', command: '/bin/echo', rest: '[a-z ]+' },
    { command: '/opt/deploy.sh', args: ['v\\d+\\.\\d+'], env: ['RELEASE_CHANNEL'], timeout: '5s' },
  ];

  it('refuses everything while tasks are disabled (the default)', () => {
    const r = policy({}).check({ command: '/bin/echo', args: [], env: {}, timeoutMs: 0 });
    expect(r).toMatchObject({ refused: 'disabled' });
  });

  it('accepts a listed command whose arguments match their patterns in full', () => {
    const p = policy({ enabled: true, allow });
    const ok = p.check({ command: '/usr/bin/systemctl', args: ['restart', 'nginx'], env: {}, timeoutMs: 0 });
    expect(isRefusal(ok)).toBe(false);
    expect(ok).toMatchObject({ file: '/usr/bin/systemctl', args: ['restart', 'nginx'], cwd: '/', timeoutMs: 60_000 });
    // Patterns are anchored: "restart; rm -rf /" is not "restart".
    expect(p.check({ command: '/usr/bin/systemctl', args: ['restart; rm -rf /', 'nginx'], env: {}, timeoutMs: 0 })).toMatchObject({
      refused: 'not_allowed',
      message: expect.stringMatching(/argument 1 .* does not match the allowed pattern "restart\|status"/),
    });
    expect(p.check({ command: '/usr/bin/systemctl', args: ['restart', 'nginx', 'extra'], env: {}, timeoutMs: 0 })).toMatchObject({
      refused: 'not_allowed',
      message: expect.stringMatching(/at most 2 arguments/),
    });
  });

  it('refuses a command that is not listed, naming it', () => {
    expect(policy({ enabled: true, allow }).check({ command: '/bin/rm', args: ['-rf', '/'], env: {}, timeoutMs: 0 })).toEqual({
      refused: 'not_allowed',
      message: `"/bin/rm" is not in this agent's tasks.allow`,
    });
  });

  it('takes a name for a command and checks the rest of the arguments against `rest`', () => {
    const p = policy({ enabled: true, allow });
    expect(p.check({ command: 'echo', args: ['hello', 'world'], env: {}, timeoutMs: 0 })).toMatchObject({ file: '/bin/echo' });
    expect(p.check({ command: 'echo', args: ['Hello'], env: {}, timeoutMs: 0 })).toMatchObject({ refused: 'not_allowed' });
  });

  it('lets a task set only the environment variables its entry names, and caps its timeout', () => {
    const p = policy({ enabled: true, allow, env: { PATH: '/bin' } });
    const ok = p.check({ command: '/opt/deploy.sh', args: ['v1.2'], env: { RELEASE_CHANNEL: 'beta' }, timeoutMs: 60_000 });
    expect(ok).toMatchObject({ env: { PATH: '/bin', RELEASE_CHANNEL: 'beta' }, timeoutMs: 5_000 });
    expect(p.check({ command: '/opt/deploy.sh', args: ['v1.2'], env: { LD_PRELOAD: '/tmp/x.so' }, timeoutMs: 0 })).toMatchObject({
      refused: 'not_allowed',
      message: expect.stringMatching(/LD_PRELOAD may not be set/),
    });
    expect(p.check({ command: '/opt/deploy.sh', args: ['v1.2'], env: {}, timeoutMs: 1_000 })).toMatchObject({ timeoutMs: 1_000 });
  });

  it('runs commands as nobody when the agent is root and no user is given', () => {
    const p = policy({ enabled: true, allow }, 0);
    expect(p.check({ command: 'echo', args: ['hi'], env: {}, timeoutMs: 0 })).toMatchObject({ user: 'nobody', uid: 65534, gid: 65534 });
    const asApp = policy({ enabled: true, allow, user: 'app' }, 0);
    expect(asApp.check({ command: 'echo', args: ['hi'], env: {}, timeoutMs: 0 })).toMatchObject({ user: 'app', uid: 1000 });
  });

  it('fails at startup, not at run time, on a user that does not exist or cannot be switched to', () => {
    expect(() => policy({ enabled: true, allow, user: 'ghost' }, 0)).toThrow('tasks.user "ghost": no such user in /etc/passwd');
    expect(() => policy({ enabled: true, allow, user: 'nobody' }, 1000)).toThrow(/runs as uid 1000 and cannot switch to uid 65534/);
    expect(() => policy({ enabled: true, allow: [{ command: '/bin/true', user: 'ghost' }] }, 0)).toThrow(/tasks.allow.0.user "ghost"/);
  });
});

describe('tasks configuration', () => {
  it('names the field of each mistake', () => {
    const r = agentTasksSchema.safeParse({
      enabled: true,
      allow: [{ command: 'echo', args: ['(unclosed'] }],
      output_limit: 'lots',
      backend: 'etcd',
    });
    expect(r.success).toBe(false);
    const issues = r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues).toEqual(
      expect.arrayContaining([
        'allow.0.command: command must be an absolute path',
        expect.stringMatching(/^allow\.0\.args\.0: not a valid pattern/),
        expect.stringMatching(/^output_limit: "lots" is not a size/),
      ]),
    );
  });

  it('reads etcd endpoints from a comma-separated string (FALCONET_TASKS_ETCD_ENDPOINTS)', () => {
    const cfg = agentTasksSchema.parse({ backend: 'etcd', etcd: { endpoints: '127.0.0.1:2379, http://10.0.0.2:2379' } });
    expect(cfg.etcd.endpoints).toEqual(['http://127.0.0.1:2379', 'http://10.0.0.2:2379']);
    expect(agentTasksSchema.safeParse({ backend: 'etcd' }).error?.issues[0]?.message).toMatch(/needs at least one endpoint/);
  });
});

describe('task signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from((publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url');
  const fields: SignedTaskFields = {
    agentId: 'agent-1',
    taskId: 'task-1',
    command: '/bin/echo',
    args: ['a', 'b'],
    env: { B: '2', A: '1' },
    schedule: '',
    timezone: '',
    timeoutMs: 1000,
    issuedMs: 1_700_000_000_000,
    cancel: false,
    paused: false,
  };
  const signature = sign(null, taskSigningPayload(fields), privateKey);

  it('pins the first key a server presents, in the data directory', () => {
    const dir = tempDir();
    const pin = new PinnedServerKey(join(dir, 'server-task-key'), '', log);
    expect(pin.verify(fields, signature)).toBe('no_key');
    pin.offer(raw);
    expect(pin.verify(fields, signature)).toBe('ok');
    expect(readFileSync(join(dir, 'server-task-key'), 'utf8').trim()).toBe(raw.toString('base64'));
    // A restarted agent reads the pin back.
    expect(new PinnedServerKey(join(dir, 'server-task-key'), '', log).verify(fields, signature)).toBe('ok');
  });

  it('refuses a task if any signed field changed, and never re-pins to another key', () => {
    const pin = new PinnedServerKey(join(tempDir(), 'k'), raw.toString('base64'), log);
    const changes: Partial<SignedTaskFields>[] = [
      { agentId: 'agent-2' },
      { taskId: 'task-2' },
      { command: '/bin/sh' },
      { args: ['a', 'b', 'c'] },
      { args: ['a b'] },
      { env: { A: '1', B: '3' } },
      { schedule: '* * * * *' },
      { timezone: 'UTC' },
      { timeoutMs: 2000 },
      { issuedMs: fields.issuedMs + 1 },
      { cancel: true },
      { paused: true },
    ];
    for (const c of changes) expect(pin.verify({ ...fields, ...c }, signature), JSON.stringify(c)).toBe('bad_signature');
    const flipped = Buffer.from(signature);
    flipped[10] = (flipped[10] as number) ^ 1;
    expect(pin.verify(fields, flipped)).toBe('bad_signature');
    expect(pin.verify(fields, signature.subarray(0, 32))).toBe('bad_signature');
    const other = generateKeyPairSync('ed25519');
    pin.offer(Buffer.from((other.publicKey.export({ format: 'jwk' }) as { x: string }).x, 'base64url'));
    expect(pin.verify(fields, sign(null, taskSigningPayload(fields), other.privateKey))).toBe('bad_signature');
    expect(pin.verify(fields, signature)).toBe('ok');
  });

  it('signs env in name order, so the order a map arrives in does not matter', () => {
    expect(taskSigningPayload({ ...fields, env: { A: '1', B: '2' } })).toEqual(taskSigningPayload(fields));
  });

  it('takes a configured key as PEM too', () => {
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(new PinnedServerKey(join(tempDir(), 'k'), pem, log).verify(fields, signature)).toBe('ok');
    expect(() => new PinnedServerKey(join(tempDir(), 'k'), 'bm90IGEga2V5', log)).toThrow(/expected base64 of a 32-byte Ed25519 key/);
  });
});
