/**
 * The one-line install, for real: a server (run with Node from the tree, then the single-file
 * executable with TLS on its agent channel) holds the single-file agent from `npm run package`; in a
 * debootstrap root with curl (no systemd), `curl .../install/agent.sh | sh -s -- --token fne_...`
 * downloads and checks the binary, creates the falconet user, writes the config, starts the agent,
 * which enrolls and reports. Then: a re-run keeps the config, --uninstall stops the agent and removes
 * the binary, and a held binary changed after the server hashed it is refused.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseStore } from '../packages/server/src/releases/store.ts';
import { copyDebianRoot } from '../testing/debian-root.ts';
import {
  createToken,
  createUser,
  eventually,
  freePort,
  runServer,
  type ServerProc,
  startCommand,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { bareEnv, type Release, sharedRelease } from '../testing/release.ts';

const run = promisify(execFile);
const BIN = 'var/lib/falconet/bin/falconet-agent';
const CONFIG = 'etc/falconet/falconet-agent.yaml';
const PIDFILE = 'var/lib/falconet/agent/falconet-agent.pid';

let release: Release;
let root = '';
const mounts: string[] = [];
const agentPids = new Set<number>();
const stops: (() => Promise<void>)[] = [];

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The agent the script started in the root, by its pidfile; remembered so the end of the file can kill it whatever happens. */
function agentPid(): number | undefined {
  const file = join(root, PIDFILE);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (pid > 0) agentPids.add(pid);
  return pid > 0 ? pid : undefined;
}

/**
 * Runs `sh -c script` in the root with chroot; resolves with the exit code and both outputs, never
 * rejects on a failing status. Not inRoot: its /proc, /sys and /dev end with each command, and the
 * agent the script leaves running needs them (sysfs cannot be mounted twice on one point), so this
 * file mounts them once for its whole run.
 */
async function shInRoot(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
  try {
    const r = await run('chroot', [root, 'sh', '-c', script], { env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Holds the single-file agent in the server's release store, as `falconet-server release add` does. */
function holdAgent(dataDir: string): string {
  return new ReleaseStore(dataDir).add({ file: release.file('falconet-agent', 'linux-x64'), version: release.version, target: 'linux-x64' })
    .path;
}

async function enrollmentToken(dataDir: string, env: NodeJS.ProcessEnv = {}, serverCli?: string): Promise<string> {
  const args = ['create-token', '--enroll', '--name', 'e2e-install', '--uses', '1', '--expires', '24h', '--data-dir', dataDir];
  let out: string[];
  if (serverCli) {
    const p = startCommand(serverCli, args, bareEnv(env));
    const { code } = await p.exited;
    out = p.lines;
    if (code !== 0) throw new Error(`${args.join(' ')}: ${out.join('\n')}`);
  } else {
    const r = await runServer(args, env);
    out = r.out;
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${out.join('\n')}`);
  }
  const token = out.find((l) => /^fne_[A-Za-z0-9_-]+$/.test(l));
  if (!token) throw new Error(`no enrollment token in: ${out.join('\n')}`);
  return token;
}

/** The agent as the server's API shows it, once online with samples stored. */
async function onlineWithData(base: string, apiToken: string): Promise<{ id: string; names: string[] }> {
  const headers = { authorization: `Bearer ${apiToken}` };
  return await eventually(
    async () => {
      const list = (await (await fetch(`${base}/api/agents`, { headers })).json()) as {
        items: { id: string; hostname: string; status: string }[];
      };
      const agent = list.items.find((a) => a.hostname === hostname() && a.status === 'online');
      if (!agent) return undefined;
      const names = (await (await fetch(`${base}/api/metrics/names?agent=${agent.id}`, { headers })).json()) as { names: string[] };
      return names.names.includes('falconet_cpu_usage_percent') ? { id: agent.id, names: names.names } : undefined;
    },
    90_000,
    500,
  );
}

beforeAll(async () => {
  [release, root] = await Promise.all([sharedRelease(), copyDebianRoot({ include: ['curl'] })]);
  // /proc, /sys and /dev stay mounted for the agent the script leaves running.
  for (const [what, args] of [
    ['proc', ['-t', 'proc', 'proc']],
    ['sys', ['-t', 'sysfs', 'sys']],
    ['dev', ['--bind', '/dev']],
  ] as const) {
    const at = join(root, what);
    mkdirSync(at, { recursive: true });
    await run('mount', [...args, at]);
    mounts.push(at);
  }
}, 900_000);

afterAll(async () => {
  agentPid();
  for (const pid of agentPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  for (const at of mounts.reverse()) await run('umount', ['-l', at]).catch(() => undefined);
  // The copy lives in a directory of its own under the temporary directory.
  if (root && mounts.length) rmSync(dirname(root), { recursive: true, force: true });
}, 120_000);

describe('curl .../install/agent.sh | sh, in a Debian root without systemd', () => {
  let server: ServerProc;
  let apiToken = '';
  let held = '';
  let metricsPort = 0;
  let firstConfig = '';

  it('installs the agent from a server run from the tree; it enrolls and reports', async () => {
    const dataDir = tempDir('falconet-install-server-');
    held = holdAgent(dataDir);
    server = await startServer({ dataDir });
    stops.push(() => server.stop());
    await createUser(dataDir, 'admin', 'admin', 'correct horse battery');
    apiToken = (await createToken(dataDir, { api: 'e2e-viewer', role: 'viewer' })).token;
    const token = await enrollmentToken(dataDir);
    metricsPort = await freePort();

    const r = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --token ${token} --listen 127.0.0.1:${metricsPort}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('falconet-install: created the system user falconet');
    expect(r.stdout).toContain(
      'falconet-install: systemd is not running here: started the agent in the background; it will not start again after a reboot',
    );
    const pid = agentPid();
    expect(pid && alive(pid)).toBe(true);
    // The agent runs as falconet, from the binary the script installed, owned by falconet for self-update.
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toMatch(new RegExp(`^falconet:x:${uid}:`, 'm'));
    expect(statSync(join(root, BIN)).uid).toBe(Number(uid));
    expect(readFileSync(join(root, BIN)).equals(readFileSync(release.file('falconet-agent', 'linux-x64')))).toBe(true);
    const link = await shInRoot('readlink /usr/local/bin/falconet-agent');
    expect(link.stdout.trim()).toBe('/var/lib/falconet/bin/falconet-agent');
    const unit = readFileSync(join(root, 'etc/systemd/system/falconet-agent.service'), 'utf8');
    expect(unit).toContain(
      'ExecStart=/var/lib/falconet/bin/falconet-agent run --config /etc/falconet/falconet-agent.yaml --data-dir /var/lib/falconet/agent',
    );
    expect(unit).toContain('User=falconet');
    firstConfig = readFileSync(join(root, CONFIG), 'utf8');
    expect(firstConfig).toContain(`url: "grpc://127.0.0.1:${server.grpcPort}"`);
    expect(firstConfig).toMatch(/token: "fnt_[A-Za-z0-9_-]+"/);
    expect(firstConfig).not.toContain(token);
    expect(statSync(join(root, CONFIG)).mode & 0o777).toBe(0o640);

    const agent = await onlineWithData(server.url, apiToken);
    expect(agent.names.length).toBeGreaterThan(3);
    const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(scrape).toContain('node_load1');
  });

  it('a re-run without --token keeps the configuration and starts the agent again', async () => {
    const before = agentPid();
    const r = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --listen 127.0.0.1:${metricsPort}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('falconet-install: kept /etc/falconet/falconet-agent.yaml (give --token to write a new one)');
    expect(readFileSync(join(root, CONFIG), 'utf8')).toBe(firstConfig);
    const after = agentPid();
    expect(after).not.toBe(before);
    expect(before && alive(before)).toBe(false);
    expect(after && alive(after)).toBe(true);
    await onlineWithData(server.url, apiToken);
  });

  it('--uninstall stops the agent and removes binary, unit and link, keeping data and config', async () => {
    const pid = agentPid();
    const r = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --uninstall`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'falconet-install: uninstalled the Falconet agent; kept /var/lib/falconet/agent and /etc/falconet/falconet-agent.yaml',
    );
    expect(pid && alive(pid)).toBe(false);
    expect(existsSync(join(root, BIN))).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/falconet-agent.service'))).toBe(false);
    expect(existsSync(join(root, 'usr/local/bin/falconet-agent'))).toBe(false);
    expect(existsSync(join(root, CONFIG))).toBe(true);
    expect(existsSync(join(root, 'var/lib/falconet/agent/agent-id'))).toBe(true);
  });

  it('refuses a binary changed on the server after it was hashed, and installs nothing', async () => {
    // The server hashed the held file when it first served it; now it is changed in place.
    const bytes = readFileSync(held);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(held, bytes);
    const r = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --token fne_unused --listen 127.0.0.1:${metricsPort}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^falconet-install: error: checksum mismatch: the downloaded falconet-agent-linux-x64 has SHA-256 [0-9a-f]{64}, but the server announced [0-9a-f]{64}; the file was changed on the server or on the way, and nothing was installed\n$/,
    );
    expect(existsSync(join(root, BIN))).toBe(false);
  });

  it('says what is wrong when the server holds no binary, on another architecture, for a non-root user or a missing value', async () => {
    const empty = await startServer();
    stops.push(() => empty.stop());
    const none = await shInRoot(`curl -fsSL ${empty.url}/install/agent.sh | sh -s -- --token fne_x`);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      `falconet-install: error: ${empty.url}/install/falconet-agent-linux-x64.sha256 answered HTTP 404: this server holds no agent binary for linux-x64: falconet-server release add FILE\n`,
    );
    const notRoot = await shInRoot(
      `curl -fsSL ${empty.url}/install/agent.sh | setpriv --reuid=65534 --regid=65534 --clear-groups sh -s -- --token fne_x`,
    );
    expect(notRoot.code).toBe(1);
    expect(notRoot.stderr).toMatch(/^falconet-install: error: this installs a system service and must run as root/);
    const i686 = await shInRoot(`curl -fsSL ${empty.url}/install/agent.sh | setarch i686 sh -s -- --token fne_x`);
    expect(i686.code).toBe(1);
    expect(i686.stderr).toBe(
      'falconet-install: error: unsupported architecture i686: Falconet agents are built for x86_64 (linux-x64) and aarch64 (linux-arm64)\n',
    );
    const badArg = await shInRoot(`curl -fsSL ${empty.url}/install/agent.sh | sh -s -- --token`);
    expect(badArg.stderr).toBe('falconet-install: error: --token needs a value (see --help)\n');
  });

  it('installs from the single-file server with TLS on its agent channel: the script pins its certificate', async () => {
    const purge = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --uninstall --purge`);
    expect(purge.code).toBe(0);
    expect(existsSync(join(root, 'var/lib/falconet'))).toBe(false);
    const serverBin = release.file('falconet-server', 'linux-x64');
    const dataDir = tempDir('falconet-install-sea-');
    holdAgent(dataDir);
    const [httpPort, grpcPort] = [await freePort(), await freePort()];
    const env = { FALCONET_GRPC_TLS_MODE: 'on' };
    const sea = startCommand(
      serverBin,
      ['run', '--data-dir', dataDir, '--listen', `127.0.0.1:${httpPort}`, '--grpc-listen', `127.0.0.1:${grpcPort}`],
      bareEnv(env),
    );
    stops.push(() => sea.stop());
    const tlsLine = await sea.waitFor(/"agent channel uses TLS/, 60_000);
    const fingerprint = (JSON.parse(tlsLine) as { fingerprint: string }).fingerprint;
    await sea.waitFor(/"server listening"/, 60_000);
    const url = `http://127.0.0.1:${httpPort}`;
    const token = await enrollmentToken(dataDir, env, serverBin);
    const admin = startCommand(
      serverBin,
      ['create-user', '--name', 'admin', '--role', 'admin', '--password', 'correct horse battery', '--data-dir', dataDir],
      bareEnv(),
    );
    expect((await admin.exited).code).toBe(0);
    const apiTok = startCommand(
      serverBin,
      ['create-token', '--api', '--name', 'v', '--role', 'viewer', '--expires', 'never', '--data-dir', dataDir],
      bareEnv(),
    );
    await apiTok.exited;
    const viewer = apiTok.lines.find((l) => l.startsWith('fna_') || /^fn[a-z]_/.test(l)) ?? '';

    const r = await shInRoot(`curl -fsSL ${url}/install/agent.sh | sh -s -- --token ${token} --listen 127.0.0.1:${metricsPort}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const config = readFileSync(join(root, CONFIG), 'utf8');
    expect(config).toContain(`url: "grpcs://127.0.0.1:${grpcPort}"`);
    expect(config).toContain(`fingerprint: "${fingerprint}"`);
    // The server's release key pinned, so the agent takes the server's signed rollouts.
    expect(config).toContain(`public_keys: ["${new ReleaseStore(dataDir).publicKeyBase64()}"]`);
    await onlineWithData(url, viewer);
    // The one-use token is spent: a second host (here, the same one again) is refused before anything changes.
    const again = await shInRoot(`curl -fsSL ${url}/install/agent.sh | sh -s -- --token ${token} --listen 127.0.0.1:${metricsPort}`);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `falconet-install: error: ${url}/install/enroll answered HTTP 401: the enrollment token has been used as many times as it allows: make a new one (the dashboard's Add host, or falconet-server create-token --enroll)\n`,
    );
    expect(readFileSync(join(root, CONFIG), 'utf8')).toBe(config);
    const running = agentPid();
    expect(running && alive(running)).toBe(true);

    const un = await shInRoot(`curl -fsSL ${url}/install/agent.sh | sh -s -- --uninstall --purge`);
    expect(un.code).toBe(0);
    for (const pid of agentPids) expect(alive(pid)).toBe(false);
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).not.toMatch(/^falconet:/m);
  });
  it('with systemd running, installs the unit and leaves starting and stopping to systemctl', async () => {
    // No systemd runs here: a stand-in systemctl records what the script asks of it, and
    // /run/systemd/system says systemd is up, as it does on a booted host.
    copyFileSync(release.file('falconet-agent', 'linux-x64'), held);
    mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
    writeFileSync(
      join(root, 'usr/bin/systemctl'),
      '#!/bin/sh\necho "$*" >>/tmp/systemctl.calls\ncase "$1" in is-active|is-enabled) [ -e /tmp/systemctl.enabled ] ;; enable) touch /tmp/systemctl.enabled ;; esac\n',
      { mode: 0o755 },
    );
    const calls = () => readFileSync(join(root, 'tmp/systemctl.calls'), 'utf8').trim().split('\n');
    try {
      const token = await enrollmentToken(server.dataDir);
      const r = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --token ${token} --listen 127.0.0.1:${metricsPort}`);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('falconet-install: started falconet-agent.service (systemctl status falconet-agent)');
      expect(r.stdout).not.toContain('systemd is not running here');
      expect(calls()).toEqual([
        'is-active --quiet falconet-agent.service',
        'is-enabled --quiet falconet-agent.service',
        'daemon-reload',
        'enable --now falconet-agent.service',
      ]);
      expect(existsSync(join(root, PIDFILE))).toBe(false);
      expect(readFileSync(join(root, 'etc/systemd/system/falconet-agent.service'), 'utf8')).toContain(
        'ExecStart=/var/lib/falconet/bin/falconet-agent run --config /etc/falconet/falconet-agent.yaml',
      );
      const un = await shInRoot(`curl -fsSL ${server.url}/install/agent.sh | sh -s -- --uninstall --purge`);
      expect(un.code).toBe(0);
      expect(un.stdout).toContain('falconet-install: stopped and disabled falconet-agent.service');
      expect(calls().slice(4)).toEqual([
        'is-active --quiet falconet-agent.service',
        'disable --now falconet-agent.service',
        'daemon-reload',
      ]);
      expect(existsSync(join(root, 'etc/systemd/system/falconet-agent.service'))).toBe(false);
    } finally {
      for (const f of ['usr/bin/systemctl', 'run/systemd', 'tmp/systemctl.calls', 'tmp/systemctl.enabled']) {
        rmSync(join(root, f), { recursive: true, force: true });
      }
    }
  });
});
