/**
 * Test support: a real FalconetServer in the test's process on loopback ports of its own, for
 * every in-process server test; with a small dashboard directory, and (unless `users: false`,
 * which leaves it in its first-run, loopback-only mode) users and credentials of every role.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROLES, type Role } from '@falconet/protocol/api';
import pino from 'pino';
import { tempDir } from '../../../../testing/processes.ts';
import { FalconetServer } from '../../src/app.ts';
import { SESSION_COOKIE } from '../../src/auth/guard.ts';
import { hashPassword } from '../../src/auth/passwords.ts';
import { serverConfigSchema } from '../../src/config.ts';

export const PASSWORD = 'correct horse battery';

/** A dashboard build stand-in: index.html, an asset, and a secret beside (not inside) the root. */
export function makeWebRoot(): { root: string; secretMarker: string } {
  const dir = tempDir('falconet-web-');
  const root = join(dir, 'public');
  mkdirSync(join(root, 'assets'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><html><body><div id="root">dashboard shell</div></body></html>');
  writeFileSync(join(root, 'assets', 'app.js'), 'console.log("app");');
  const secretMarker = `SECRET-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, 'secret.txt'), secretMarker);
  writeFileSync(join(dir, 'public-secret.txt'), secretMarker);
  return { root, secretMarker };
}

export interface Credential {
  headers: Record<string, string>;
  /** Headers for a change: the session's CSRF token as well. */
  mutating: Record<string, string>;
}

export interface TestServer {
  server: FalconetServer;
  base: string;
  port: number;
  userIds: Record<Role, string>;
  session(role: Role): Promise<Credential>;
  token(role: Role, scopes?: string[]): Promise<Credential>;
  stop(): Promise<void>;
}

export async function startTestServer(
  opts: { users?: boolean; webRoot?: string; config?: Record<string, unknown>; databaseUrl?: string } = {},
): Promise<TestServer> {
  const server = new FalconetServer(
    serverConfigSchema.parse({
      listen: '127.0.0.1:0',
      grpc_listen: '127.0.0.1:0',
      data_dir: tempDir(),
      web_root: opts.webRoot ?? '/nonexistent',
      database: { url: opts.databaseUrl ?? '' },
      log: { level: 'silent' },
      ...opts.config,
    }),
    pino({ level: process.env.FALCONET_TEST_VERBOSE ? 'debug' : 'silent' }),
  );
  const addr = await server.start();
  const userIds = {} as Record<Role, string>;
  if (opts.users !== false) {
    const hash = await hashPassword(PASSWORD);
    for (const role of ROLES) userIds[role] = (await server.auth.users.create(`${role}-user`, role, hash)).id;
  }
  const base = `http://127.0.0.1:${addr.http.port}`;
  return {
    server,
    base,
    port: addr.http.port,
    userIds,
    async session(role) {
      const s = await server.auth.sessions.issue(userIds[role], '127.0.0.1', 'test');
      const headers = { cookie: `${SESSION_COOKIE}=${s.jwt}` };
      return { headers, mutating: { ...headers, 'x-falconet-csrf': s.csrf } };
    },
    async token(role, scopes = ['*']) {
      const { token } = await server.auth.tokens.create({ name: `${role}-token`, role, scopes, expiresMs: 0, createdBy: 'test' });
      const headers = { authorization: `Bearer ${token}` };
      return { headers, mutating: headers };
    },
    stop: () => server.stop(),
  };
}

/** A concrete path for a route pattern: each :param becomes a value no row has. */
export function concretePath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, 'no-such-$1').replace(/\*/g, 'no-such-file');
}
