import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePort, SERVER_CLI, startProcess, startServer, tempDir } from '../../../testing/processes.ts';
import { signIn } from '../../../testing/sign-in.ts';

/** Runs falconet-server to completion, with `input` on its stdin (not a terminal). */
function run(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=source', '--disable-warning=ExperimentalWarning', SERVER_CLI, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(input ?? '');
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A GET with a Host header of our choosing (fetch does not let a caller set Host). */
function getWithHost(port: number, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('falconet-server create-user and create-token', () => {
  it('creates users with a given, piped or refused password, and names what is wrong', async () => {
    const dir = tempDir();
    const a = await run(['create-user', '--name', 'alice', '--role', 'admin', '--password', 'alice-password', '--data-dir', dir]);
    expect(a).toMatchObject({ code: 0, stderr: expect.stringContaining('created admin "alice"; sign-in is now required') });
    // No --password: read from stdin when it is not a terminal (a terminal gets a hidden prompt).
    const b = await run(['create-user', '--name', 'bob', '--role', 'viewer', '--data-dir', dir], 'bob-password\n');
    expect(b).toMatchObject({ code: 0, stderr: 'falconet-server: created viewer "bob"\n' });
    const problems: [string[], string, RegExp][] = [
      [['--name', 'bob', '--role', 'viewer', '--password', 'whatever-pw'], '', /user "bob" exists already/],
      [
        ['--name', 'carol', '--role', 'root', '--password', 'whatever-pw'],
        '',
        /flag --role "root": expected one of viewer, operator, admin/,
      ],
      [['--name', 'carol', '--role', 'viewer', '--password', 'short'], '', /password: must be at least 8 characters/],
      [['--name', 'carol', '--role', 'viewer'], '', /no password: give --password/],
      [['--name', '<script>', '--role', 'viewer', '--password', 'whatever-pw'], '', /flag --name "<script>": letters, digits/],
      [['--role', 'viewer', '--password', 'whatever-pw'], '', /create-user needs --name/],
    ];
    const results = await Promise.all(problems.map(([args, input]) => run(['create-user', ...args, '--data-dir', dir], input)));
    problems.forEach(([args, , message], i) => {
      const r = results[i] as Awaited<ReturnType<typeof run>>;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });

    const server = await startServer({ dataDir: dir });
    try {
      expect((await signIn(server.url, 'bob', 'bob-password')).status).toBe(200);
      expect((await signIn(server.url, 'alice', 'alice-password')).status).toBe(200);
      expect((await signIn(server.url, 'alice', 'bob-password')).status).toBe(401);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('creates API tokens that work as Bearer within their role and scope, and enrollment tokens', async () => {
    const dir = tempDir();
    expect((await run(['create-user', '--name', 'admin', '--role', 'admin', '--password', 'admin-password', '--data-dir', dir])).code).toBe(
      0,
    );
    const tok = await run([
      'create-token',
      '--api',
      '--name',
      'grafana',
      '--role',
      'viewer',
      '--scope',
      '/api/metrics,/api/agents',
      '--expires',
      '30d',
      '--data-dir',
      dir,
    ]);
    expect(tok.code).toBe(0);
    const token = tok.stdout.trim();
    expect(token).toMatch(/^fnt_[A-Za-z0-9_-]{44}$/);
    expect(tok.stderr).toMatch(/API token "grafana" \(viewer, scopes \/api\/metrics,\/api\/agents, expires \d{4}-/);
    const enroll = await run([
      'create-token',
      '--enroll',
      '--name',
      'rack-7',
      '--uses',
      '10',
      '--label',
      'rack=7,dc=ams',
      '--data-dir',
      dir,
    ]);
    expect(enroll.code).toBe(0);
    expect(enroll.stdout.trim()).toMatch(/^fne_[A-Za-z0-9_-]{44}$/);
    const problems = [
      [['--name', 'x'], /needs one of --agent .* --api .* or --enroll/],
      [['--api', '--enroll', '--name', 'x'], /needs one of --agent/],
      [['--api', '--name', 'x', '--role', 'viewer', '--expires', 'soon'], /flag --expires: "soon" is not a duration/],
      [['--api', '--name', 'x', '--role', 'viewer', '--scope', 'metrics'], /scope "metrics": expected \* or a route path/],
      [['--enroll', '--name', 'x', '--expires', 'never'], /an enrollment token must expire/],
      [['--enroll', '--name', 'x', '--uses', '0'], /flag --uses "0"/],
    ] as [string[], RegExp][];
    const results = await Promise.all(problems.map(([args]) => run(['create-token', ...args, '--data-dir', dir])));
    problems.forEach(([args, message], i) => {
      const r = results[i] as Awaited<ReturnType<typeof run>>;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    });

    const server = await startServer({ dataDir: dir });
    try {
      const auth = { authorization: `Bearer ${token}` };
      expect((await fetch(`${server.url}/api/agents`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${server.url}/api/metrics/names`, { headers: auth })).status).toBe(200);
      expect((await fetch(`${server.url}/api/fleet/summary`, { headers: auth })).status).toBe(403);
      expect((await fetch(`${server.url}/api/users`, { headers: auth })).status).toBe(403);
      expect((await fetch(`${server.url}/api/agents`)).status).toBe(401);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('first start and the Access rule', () => {
  it('prints a one-time setup link, answers loopback without sign-in, and requires it once a user exists', async () => {
    const server = await startServer();
    try {
      const line = await server.waitFor(/no user exists yet/);
      const token = /setup#token=([A-Za-z0-9_-]+)/.exec(line)?.[1] as string;
      expect(token).toBeTruthy();
      expect((await fetch(`${server.url}/api/agents`)).status).toBe(200);
      // DNS rebinding: a page whose own name resolves to 127.0.0.1 is still refused.
      expect(await getWithHost(server.httpPort, '/api/agents', `evil.example:${server.httpPort}`)).toBe(403);
      expect(await getWithHost(server.httpPort, '/api/agents', `localhost:${server.httpPort}`)).toBe(200);
      // Cross-origin changes from a browser page are refused even on the first run.
      const cross = await fetch(`${server.url}/api/auth/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
        body: JSON.stringify({ token, name: 'mallory', password: 'mallory-password' }),
      });
      expect(cross.status).toBe(403);
      // The first user is made with the console's token or the CLI, not by anyone on loopback.
      const noToken = await fetch(`${server.url}/api/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'mallory', role: 'admin', password: 'mallory-password' }),
      });
      expect(noToken.status).toBe(403);
      const wrong = await fetch(`${server.url}/api/auth/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: 'guess', name: 'mallory', password: 'mallory-password' }),
      });
      expect(wrong.status).toBe(403);
      const setup = await fetch(`${server.url}/api/auth/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, name: 'owner', password: 'owner-password' }),
      });
      expect(setup.status).toBe(200);
      expect(setup.headers.get('set-cookie')).toMatch(/^falconet_session=ey[^;]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
      expect((await fetch(`${server.url}/api/agents`)).status).toBe(401);
      const again = await fetch(`${server.url}/api/auth/setup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token, name: 'second', password: 'second-password' }),
      });
      expect(again.status).toBe(409);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('notices a user made by create-user while it runs, and may listen beyond loopback once one exists', async () => {
    const server = await startServer();
    try {
      expect((await fetch(`${server.url}/api/agents`)).status).toBe(200);
      const live = new WebSocket(`ws://127.0.0.1:${server.httpPort}/api/live`);
      await new Promise((r) => live.once('message', r));
      const cut = new Promise((r) => live.once('close', r));
      const made = await run([
        'create-user',
        '--name',
        'ops',
        '--role',
        'operator',
        '--password',
        'ops-password',
        '--data-dir',
        server.dataDir,
      ]);
      expect(made.code).toBe(0);
      // The first run's unauthenticated live socket is cut without any further request...
      await cut;
      // ...and the next request needs sign-in.
      expect((await fetch(`${server.url}/api/agents`)).status).toBe(401);
    } finally {
      await server.stop();
    }
    // The same data directory now has a user: all interfaces are allowed, and everything needs sign-in.
    const port = await freePort();
    const wide = startProcess(SERVER_CLI, [
      'run',
      '--data-dir',
      server.dataDir,
      '--listen',
      `0.0.0.0:${port}`,
      '--grpc-listen',
      `127.0.0.1:${await freePort()}`,
    ]);
    try {
      await wide.waitFor(/"server listening"/);
      expect(wide.lines.some((l) => l.includes('no user exists yet'))).toBe(false);
      expect((await fetch(`http://127.0.0.1:${port}/api/agents`)).status).toBe(401);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await wide.stop();
    }
  }, 60_000);
});
