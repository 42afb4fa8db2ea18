import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProc,
  eventually,
  freePort,
  getJson,
  type Proc,
  type ServerProc,
  startCommand,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { bareEnv, type Release, sharedRelease } from '../testing/release.ts';

// npm run package's output, built once for this file: single-file executables run from a bare
// directory, with no Node.js on PATH and no node_modules above them; arm64 ones under qemu.

// By its full path: the binaries run with PATH pointing nowhere.
const QEMU = [execFileSync('sh', ['-c', 'command -v qemu-aarch64-static'], { encoding: 'utf8' }).trim(), '-L', '/usr/aarch64-linux-gnu'];

let release: Release;
const started: { stop(): Promise<void> }[] = [];
/** Directories holding copies of the executables, removed at the end. */
const scratch: string[] = [];

beforeAll(async () => {
  release = await sharedRelease();
}, 900_000);

afterAll(async () => {
  for (const p of started.reverse()) await p.stop();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** Runs a binary (under qemu for arm64) from an empty directory to its end. */
async function run(file: string, args: string[], arm64 = false): Promise<{ code: number | null; out: string }> {
  const [command, ...pre] = arm64 ? [...QEMU, file] : [file];
  const p = startCommand(command as string, [...pre, ...args], bareEnv(), file, tempDir('falconet-bare-'));
  const { code } = await p.exited;
  return { code, out: p.lines.join('\n') };
}

function startBinary(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const p = startCommand(file, args, bareEnv(env), file, tempDir('falconet-bare-'));
  started.push(p);
  return p;
}

async function startBinaryAgent(server?: string): Promise<AgentProc> {
  const dataDir = tempDir('falconet-agent-');
  const metricsPort = await freePort();
  const args = ['run', '--data-dir', dataDir, '--listen', `127.0.0.1:${metricsPort}`, '--interval', '1s'];
  if (server) args.push('--server', server);
  const p = startBinary(release.file('falconet-agent', 'linux-x64'), args, { FALCONET_REPORT_DYNAMIC: 'false' });
  await p.waitFor(/"exporter listening"/, 60_000);
  return Object.assign(p, { dataDir, metricsPort });
}

describe('single-file executables (linux-x64)', () => {
  it('print version, commit and target', async () => {
    for (const name of ['falconet-agent', 'falconet-server'] as const) {
      const { code, out } = await run(release.file(name, 'linux-x64'), ['version']);
      expect(code, out).toBe(0);
      expect(out).toContain(`${name} ${release.version}`);
      expect(out).toMatch(/commit: +[0-9a-f]{12}/);
      expect(out).toMatch(/target: +linux-x64/);
      expect(out).toMatch(/node: +v24\./);
    }
  }, 120_000);

  it('the agent serves /metrics, native collectors included, and reports to a real server', async () => {
    const server: ServerProc = await startServer();
    started.push(server);
    const agent = await startBinaryAgent(`http://127.0.0.1:${server.grpcPort}`);
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^node_load1 /m);
    // timex comes from the native helpers, written out of the executable and loaded at start.
    expect(text).toMatch(/^node_timex_sync_status /m);
    expect(text).not.toMatch(/node_scrape_collector_success\{collector="timex"\} 0/);
    const agents = await eventually(async () => {
      const list = await getJson<{ items: { version: string; status: string }[] }>(`${server.url}/api/agents`);
      return list.items.find((a) => a.status === 'online') ? list.items : undefined;
    }, 60_000);
    expect(agents[0]?.version).toBe(release.version);
    await eventually(async () => {
      const { names } = await getJson<{ names: string[] }>(`${server.url}/api/metrics/names`);
      return names.includes('node_load1');
    }, 60_000);
  }, 240_000);

  it('the server serves the dashboard from inside itself and the API, and its store worker flushes', async () => {
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const dataDir = tempDir('falconet-server-');
    // A small head, so the store's worker thread (carried as code, started with eval) flushes parts soon.
    const config = join(dataDir, 'falconet-server.yaml');
    writeFileSync(config, 'store:\n  head_max_samples: 1000\n');
    const server = startBinary(release.file('falconet-server', 'linux-x64'), [
      'run',
      '--config',
      config,
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${httpPort}`,
      '--grpc-listen',
      `127.0.0.1:${grpcPort}`,
    ]);
    await server.waitFor(/"server listening"/, 60_000);
    const url = `http://127.0.0.1:${httpPort}`;
    const index = await fetch(`${url}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    expect(html).toBe(readFileSync(join(import.meta.dirname, '../packages/server/public/index.html'), 'utf8'));
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${url}${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    // A page of the dashboard that is no file gets the shell, as from the tree.
    expect(await (await fetch(`${url}/agents`, { headers: { accept: 'text/html' } })).text()).toBe(html);
    const agent = await startBinaryAgent(`http://127.0.0.1:${grpcPort}`);
    expect(agent.metricsPort).toBeGreaterThan(0);
    const online = await eventually(async () => {
      const list = await getJson<{ items: { hostname: string; status: string }[] }>(`${url}/api/agents`);
      return list.items.find((a) => a.status === 'online');
    }, 60_000);
    expect(online.hostname).toBeTruthy();
    await eventually(
      () => existsSync(join(dataDir, 'samples', 'parts')) && readdirSync(join(dataDir, 'samples', 'parts')).length > 0,
      60_000,
    );
    expect(server.lines.filter((l) => /worker|"level":50/.test(l))).toEqual([]);
  }, 240_000);
});

describe('single-file executables (linux-arm64, under qemu-user-static)', () => {
  it('print version and target', async () => {
    for (const name of ['falconet-agent', 'falconet-server'] as const) {
      const { code, out } = await run(release.file(name, 'linux-arm64'), ['version'], true);
      expect(code, out).toBe(0);
      expect(out).toContain(`${name} ${release.version}`);
      expect(out).toMatch(/target: +linux-arm64/);
      expect(out).toMatch(/platform: +linux\/arm64/);
    }
  }, 300_000);

  it('the agent collects once, with the native helpers built for arm64', async () => {
    const { code, out } = await run(release.file('falconet-agent', 'linux-arm64'), ['once'], true);
    expect(code, out).toBe(0);
    expect(out).toMatch(/^node_load1 /m);
    expect(out).toMatch(/^node_timex_offset_seconds /m);
    expect(out).not.toMatch(/native helpers/);
  }, 300_000);
});

describe('falconet-agent verify', () => {
  const agent = () => release.file('falconet-agent', 'linux-x64');
  /** A directory holding copies of the named release files. */
  function copies(names: string[]): string {
    const dir = tempDir('falconet-verify-');
    scratch.push(dir);
    for (const n of names) copyFileSync(join(release.dir, n), join(dir, n));
    return dir;
  }
  const tarball = () => `falconet-agent-${release.version}-linux-x64.tar.gz`;

  it('accepts a good tarball and binary with the key built in, or given', async () => {
    const good = await run(agent(), ['verify', release.file('falconet-agent', 'linux-x64', true)]);
    expect(good.code, good.out).toBe(0);
    expect(good.out).toContain(`${tarball()} is intact and SHA256SUMS is signed by this binary's release key.`);
    const given = await run(agent(), ['verify', release.file('falconet-server', 'linux-arm64'), '--public-key', release.publicKey]);
    expect(given.code, given.out).toBe(0);
    expect(given.out).toContain(`is intact and SHA256SUMS is signed by the key in ${release.publicKey}.`);
    // A binary renamed after download is known by its content.
    const dir = tempDir('falconet-verify-');
    scratch.push(dir);
    for (const n of ['SHA256SUMS', 'SHA256SUMS.sig']) copyFileSync(join(release.dir, n), join(dir, n));
    copyFileSync(agent(), join(dir, 'falconet-agent'));
    const renamed = await run(agent(), ['verify', join(dir, 'falconet-agent')]);
    expect(renamed.code, renamed.out).toBe(0);
    expect(renamed.out).toContain(`falconet-agent is falconet-agent-${release.version}-linux-x64 as listed in SHA256SUMS`);
  }, 120_000);

  it('refuses a tampered binary', async () => {
    const name = `falconet-agent-${release.version}-linux-x64`;
    const dir = copies(['SHA256SUMS', 'SHA256SUMS.sig', name]);
    appendFileSync(join(dir, name), 'x');
    const r = await run(agent(), ['verify', join(dir, name)]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(`falconet-agent: ${name} has been changed: its SHA-256 is [0-9a-f]{64}, but the signed SHA256SUMS says [0-9a-f]{64}\\.`),
    );
  }, 120_000);

  it('refuses a signature by another key', async () => {
    const r = await run(agent(), ['verify', release.file('falconet-agent', 'linux-x64', true), '--public-key', release.otherPublicKey]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `falconet-agent: the signature of SHA256SUMS does not match the key in ${release.otherPublicKey}: it was signed by another key, or SHA256SUMS was changed after signing.`,
    );
  }, 120_000);

  it('refuses a release whose SHA256SUMS is not signed, and a file it does not list', async () => {
    const unsigned = copies(['SHA256SUMS', tarball()]);
    const r = await run(agent(), ['verify', join(unsigned, tarball())]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `falconet-agent: SHA256SUMS in ${unsigned} is not signed: SHA256SUMS.sig is missing, so nothing says who made it.`,
    );
    const other = copies(['SHA256SUMS', 'SHA256SUMS.sig']);
    mkdirSync(join(other, 'x'));
    copyFileSync(release.publicKey, join(other, 'notes.txt'));
    const unlisted = await run(agent(), ['verify', join(other, 'notes.txt')]);
    expect(unlisted.code).toBe(1);
    expect(unlisted.out).toContain('falconet-agent: notes.txt is not listed in SHA256SUMS, and its content matches no file there.');
  }, 120_000);
});
