/**
 * Test support: real falconet processes started from source on loopback ports of their own,
 * with their output captured and waited on.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = join(import.meta.dirname, '..');
export const AGENT_CLI = join(ROOT, 'packages/agent/src/cli.ts');
export const SERVER_CLI = join(ROOT, 'packages/server/src/cli.ts');
export const SERVER_GLIBC_TUNABLES = 'glibc.malloc.mmap_threshold=131072';

export function tempDir(prefix = 'falconet-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A port something already listens on, on 127.0.0.1, until `close()`: for "address already in use" cases. */
export async function heldPort(): Promise<{ port: number; close(): Promise<void> }> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  return { port: (s.address() as { port: number }).port, close: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

/** The ephemeral range outgoing connections take their local ports from (Linux: ip_local_port_range). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo && hi) return [lo, hi];
  } catch {
    // not Linux: the IANA range
  }
  return [49152, 65535];
}

/**
 * A free port outside the ephemeral range, for a server a test kills and restarts on the same
 * port: an ephemeral port could meanwhile become the local port of some outgoing connection.
 */
export async function stablePort(): Promise<number> {
  const [lo] = ephemeralRange();
  const base = Math.max(1024, lo - 12_000);
  for (let i = 0; i < 200; i++) {
    const port = base + Math.floor(Math.random() * (lo - base));
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return await freePort();
}

export interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (past or future) that matches. */
  waitFor(match: RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

export function startProcess(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return startCommand(process.execPath, ['--conditions=source', '--disable-warning=ExperimentalWarning', script, ...args], env, script);
}

/** Any command, with its output captured and waited on like startProcess's. */
export function startCommand(command: string, args: string[], env: NodeJS.ProcessEnv = {}, label = command, cwd?: string): Proc {
  const script = label;
  const child = spawn(command, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  const waiters = new Set<{ test: (l: string) => boolean; resolve: (l: string) => void }>();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (process.env.FALCONET_TEST_VERBOSE) process.stderr.write(`[${script.split('/').at(-3)}] ${line}\n`);
      for (const w of waiters) {
        if (w.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    });
  }
  // Settled once the output is read to its end ('close'), so `lines` holds everything the process
  // wrote: 'exit' can come before the pipes are drained, and a test reading `lines` then (the
  // spool-kill test's ledger of debug sample lines) would miss the tail. A grandchild that keeps a
  // pipe open must not hold a test forever: two seconds after 'exit' it settles anyway.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('exit', (code, signal) => setTimeout(() => resolve({ code, signal }), 2000).unref());
  });
  return {
    child,
    lines,
    exited,
    waitFor(match, timeoutMs = 20_000) {
      const test = typeof match === 'function' ? match : (l: string) => match.test(l);
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          test,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${match}; output so far:\n${lines.slice(-30).join('\n')}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Runs a script (a falconet CLI) to its end: its exit code and its output lines, stdout and stderr as they came. */
export async function runToEnd(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string[] }> {
  const p = startProcess(script, args, env);
  const { code } = await p.exited;
  return { code, out: p.lines };
}

/** falconet-agent with `args`, run to its end. */
export const runAgent = (args: string[], env: NodeJS.ProcessEnv = {}) => runToEnd(AGENT_CLI, args, env);

/** falconet-server with `args`, run to its end. */
export const runServer = (args: string[], env: NodeJS.ProcessEnv = {}) => runToEnd(SERVER_CLI, args, env);

export interface ServerProc extends Proc {
  httpPort: number;
  grpcPort: number;
  /** The Open-Falcon TCP JSON-lines port (never the fixed 6000 in tests). */
  transferPort: number;
  dataDir: string;
  url: string;
}

export async function startServer(
  opts: { dataDir?: string; httpPort?: number; grpcPort?: number; transferPort?: number; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ServerProc> {
  const dataDir = opts.dataDir ?? tempDir('falconet-server-');
  const httpPort = opts.httpPort ?? (await freePort());
  const grpcPort = opts.grpcPort ?? (await freePort());
  const transferPort = opts.transferPort ?? (await freePort());
  const proc = startProcess(
    SERVER_CLI,
    [
      'run',
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${httpPort}`,
      '--grpc-listen',
      `127.0.0.1:${grpcPort}`,
      '--transfer-listen',
      `127.0.0.1:${transferPort}`,
      ...(opts.args ?? []),
    ],
    // The allocator setting `run` would start itself again for (packages/server/src/malloc.ts), given
    // up front so each test's server starts once; packages/server/test/malloc.test.ts leaves it out.
    { GLIBC_TUNABLES: SERVER_GLIBC_TUNABLES, ...opts.env },
  );
  await proc.waitFor(/"server listening"/);
  return Object.assign(proc, { httpPort, grpcPort, transferPort, dataDir, url: `http://127.0.0.1:${httpPort}` });
}

export interface AgentProc extends Proc {
  dataDir: string;
  metricsPort: number;
}

export async function startAgent(
  opts: { server?: string; dataDir?: string; interval?: string; args?: string[]; metricsPort?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<AgentProc> {
  const dataDir = opts.dataDir ?? tempDir('falconet-agent-');
  const metricsPort = opts.metricsPort ?? (await freePort());
  const args = ['run', '--data-dir', dataDir, '--listen', `127.0.0.1:${metricsPort}`, '--interval', opts.interval ?? '1s'];
  if (opts.server) args.push('--server', opts.server);
  // Tests expect the interval they ask for: the load-following report interval stays off unless asked for.
  const proc = startProcess(AGENT_CLI, [...args, ...(opts.args ?? [])], { FALCONET_REPORT_DYNAMIC: 'false', ...opts.env });
  await proc.waitFor(/"exporter listening"/);
  return Object.assign(proc, { dataDir, metricsPort });
}

/** Creates a user with the server's CLI on `dataDir` (the server may be running; `env` names its database); fails the test if it does not succeed. */
export async function createUser(
  dataDir: string,
  name: string,
  role: string,
  password: string,
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  const { code, out } = await runServer(
    ['create-user', '--name', name, '--role', role, '--password', password, '--data-dir', dataDir],
    env,
  );
  if (code !== 0) throw new Error(`create-user ${name} exited with ${code}:\n${out.join('\n')}`);
}

export interface MadeToken {
  /** The token, shown once on stdout. */
  token: string;
  /** Its id, from what the command said (agent tokens; empty for API tokens). */
  id: string;
  /** What the command said on stderr, the `falconet-server:` lines. */
  message: string;
}

/**
 * Makes a token with the server's CLI on `dataDir` (the server may be running): an API token
 * (`create-token --api`, never expiring) or an agent's (`create-token --agent`, with `--expires`
 * and `--label` when given); `env` names the database. Fails the test if the command does not succeed.
 */
export async function createToken(
  dataDir: string,
  kind: { api: string; role: string } | { agent: string; expires?: string | undefined; labels?: string | undefined },
  env: NodeJS.ProcessEnv = {},
): Promise<MadeToken> {
  const args = ['create-token', '--data-dir', dataDir];
  if ('api' in kind) args.push('--api', '--name', kind.api, '--role', kind.role, '--expires', 'never');
  else {
    args.push('--agent', kind.agent);
    if (kind.expires) args.push('--expires', kind.expires);
    if (kind.labels) args.push('--label', kind.labels);
  }
  const { code, out } = await runServer(args, env);
  const message = out.filter((l) => l.startsWith('falconet-server:')).join('\n');
  const id = /token ([0-9a-f]{12}) for agent/.exec(message)?.[1] ?? '';
  const token = out.find((l) => /^fn[te]_[A-Za-z0-9_-]+$/.test(l));
  if (code !== 0 || !token || ('agent' in kind && !id)) throw new Error(`${args.join(' ')} exited with ${code}:\n${out.join('\n')}`);
  return { token, id, message };
}

export async function getJson<T = unknown>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Sends `signal` to a child still running and resolves once it has exited (at once when it has). */
export async function stopChild(c: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill(signal);
  await exited;
}
