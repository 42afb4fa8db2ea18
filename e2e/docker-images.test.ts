/**
 * deploy/Dockerfile and deploy/compose.yaml on a real Docker engine of the test's own: images built
 * from the single-file executables of `npm run package` on a Debian root imported as
 * debian:bookworm-slim (no registry is reachable), the agent image run the node_exporter way
 * (host pid and network namespaces, the host's / mounted at /host) showing the host's figures, and
 * compose bringing up server and agent with a token, keeping the server's data across down/up.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { debianRoot } from '../testing/debian-root.ts';
import { scrapedSeries } from '../testing/exposition.ts';
import { type AgentProc, eventually, freePort, ROOT, startAgent, tempDir } from '../testing/processes.ts';
import { type Release, sharedRelease } from '../testing/release.ts';
import { type Dockerd, startDockerd } from './containers-dockerd.ts';

const run = promisify(execFile);
const COMPOSE_FILE = join(ROOT, 'deploy/compose.yaml');

let release: Release;
let dockerd: Dockerd;
let hostAgent: AgentProc;
const scratch: string[] = [];
/** Containers and volumes made with `docker run`, removed at the end. */
const containers: string[] = [];
const volumes: string[] = [];
/** Set once compose has brought the project up: `down -v` at the end if a test failed midway. */
let composeUp = false;
let tags: { server: string; agent: string };
/** Other tags the tests build, removed at the end. */
const extraImages: string[] = [];
let contextDir = '';

/**
 * rslave needs the host's / to be a shared or slave mount (systemd makes it shared); on a host whose
 * root is private Docker refuses it, and a plain read-only bind shows the same files.
 */
const rootPropagates = /^\S+ \S+ \S+ \S+ \/ \S+ .*\b(shared|master):/m.test(readFileSync('/proc/self/mountinfo', 'utf8'));
const HOST_MOUNT_OPTIONS = rootPropagates ? 'ro,rslave' : 'ro';

const docker = (...args: string[]) => dockerd.docker(...args);

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics on ${port}: ${res.status}`);
  return await res.text();
}

/** The figures both agents must agree on when they read the same host. */
function hostFigures(text: string) {
  const one = (name: string, match: Record<string, string> = {}) => {
    const series = scrapedSeries(text, name, match);
    if (series.length === 0) throw new Error(`no ${name}${JSON.stringify(match)} in the scrape`);
    return series[0]?.value;
  };
  return {
    memTotal: one('node_memory_MemTotal_bytes'),
    cpus: new Set(scrapedSeries(text, 'node_cpu_seconds_total').map((m) => m.labels.cpu)).size,
    bootTime: one('node_boot_time_seconds'),
    rootSize: one('node_filesystem_size_bytes', { mountpoint: '/' }),
    nodename: scrapedSeries(text, 'node_uname_info')[0]?.labels.nodename,
    mountpoints: scrapedSeries(text, 'node_filesystem_size_bytes').map((m) => m.labels.mountpoint ?? ''),
  };
}

async function getJson<T>(url: string, token?: string): Promise<T> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface AgentItem {
  id: string;
  hostname: string;
  status: string;
  firstSeenMs: number;
}

/** The agent the server lists online under this host's name, once it has stored a report of it. */
async function onlineWithData(url: string, token?: string): Promise<{ agent: AgentItem; memTotal: number }> {
  return await eventually(
    async () => {
      const { items } = await getJson<{ items: AgentItem[] }>(`${url}/api/agents`, token);
      const agent = items.find((a) => a.hostname === hostname() && a.status === 'online');
      if (!agent) return undefined;
      const { samples } = await getJson<{ samples: { value: number }[] }>(
        `${url}/api/metrics/latest?agent=${agent.id}&name=node_memory_MemTotal_bytes`,
        token,
      );
      return samples[0] ? { agent, memTotal: samples[0].value } : undefined;
    },
    90_000,
    500,
  );
}

beforeAll(async () => {
  release = await sharedRelease();
  tags = { server: `falconet/server:${release.version}`, agent: `falconet/agent:${release.version}` };
  // overlay2 builds the images in seconds where vfs copies the whole root for every instruction.
  dockerd = await startDockerd({ storageDriver: 'overlay2' }).catch(() => startDockerd());
  const root = await debianRoot();
  const images = await docker('images', '-q', 'debian:bookworm-slim');
  if (!images.trim()) {
    await run('sh', [
      '-c',
      `tar -C "${root}" --exclude=./.falconet-complete -c . | docker -H "unix://${dockerd.socket}" import - debian:bookworm-slim`,
    ]);
  }
  // The build context: the release directory's executables, linked rather than copied (500 MB).
  const context = tempDir('falconet-image-context-');
  contextDir = context;
  scratch.push(context);
  for (const name of ['falconet-agent', 'falconet-server'] as const) {
    for (const target of ['linux-x64', 'linux-arm64'] as const) {
      const file = release.file(name, target);
      const to = join(context, file.slice(release.dir.length + 1));
      try {
        linkSync(file, to);
      } catch {
        copyFileSync(file, to);
      }
    }
  }
  for (const target of ['agent', 'server'] as const) {
    const file = join(ROOT, 'deploy/Dockerfile');
    // --network none: the engine has no bridge, and the one RUN needs no network.
    await docker(
      'build',
      '--network',
      'none',
      '-f',
      file,
      '--target',
      target,
      '--build-arg',
      `VERSION=${release.version}`,
      '-t',
      tags[target],
      context,
    );
  }
  hostAgent = await startAgent();
}, 900_000);

afterAll(async () => {
  try {
    await hostAgent?.stop();
    if (dockerd) {
      if (composeUp) await compose('down', '-v').catch(() => undefined);
      if (containers.length) await docker('rm', '-fv', ...containers).catch(() => undefined);
      if (volumes.length) await docker('volume', 'rm', '-f', ...volumes).catch(() => undefined);
      if (tags) await docker('rmi', '-f', tags.server, tags.agent, ...extraImages).catch(() => undefined);
      await dockerd.stop();
    }
  } finally {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

describe('the images', () => {
  it('carry the version, run the server unprivileged with its data in a volume, and the agent as root', async () => {
    const inspect = async (tag: string) =>
      JSON.parse(await docker('image', 'inspect', tag))[0].Config as {
        Labels: Record<string, string>;
        User: string;
        Volumes: Record<string, unknown>;
        ExposedPorts: Record<string, unknown>;
        Healthcheck?: { Test: string[] };
        Entrypoint: string[];
      };
    const server = await inspect(tags.server);
    expect(server.Labels['org.opencontainers.image.version']).toBe(release.version);
    expect(server.Labels['org.opencontainers.image.title']).toBe('falconet-server');
    expect(server.User).toBe('falconet:falconet');
    expect(Object.keys(server.Volumes)).toEqual(['/var/lib/falconet']);
    expect(Object.keys(server.ExposedPorts).sort()).toEqual(['7070/tcp', '7071/tcp']);
    expect(server.Healthcheck?.Test.join(' ')).toContain('/healthz');
    const agent = await inspect(tags.agent);
    expect(agent.Labels['org.opencontainers.image.version']).toBe(release.version);
    expect(agent.User).toBe('');
    expect(Object.keys(agent.Volumes)).toEqual(['/var/lib/falconet-agent']);
    // The executables inside are the release's x64 ones, with no Node.js beside them.
    const version = await docker('run', '--rm', '--network', 'none', tags.agent, 'version');
    expect(version).toContain(`falconet-agent ${release.version}`);
    expect(version).toMatch(/target: +linux-x64/);
    const uid = await docker('run', '--rm', '--network', 'none', '--entrypoint', 'id', tags.server);
    expect(uid).toMatch(/^uid=10001\(falconet\)/);
    expect(await docker('run', '--rm', '--network', 'none', '--entrypoint', 'sh', tags.server, '-c', 'command -v node || echo none')).toBe(
      'none\n',
    );
  }, 120_000);

  it('TARGETARCH=arm64 puts the arm64 executables in (the classic builder does not set it from --platform)', async () => {
    const tag = `falconet/agent:${release.version}-arm64`;
    extraImages.push(tag);
    const file = join(ROOT, 'deploy/Dockerfile');
    const common = ['--network', 'none', '-f', file, '--target', 'agent', '--build-arg', `VERSION=${release.version}`];
    await docker('build', ...common, '--build-arg', 'TARGETARCH=arm64', '-t', tag, contextDir);
    const id = (await docker('create', tag)).trim();
    const out = tempDir('falconet-image-arm64-');
    scratch.push(out);
    try {
      await docker('cp', `${id}:/usr/local/bin/falconet-agent`, join(out, 'falconet-agent'));
    } finally {
      await docker('rm', '-v', id);
    }
    // ELF e_machine at offset 18: 0xb7 is AArch64, 0x3e x86-64.
    const elf = readFileSync(join(out, 'falconet-agent'));
    expect(elf.readUInt16LE(18)).toBe(0xb7);
    expect(elf.equals(readFileSync(release.file('falconet-agent', 'linux-arm64')))).toBe(true);
  }, 300_000);

  it("the agent run node_exporter's way reports the host's figures, equal to an agent on the host, to the server image", async () => {
    const [http, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
    const volume = 'falconet-e2e-server-data';
    volumes.push(volume);
    containers.push('falconet-e2e-server', 'falconet-e2e-agent');
    await docker(
      'run',
      '-d',
      '--name',
      'falconet-e2e-server',
      '--network',
      'host',
      // The image's health check, run every 2 s instead of 30 s.
      '--health-interval=2s',
      // Loopback: no user exists yet, and the server refuses other addresses until one does.
      '-e',
      `FALCONET_LISTEN=127.0.0.1:${http}`,
      '-e',
      `FALCONET_GRPC_LISTEN=127.0.0.1:${grpc}`,
      '-v',
      `${volume}:/var/lib/falconet`,
      tags.server,
    );
    await docker(
      'run',
      '-d',
      '--name',
      'falconet-e2e-agent',
      '--health-interval=2s',
      '--pid',
      'host',
      '--network',
      'host',
      '-v',
      `/:/host:${HOST_MOUNT_OPTIONS}`,
      '-e',
      `FALCONET_LISTEN=127.0.0.1:${metrics}`,
      '-e',
      'FALCONET_REPORT_DYNAMIC=false',
      tags.agent,
      'run',
      '--path.rootfs=/host',
      '--path.procfs=/host/proc',
      '--path.sysfs=/host/sys',
      '--server',
      `http://127.0.0.1:${grpc}`,
      '--interval',
      '2s',
    );
    const inContainer = hostFigures(await eventually(() => scrape(metrics), 90_000, 500));
    const onHost = hostFigures(await scrape(hostAgent.metricsPort));
    expect(inContainer.memTotal).toBe(onHost.memTotal);
    expect(inContainer.cpus).toBe(onHost.cpus);
    expect(inContainer.cpus).toBeGreaterThan(0);
    expect(inContainer.bootTime).toBe(onHost.bootTime);
    expect(inContainer.rootSize).toBe(onHost.rootSize);
    expect(inContainer.nodename).toBe(hostname());
    expect(onHost.nodename).toBe(hostname());
    // Mount points as the host names them, never under the container's /host.
    expect(inContainer.mountpoints.filter((m) => m.startsWith('/host'))).toEqual([]);
    console.log(
      `host figures: MemTotal ${onHost.memTotal} B, ${onHost.cpus} CPUs, boot ${onHost.bootTime}, / ${onHost.rootSize} B, nodename ${onHost.nodename}`,
    );

    const url = `http://127.0.0.1:${http}`;
    const { memTotal } = await onlineWithData(url);
    expect(memTotal).toBe(onHost.memTotal);
    // The images' health checks, run by the engine: bash's /dev/tcp asking /healthz and /metrics.
    for (const name of ['falconet-e2e-server', 'falconet-e2e-agent']) {
      await eventually(async () => (await docker('inspect', '-f', '{{.State.Health.Status}}', name)).trim() === 'healthy', 120_000, 1000);
    }
    await docker('rm', '-fv', 'falconet-e2e-server', 'falconet-e2e-agent');
  }, 300_000);
});

/** docker-compose on deploy/compose.yaml, against the test's engine, as a project of its own. */
let composeEnv: NodeJS.ProcessEnv = {};
async function compose(...args: string[]): Promise<string> {
  try {
    return (await run('docker-compose', ['-f', COMPOSE_FILE, ...args], { env: composeEnv, maxBuffer: 16 << 20 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`docker-compose ${args.join(' ')}: ${e.message}\n${e.stderr ?? ''}`);
  }
}

describe('deploy/compose.yaml', () => {
  it('brings up server and agent with a token; down and up keep the server data; down -v removes it', async () => {
    const [http, grpc, metrics, intruderMetrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const project = `falconete2e${process.pid}`;
    composeEnv = {
      ...process.env,
      DOCKER_HOST: `unix://${dockerd.socket}`,
      COMPOSE_PROJECT_NAME: project,
      FALCONET_VERSION: release.version,
      FALCONET_LISTEN: `127.0.0.1:${http}`,
      FALCONET_GRPC_LISTEN: `127.0.0.1:${grpc}`,
      FALCONET_SERVER_URL: `http://127.0.0.1:${grpc}`,
      FALCONET_AGENT_LISTEN: `127.0.0.1:${metrics}`,
      FALCONET_HOST_MOUNT_OPTIONS: HOST_MOUNT_OPTIONS,
    };
    const url = `http://127.0.0.1:${http}`;
    composeUp = true;
    // The documented first steps: an admin, then a token for this host's agent.
    await compose('run', '--rm', '-T', 'server', 'create-user', '--name', 'admin', '--role', 'admin', '--password', 'compose-e2e-password');
    const agentToken = (await compose('run', '--rm', '-T', 'server', 'create-token', '--agent', hostname())).trim();
    expect(agentToken).toMatch(/^fnt_[A-Za-z0-9_-]+$/);
    composeEnv.FALCONET_AGENT_TOKEN = agentToken;
    await compose('up', '-d');
    const apiToken = (
      await compose(
        'exec',
        '-T',
        'server',
        'falconet-server',
        'create-token',
        '--api',
        '--name',
        'e2e',
        '--role',
        'viewer',
        '--expires',
        'never',
      )
    ).trim();
    expect(apiToken).toMatch(/^fnt_/);
    // A user exists now: the API wants a token. (`up -d` returns before the server listens: it
    // starts itself again once to set its allocator, docs/server.md, then opens its ports.)
    expect(await eventually(async () => (await fetch(`${url}/api/agents`)).status, 60_000, 250)).toBe(401);
    const first = await onlineWithData(url, apiToken);
    expect(first.memTotal).toBe(hostFigures(await scrape(hostAgent.metricsPort)).memTotal);
    expect(hostFigures(await scrape(metrics)).nodename).toBe(hostname());

    // From the attacker's seat: an agent with a made-up token is refused and never listed.
    containers.push(`${project}-intruder`);
    await docker(
      'run',
      '-d',
      '--name',
      `${project}-intruder`,
      '--network',
      'host',
      '-e',
      `FALCONET_LISTEN=127.0.0.1:${intruderMetrics}`,
      '-e',
      'FALCONET_SERVER_TOKEN=fnt_not-a-token-the-server-made',
      tags.agent,
      'run',
      '--server',
      `http://127.0.0.1:${grpc}`,
    );
    const refusal = await eventually(async () => {
      const logs = await run('docker', ['-H', `unix://${dockerd.socket}`, 'logs', `${project}-intruder`]);
      return `${logs.stdout}${logs.stderr}`.split('\n').find((l) => /token/i.test(l) && /reject|unauthenticated|refused/i.test(l));
    }, 60_000);
    console.log(`intruder: ${refusal}`);
    await docker('rm', '-fv', `${project}-intruder`);
    const listed = await getJson<{ items: AgentItem[] }>(`${url}/api/agents`, apiToken);
    expect(listed.items.map((a) => a.id)).toEqual([first.agent.id]);

    const beforeDown = Date.now();
    await compose('down');
    expect((await docker('volume', 'ls', '-q')).split('\n')).toEqual(
      expect.arrayContaining([`${project}_server-data`, `${project}_agent-data`]),
    );
    await compose('up', '-d');
    // The same agent (its id from its own volume), known since before, and the old samples still there.
    const again = await onlineWithData(url, apiToken);
    expect(again.agent.id).toBe(first.agent.id);
    expect(again.agent.firstSeenMs).toBe(first.agent.firstSeenMs);
    const { series } = await getJson<{ series: { points: [number, number][] }[] }>(
      `${url}/api/metrics?agent=${first.agent.id}&name=node_memory_MemTotal_bytes&from=${first.agent.firstSeenMs - 60_000}&to=${Date.now()}&step=0`,
      apiToken,
    );
    const points = series.flatMap((s) => s.points);
    expect(points.filter(([ms]) => ms < beforeDown).length).toBeGreaterThan(0);

    await compose('down', '-v');
    composeUp = false;
    const left = (await docker('volume', 'ls', '-q')).split('\n').filter((v) => v.startsWith(`${project}_`));
    expect(left).toEqual([]);
    expect((await docker('ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`)).trim()).toBe('');
  }, 600_000);
});

describe("deploy/k8s's shell steps, run in the images (no cluster here)", () => {
  const k8s = (file: string) =>
    parseAllDocuments(readFileSync(join(ROOT, 'deploy/k8s', file), 'utf8')).map(
      (d) => d.toJS() as { kind: string; spec?: { template?: { spec: { initContainers?: K8sContainer[]; containers: K8sContainer[] } } } },
    );
  interface K8sContainer {
    command?: string[];
    args?: string[];
  }
  /** Runs a container's command and args in an image; exit code and output. */
  async function runStep(image: string, c: K8sContainer, extra: string[], replace?: [string, string]) {
    const [entrypoint, ...rest] = c.command ?? [];
    const args = [...rest, ...(c.args ?? [])].map((a) => (replace ? a.replace(replace[0], replace[1]) : a));
    try {
      const out = await run('docker', [
        '-H',
        `unix://${dockerd.socket}`,
        'run',
        '--rm',
        '--network',
        'none',
        ...extra,
        '--entrypoint',
        entrypoint as string,
        image,
        ...args,
      ]);
      return { code: 0, out: out.stdout + out.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  }

  it("the server's init container makes the first admin once, leaves it alone after, and fails on anything else", async () => {
    const init = k8s('falconet-server.yaml').find((d) => d.kind === 'Deployment')?.spec?.template?.spec.initContainers?.[0] as K8sContainer;
    const volume = 'falconet-e2e-k8s-data';
    volumes.push(volume);
    const env = ['-v', `${volume}:/var/lib/falconet`, '-e', 'ADMIN_NAME=admin'];
    const first = await runStep(tags.server, init, [...env, '-e', 'ADMIN_PASSWORD=k8s-e2e-password-1']);
    expect(first, first.out).toMatchObject({ code: 0 });
    expect(first.out).toContain('created admin "admin"');
    const again = await runStep(tags.server, init, [...env, '-e', 'ADMIN_PASSWORD=k8s-e2e-password-1']);
    expect(again, again.out).toMatchObject({ code: 0 });
    expect(again.out).toContain('admin admin exists already');
    // Any other failure stops the pod: no password in the Secret.
    const bad = await runStep(tags.server, init, [...env, '-e', 'ADMIN_PASSWORD=']);
    expect(bad.code, bad.out).not.toBe(0);
    expect(bad.out).toMatch(/falconet-server: /);
  }, 120_000);

  it("the DaemonSet's agent takes its node's token from the Secret's file, and runs without one", async () => {
    const agent = k8s('falconet-agent.yaml').find((d) => d.kind === 'DaemonSet')?.spec?.template?.spec.containers[0] as K8sContainer;
    const tokens = tempDir('falconet-k8s-tokens-');
    scratch.push(tokens);
    writeFileSync(join(tokens, 'node-1'), 'fnt_node-one-token');
    const mount = ['-v', `${tokens}:/etc/falconet/tokens:ro`];
    // check-config instead of run: it prints the configuration the agent would run with.
    const step = (node: string) =>
      runStep(tags.agent, agent, [...mount, '-e', `NODE_NAME=${node}`], ['exec falconet-agent run', 'exec falconet-agent check-config']);
    const withToken = await step('node-1');
    expect(withToken, withToken.out).toMatchObject({ code: 0 });
    const without = await step('node-2');
    expect(without, without.out).toMatchObject({ code: 0 });
    const tokenLine = (out: string) => out.split('\n').find((l) => /^\s+token:/.test(l));
    // check-config masks a token that is set, and shows an empty one as "".
    expect(tokenLine(withToken.out)).toMatch(/token: "\*+"$/);
    expect(tokenLine(without.out)).toMatch(/token: ""$/);
  }, 120_000);

  it("the agent runs on the DaemonSet's read-only root file system with a memory /tmp, native helpers loaded", async () => {
    // As the DaemonSet's securityContext: no capabilities but these two, no privilege escalation;
    // /tmp as an emptyDir is (exec allowed, unlike Docker's default tmpfs).
    const args = ['-H', `unix://${dockerd.socket}`, 'run', '--rm', '--network', 'none', '--read-only', '--tmpfs', '/tmp:rw,exec,size=16m'];
    const caps = ['--cap-drop', 'ALL', '--cap-add', 'SYS_PTRACE', '--cap-add', 'DAC_READ_SEARCH', '--security-opt', 'no-new-privileges'];
    const { stdout, stderr } = await run('docker', [...args, ...caps, tags.agent, 'once', '--wide']);
    expect(stdout).toMatch(/^node_memory_MemTotal_bytes /m);
    // timex comes from the native helpers, which the agent writes to /tmp before loading them.
    expect(stdout).toMatch(/^node_timex_offset_seconds /m);
    expect(stderr).not.toMatch(/native helpers/);
  }, 120_000);
});
