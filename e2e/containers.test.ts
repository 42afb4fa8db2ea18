import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scrapedSeries } from '../testing/exposition.ts';
import {
  AGENT_CLI,
  type AgentProc,
  eventually,
  freePort,
  getJson,
  type ServerProc,
  startAgent,
  startProcess,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { type Dockerd, dockerStats, startDockerd, TEST_IMAGE } from './containers-dockerd.ts';

interface Series {
  labels: Record<string, string>;
  points: [number, number | null][];
}

const INTERVAL_MS = 1000;

describe('containers on a real Docker engine (cgroup v1, cgroupfs driver)', () => {
  let dockerd: Dockerd;
  let server: ServerProc;
  let agent: AgentProc;
  let agentId: string;
  const ids: Record<string, string> = {};

  const metrics = async () => (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
  const history = async (name: string, labels: Record<string, string>, fromMs: number) => {
    const q = new URLSearchParams({ agent: agentId, name, labels: JSON.stringify(labels), from: String(fromMs), step: '0' });
    return (await getJson<{ series: Series[] }>(`${server.url}/api/metrics?${q}`)).series;
  };
  /** Reports of one per-container series around a moment, with the interval each covers. */
  const reports = async (name: string, container: string, atMs: number) => {
    const [s] = await history(name, { name: container }, atMs - 10_000);
    const pts = (s?.points ?? []).filter((p): p is [number, number] => p[1] !== null);
    return pts.map(([t, v], i) => ({ from: i > 0 ? (pts[i - 1]?.[0] as number) : t - INTERVAL_MS, to: t, value: v }));
  };
  /**
   * The agent's figure for the second `docker stats` measured: its last two samples a second
   * apart, the later just before the CLI returned. Reports cover the agent's own intervals, so
   * the ones that overlap that second are weighted by how much they overlap it.
   */
  const over = async (name: string, container: string, fromMs: number, toMs: number) => {
    let sum = 0;
    let weight = 0;
    for (const r of await reports(name, container, toMs)) {
      const overlap = Math.min(r.to, toMs) - Math.max(r.from, fromMs);
      if (overlap <= 0) continue;
      sum += r.value * overlap;
      weight += overlap;
    }
    return weight > 0 ? sum / weight : undefined;
  };
  /** The report collected nearest to a moment, for gauges. */
  const nearest = async (name: string, container: string, atMs: number) => {
    const rs = await reports(name, container, atMs);
    rs.sort((a, b) => Math.abs(a.to - atMs) - Math.abs(b.to - atMs));
    return rs[0];
  };

  beforeAll(async () => {
    const t0 = Date.now();
    dockerd = await startDockerd();
    const d = dockerd.docker;
    const runC = async (name: string, ...args: string[]) => {
      // pid 1 in these containers ignores SIGTERM: a stop (or the daemon's shutdown) kills after 1 s, not 10.
      ids[name] = (await d('run', '-d', '--name', name, '--network', 'none', '--stop-timeout', '1', ...args)).trim();
    };
    // The burner is held to a quarter of a core by CFS quota: any one-second window sees the same
    // figure, even on a busy machine where an unlimited burner's share would swing from second to second.
    await runC('burn', '--cpus', '0.25', TEST_IMAGE, 'sh', '-c', 'yes >/dev/null');
    // 40 MiB in tmpfs is shmem: charged to the container and not reclaimable, so it is in the working set.
    await runC(
      'hog',
      '-m',
      '64m',
      '--tmpfs',
      '/data',
      '--health-cmd',
      'true',
      '--health-interval',
      '2s',
      TEST_IMAGE,
      'sh',
      '-c',
      'dd if=/dev/zero of=/data/fill bs=1M count=40 2>/dev/null; exec sleep 1000000',
    );
    await runC('idle', TEST_IMAGE, 'sleep', '1000000');
    // Exits with 3 when the test says so (docker exec quit touch /tmp/go).
    await runC('quit', TEST_IMAGE, 'sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3');
    // A veth pair inside the container's own namespace gives it traffic without any bridge.
    await runC(
      'net',
      '--cap-add',
      'NET_ADMIN',
      // No IPv6 router solicitations trickling out for seconds: the counters settle once ping is done.
      '--sysctl',
      'net.ipv6.conf.all.disable_ipv6=1',
      '--sysctl',
      'net.ipv6.conf.default.disable_ipv6=1',
      TEST_IMAGE,
      'sh',
      '-c',
      'ip link add v0 type veth peer name v1 && ip link set veth0 name p0; ip addr add 10.9.0.1/24 dev v0; ip link set v0 up; ip link set p0 up; ping -c 3 -W 1 10.9.0.2 >/dev/null; exec sleep 1000000',
    );
    const configDir = tempDir('falconet-containers-');
    const configFile = join(configDir, 'falconet-agent.yaml');
    writeFileSync(configFile, `containers:\n  docker_socket: ${dockerd.socket}\n`);
    server = await startServer();
    agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, interval: `${INTERVAL_MS}ms`, args: ['--config', configFile] });
    agentId = await eventually(async () => (await getJson<{ items: { id: string }[] }>(`${server.url}/api/agents`)).items[0]?.id);
    process.stderr.write(`[containers] dockerd, 5 containers, server and agent up in ${Date.now() - t0} ms\n`);
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await dockerd?.stop();
  });

  it('serves cAdvisor names with id, name, image, namespace, pod and container labels', async () => {
    const text = await metrics();
    const burn = { id: `/docker/${ids.burn}`, name: 'burn', image: TEST_IMAGE };
    const cpu = scrapedSeries(text, 'container_cpu_usage_seconds_total', burn);
    expect(cpu).toHaveLength(1);
    expect(cpu[0]?.labels).toEqual({ ...burn, container: '', namespace: '', pod: '', cpu: 'total' });
    for (const name of [
      'container_cpu_user_seconds_total',
      'container_cpu_system_seconds_total',
      'container_cpu_cfs_throttled_periods_total',
      'container_memory_usage_bytes',
      'container_memory_working_set_bytes',
      'container_memory_rss',
      'container_memory_cache',
      'container_memory_swap',
      'container_memory_failcnt',
      'container_spec_memory_limit_bytes',
      'container_threads',
      'container_last_seen',
    ]) {
      expect(scrapedSeries(text, name, burn), name).toHaveLength(1);
    }
    // Held to 0.25 CPU: throttled, with its quota in the spec.
    expect(scrapedSeries(text, 'container_cpu_cfs_throttled_periods_total', burn)[0]?.value).toBeGreaterThan(0);
    expect(scrapedSeries(text, 'container_spec_cpu_quota', burn)[0]?.value).toBe(25000);
    expect(scrapedSeries(text, 'container_spec_memory_limit_bytes', { name: 'hog' })[0]?.value).toBe(64 * 1024 * 1024);
    expect(scrapedSeries(text, 'container_spec_memory_limit_bytes', { name: 'idle' })[0]?.value).toBe(0);
    expect(scrapedSeries(text, 'falconet_container_state', { name: 'idle', state: 'running' })[0]?.value).toBe(1);
    expect(scrapedSeries(text, 'falconet_container_info', { name: 'hog' })[0]?.labels.runtime).toBe('docker');
    // Its healthcheck passes within a couple of seconds.
    const healthy = await eventually(async () => {
      const t = await metrics();
      return scrapedSeries(t, 'falconet_container_health', { name: 'hog', health: 'healthy' })[0]?.value === 1 ? t : undefined;
    });
    expect(scrapedSeries(healthy, 'falconet_container_health', { name: 'hog', health: 'starting' })[0]?.value).toBe(0);
    expect(scrapedSeries(healthy, 'falconet_container_health', { name: 'idle' })).toEqual([]);
    expect(text).toMatch(/^falconet_docker_up 1$/m);
    // Prometheus' own parser accepts it (exit 3 is lint only; node_exporter's names fail lint too).
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text });
    if (check.error === undefined) expect([0, 3]).toContain(check.status);
  });

  it('agrees with `docker stats --no-stream` taken in the same second (CPU within 5 points, memory within 5 %)', async () => {
    // Two reports per container first, so there is a CPU rate to compare.
    await eventually(
      async () =>
        ((await history('falconet_container_cpu_usage_percent', { name: 'burn' }, Date.now() - 60_000))[0]?.points.length ?? 0) >= 2,
      30_000,
    );
    // A burner held to 25 % that gets less than 23 % in a second is starved by the rest of the
    // machine: its share then swings from one second to the next, and two windows that overlap only
    // mostly need not agree. Such a measurement is taken again (at most three times in all).
    const STARVED = 23;
    for (let attempt = 1; ; attempt++) {
      const ref = await dockerStats(dockerd);
      // Wait for the agent's report that covers the same second.
      await eventually(async () => {
        const p = (await history('falconet_container_cpu_usage_percent', { name: 'burn' }, ref.atMs))[0]?.points ?? [];
        return p.some(([t]) => t >= ref.atMs);
      }, 15_000);
      const rows: string[] = [];
      const misses: string[] = [];
      let starved = false;
      for (const name of ['burn', 'hog', 'idle', 'net']) {
        const docker = ref.rows.get(name);
        if (!docker) {
          misses.push(`docker stats has no ${name}`);
          continue;
        }
        // The CLI's own overhead after the daemon's last sample: a few tens of ms.
        const windowEnd = ref.atMs - 50;
        const cpu = (await over('falconet_container_cpu_usage_percent', name, windowEnd - 1000, windowEnd)) ?? Number.NaN;
        const mem = (await nearest('falconet_container_memory_usage_bytes', name, windowEnd))?.value ?? Number.NaN;
        const memPct = (await nearest('falconet_container_memory_used_percent', name, windowEnd))?.value ?? Number.NaN;
        const limit = (await nearest('falconet_container_memory_limit_bytes', name, windowEnd))?.value ?? Number.NaN;
        if (name === 'burn' && (docker.cpuPercent < STARVED || cpu < STARVED)) starved = true;
        rows.push(
          `${name.padEnd(5)} cpu docker ${docker.cpuPercent.toFixed(2)}% agent ${cpu.toFixed(2)}% | mem docker ${docker.memUsageBytes} agent ${mem} | ` +
            `mem% docker ${docker.memPercent}% agent ${memPct.toFixed(2)}% | limit docker ${docker.memLimitBytes} agent ${limit}`,
        );
        if (!(Math.abs(cpu - docker.cpuPercent) <= 5)) misses.push(`${name} CPU %`);
        // docker prints 3 significant digits (e.g. 308KiB), which is within the 5 % too. Under cgroup v1
        // the usage counter is itself approximate: each CPU charges pages in batches (64 at most) and
        // the counter moves by whole batches, so a container of a few hundred KiB can read 29 pages
        // apart a moment later (seen: idle at 655,360 beside 536,576). That much is let through.
        const fuzz = availableParallelism() * 64 * 4096;
        if (!(Math.abs(mem - docker.memUsageBytes) <= Math.max(0.05 * docker.memUsageBytes, fuzz))) misses.push(`${name} memory`);
        if (!(Math.abs(limit - docker.memLimitBytes) / docker.memLimitBytes <= 0.05)) misses.push(`${name} memory limit`);
        if (!(Math.abs(memPct - docker.memPercent) <= Math.max(0.05 * docker.memPercent, 0.01))) misses.push(`${name} memory %`);
      }
      process.stderr.write(
        `[containers] agent vs docker stats, attempt ${attempt}${starved ? ' (burner starved)' : ''}:\n${rows.join('\n')}\n`,
      );
      if (misses.length === 0) {
        expect(ref.rows.get('hog')?.memUsageBytes).toBeGreaterThan(40e6);
        return;
      }
      if (!starved || attempt === 3) expect(misses, rows.join('\n')).toEqual([]);
    }
  });

  it('shows a container that exits, and a pause and unpause, in the first report after each', async () => {
    // Reports showed it running first.
    await eventually(async () =>
      (await history('falconet_container_state', { name: 'quit', state: 'running' }, Date.now() - 60_000))[0]?.points.some(
        ([, v]) => v === 1,
      ),
    );
    await dockerd.docker('exec', 'quit', 'touch', '/tmp/go');
    // The moment Docker's own container list says exited: the list lags the exit (FinishedAt) by
    // the daemon's cleanup, and the agent can know no sooner than the API it asks.
    let listedMs = 0;
    await eventually(
      async () => {
        const asked = Date.now();
        const state = (await dockerd.docker('ps', '-a', '--filter', `id=${ids.quit}`, '--format', '{{.State}}')).trim();
        if (state === 'exited') listedMs = asked;
        return state === 'exited';
      },
      15_000,
      20,
    );
    const finishedMs = Date.parse((await dockerd.docker('inspect', '-f', '{{.State.FinishedAt}}', 'quit')).trim());
    const exited = await eventually(async () => {
      const [s] = await history('falconet_container_state', { name: 'quit', state: 'exited' }, finishedMs - 30_000);
      return s?.points.some(([t]) => t > listedMs) ? s : undefined;
    }, 15_000);
    // Every report collected after Docker listed it exited says so: the change shows in the next report.
    const afterExit = exited.points.filter(([t]) => t > listedMs);
    expect(
      afterExit.every(([, v]) => v === 1),
      JSON.stringify({ listedMs, points: exited.points }),
    ).toBe(true);
    const running = (await history('falconet_container_state', { name: 'quit', state: 'running' }, finishedMs - 30_000))[0];
    expect(running?.points.some(([t, v]) => t < finishedMs && v === 1)).toBe(true);
    expect(running?.points.filter(([t]) => t > listedMs).every(([, v]) => v === 0)).toBe(true);
    const first = exited.points.find(([t, v]) => v === 1 && t > finishedMs - INTERVAL_MS);
    process.stderr.write(
      `[containers] quit exited at ${finishedMs}, listed by Docker by ${listedMs - finishedMs} ms later, first report showing it ${(first?.[0] ?? 0) - finishedMs} ms after the exit\n`,
    );

    const text = await metrics();
    expect(scrapedSeries(text, 'falconet_container_exit_code', { name: 'quit' })[0]?.value).toBe(3);
    expect(scrapedSeries(text, 'falconet_container_events_total', { name: 'quit', event: 'die' })[0]?.value).toBe(1);
    expect(scrapedSeries(text, 'container_last_seen', { name: 'quit' })).toEqual([]);
    await agent.waitFor((l) => l.includes('"container event"') && l.includes('"event":"die"') && l.includes('"exitCode":3'), 5_000);

    await dockerd.docker('pause', 'idle');
    const pausedMs = Date.now();
    const paused = await eventually(async () => {
      const [s] = await history('falconet_container_state', { name: 'idle', state: 'paused' }, pausedMs - 5_000);
      return s?.points.some(([t, v]) => t > pausedMs && v === 1) ? s : undefined;
    }, 15_000);
    expect(
      paused.points.filter(([t]) => t > pausedMs).every(([, v]) => v === 1),
      JSON.stringify({ pausedMs, points: paused.points }),
    ).toBe(true);
    await dockerd.docker('unpause', 'idle');
    const unpausedMs = Date.now();
    await eventually(async () => {
      const [s] = await history('falconet_container_state', { name: 'idle', state: 'running' }, unpausedMs);
      return s?.points.some(([t, v]) => t > unpausedMs && v === 1);
    }, 15_000);
    const summary = await history('falconet_containers', { state: 'exited' }, finishedMs);
    expect(summary[0]?.points.at(-1)?.[1]).toBe(1);
  });

  it("reads network counters from the container's own namespace", async () => {
    const inside = await dockerd.docker('exec', 'net', 'cat', '/proc/net/dev');
    const row = inside.split('\n').find((l) => l.trim().startsWith('v0:'));
    const txBytes = Number(row?.split(':')[1]?.trim().split(/\s+/)[8]);
    expect(txBytes).toBeGreaterThan(0);
    const text = await metrics();
    expect(scrapedSeries(text, 'container_network_transmit_bytes_total', { name: 'net', interface: 'v0' })[0]?.value).toBe(txBytes);
    expect(scrapedSeries(text, 'container_network_receive_bytes_total', { name: 'net', interface: 'p0' })[0]?.value).toBe(txBytes);
    expect(scrapedSeries(text, 'container_network_receive_bytes_total', { name: 'net', interface: 'lo' })).toEqual([]);
  });

  it('an unreadable Docker socket degrades to cgroup-only data with one clear log line, never a crash', async () => {
    // The agent runs as root without CAP_DAC_OVERRIDE, so the socket's mode 000 applies to it.
    const mode = statSync(dockerd.socket).mode & 0o777;
    chmodSync(dockerd.socket, 0o000);
    const port = await freePort();
    const args = [
      '--bounding-set',
      '-dac_override,-dac_read_search',
      process.execPath,
      '--conditions=source',
      '--disable-warning=ExperimentalWarning',
    ];
    args.push(AGENT_CLI, 'run', '--listen', `127.0.0.1:${port}`, '--data-dir', tempDir('falconet-agent-'), '--interval', '1s');
    const child = spawn('setpriv', args, {
      env: { ...process.env, FALCONET_CONTAINERS_DOCKER_SOCKET: dockerd.socket },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: string[] = [];
    child.stdout.on('data', (b) => out.push(...String(b).split('\n').filter(Boolean)));
    child.stderr.on('data', (b) => out.push(...String(b).split('\n').filter(Boolean)));
    try {
      const text = await eventually(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/metrics`);
        return r.ok ? r.text() : undefined;
      });
      for (let i = 0; i < 3; i++) await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(text).toMatch(/^falconet_docker_up 0$/m);
      // The containers are still there, named by their cgroup only.
      const cpu = scrapedSeries(text, 'container_cpu_usage_seconds_total', { id: `/docker/${ids.burn}` });
      expect(cpu[0]?.labels.name).toBe('');
      expect(cpu[0]?.value).toBeGreaterThan(0);
      expect(scrapedSeries(text, 'container_memory_working_set_bytes', { id: `/docker/${ids.hog}` })[0]?.value).toBeGreaterThan(40e6);
      const said = out.filter((l) => l.includes('Docker'));
      expect(said, out.join('\n')).toHaveLength(1);
      expect(said[0]).toContain(`no permission to open the Docker socket ${dockerd.socket}`);
      expect(said[0]).toContain('containers are reported from cgroups only');
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      chmodSync(dockerd.socket, mode);
    }
  });

  it('a missing socket: the agent starts, says so once, and reports the cgroups', async () => {
    const port = await freePort();
    const proc = startProcess(
      AGENT_CLI,
      ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', tempDir('falconet-agent-'), '--interval', '1s'],
      {
        FALCONET_CONTAINERS_DOCKER_SOCKET: join(dockerd.dir, 'nothing-here.sock'),
        FALCONET_LOG_LEVEL: 'info',
      },
    );
    try {
      await proc.waitFor(/"exporter listening"/);
      // Exporter-only, it collects on each scrape.
      for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/metrics`)).ok).toBe(true);
      const line = await proc.waitFor(/no Docker socket at/);
      expect(line).toContain('containers are reported from cgroups only');
    } finally {
      await proc.stop();
    }
    expect(proc.lines.filter((l) => l.includes('Docker'))).toHaveLength(1);
  });

  it('given only DOCKER_HOST=unix://SOCKET, as the Docker CLI is, the agent asks that engine and names the containers', async () => {
    const env = { DOCKER_HOST: `unix://${dockerd.socket}`, FALCONET_CONTAINERS_DOCKER_SOCKET: undefined };
    const port = await freePort();
    const proc = startProcess(
      AGENT_CLI,
      ['run', '--listen', `127.0.0.1:${port}`, '--data-dir', tempDir('falconet-agent-'), '--interval', '1s'],
      env,
    );
    try {
      await proc.waitFor(/"exporter listening"/);
      const text = await eventually(async () => {
        const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /^falconet_docker_up 1$/m.test(t) ? t : undefined;
      });
      expect(scrapedSeries(text, 'container_cpu_usage_seconds_total', { id: `/docker/${ids.burn}` })[0]?.labels).toMatchObject({
        name: 'burn',
        image: TEST_IMAGE,
      });
      // The same containers the CLI lists when it reads the same variable (the host's other
      // containers, of engines other than this one, are there too, named by their cgroup only).
      const cli = spawnSync('docker', ['ps', '--format', '{{.Names}}'], { env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(cli.status, cli.stderr).toBe(0);
      const running = scrapedSeries(text, 'falconet_container_state', { state: 'running' })
        .filter((s) => s.value === 1 && s.labels.name)
        .map((s) => s.labels.name);
      expect(running.sort()).toEqual(cli.stdout.split('\n').filter(Boolean).sort());
    } finally {
      await proc.stop();
    }
    expect(proc.lines.filter((l) => l.includes('DOCKER_HOST') || l.includes('Docker'))).toEqual([]);
  });

  it('survives the engine going away and coming back: one warning, then metadata again', async () => {
    const before = agent.lines.length;
    const t = Date.now();
    await dockerd.restart();
    process.stderr.write(`[containers] dockerd restarted in ${Date.now() - t} ms\n`);
    await agent.waitFor((l) => l.includes('Docker API available again'), 30_000);
    const said = agent.lines.slice(before).filter((l) => l.includes('Docker'));
    // Down once (whatever the cause the daemon gave while stopping), back once.
    expect(said.filter((l) => l.includes('containers are reported from cgroups only'))).toHaveLength(1);
    expect(said.filter((l) => l.includes('available again'))).toHaveLength(1);
    expect(agent.child.exitCode).toBeNull();
    // The daemon stopped its containers on the way down; the agent sees them exited.
    const text = await eventually(async () => {
      const t = await metrics();
      return scrapedSeries(t, 'falconet_container_state', { name: 'burn', state: 'exited' })[0]?.value === 1 ? t : undefined;
    });
    expect(text).toMatch(/^falconet_docker_up 1$/m);
  });
});
