import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { renderExposition } from '@falconet/protocol/exposition';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { seriesOf, seriesValue } from '../../../testing/exposition.ts';
import { fixtureRoots } from '../../../testing/procfs-fixtures.ts';
import { CollectorSet } from '../src/collection.ts';
import { loadCollectorDefinitions } from '../src/collectors/registry.ts';
import { agentConfigSchema } from '../src/config.ts';
import { discoverContainerCgroups, matchContainerCgroup } from '../src/containers/discovery.ts';
import { DockerEngine, describeSocketError, dockerCgroupPath, dockerProblem } from '../src/containers/docker.ts';
import { chooseDockerSocket, DEFAULT_DOCKER_SOCKET } from '../src/containers/docker-socket.ts';
import { metadataFromAnnotations, OciBundles } from '../src/containers/oci.ts';
import { ContainerSummary } from '../src/containers/summary.ts';
import type { MetricFamily } from '../src/metrics.ts';
import { detectCgroupLayout } from '../src/procfs/cgroup.ts';

const v2 = fixtureRoots('cgroup-v2');
const v1 = fixtureRoots('cgroup-v1');
const WEB = '4b5e57f6eb2f42b9039b3d1e13929295f231749c510cbe341cd68036d9af97e2';
const PAUSED = 'a7a9dc5bcf71adb2edc202814060a5ab6fca515382e9f1133dcc47d52d9090a2';
const K8S = '17c132990e8e8523ccd403287b6ae761c1cd57f764df278bce7ed310bbddd7f1';
const PODMAN = '2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9';
const POD_SLICE = 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f6a1c2e_8b2d_4c1a_9e55_1a2b3c4d5e6f.slice';

/** A logger whose lines the test can read. */
function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

async function containerCollector(roots: typeof v2, dockerSocket: string, log = pino({ level: 'silent' })) {
  const defs = (await loadCollectorDefinitions('linux')).filter((d) => d.name === 'container');
  const config = agentConfigSchema.parse({ containers: { docker_socket: dockerSocket } });
  return new CollectorSet(defs, { roots, log, timeoutMs: 5000, config });
}

describe('container cgroup paths', () => {
  const id = WEB;
  it.each([
    [`/docker/${id}`, 'docker', undefined],
    [`/system.slice/docker-${id}.scope`, 'docker', undefined],
    [`/machine.slice/libpod-${id}.scope`, 'podman', undefined],
    [`/libpod_parent/libpod-${id}`, 'podman', undefined],
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope`, 'podman', undefined],
    [`/${POD_SLICE}/cri-containerd-${id}.scope`, 'containerd', '0f6a1c2e-8b2d-4c1a-9e55-1a2b3c4d5e6f'],
    [`/kubepods/burstable/pod0f6a1c2e-8b2d-4c1a-9e55-1a2b3c4d5e6f/${id}`, 'unknown', '0f6a1c2e-8b2d-4c1a-9e55-1a2b3c4d5e6f'],
    [
      `/kubepods.slice/kubepods-pod0f6a1c2e_8b2d_4c1a_9e55_1a2b3c4d5e6f.slice/crio-${id}.scope`,
      'crio',
      '0f6a1c2e-8b2d-4c1a-9e55-1a2b3c4d5e6f',
    ],
    [`/default/${id}`, 'containerd', undefined],
    [`/system.slice/nerdctl-${id}.scope`, 'containerd', undefined],
  ])('%s is a %s container', (path, runtime, podUid) => {
    const m = matchContainerCgroup(path);
    expect(m).toMatchObject({ id, path, runtime });
    expect(m?.podUid).toBe(podUid);
  });

  it.each([
    '/system.slice/docker.service',
    `/machine.slice/libpod-conmon-${id}.scope`,
    `/system.slice/crio-conmon-${id}.scope`,
    '/docker',
    `/docker/${id.slice(1)}`,
  ])('%s is not', (path) => {
    expect(matchContainerCgroup(path)).toBeUndefined();
  });

  it('walks a v2 tree to the four containers, not into them or conmon', async () => {
    const layout = await detectCgroupLayout(v2);
    if (!layout) throw new Error('no layout');
    const found = await discoverContainerCgroups(layout);
    expect(found.map((c) => [c.runtime, c.path])).toEqual([
      ['containerd', `/${POD_SLICE}/cri-containerd-${K8S}.scope`],
      ['podman', `/machine.slice/libpod-${PODMAN}.scope`],
      ['docker', `/system.slice/docker-${WEB}.scope`],
      ['docker', `/system.slice/docker-${PAUSED}.scope`],
    ]);
  });

  it('walks a v1 tree through the cpuacct hierarchy', async () => {
    const layout = await detectCgroupLayout(v1);
    if (!layout) throw new Error('no layout');
    expect((await discoverContainerCgroups(layout)).map((c) => c.path)).toEqual([`/docker/${WEB}`]);
  });

  it("Docker's cgroup path for a container whose cgroup is gone", () => {
    expect(dockerCgroupPath(WEB, 'cgroupfs', '')).toBe(`/docker/${WEB}`);
    expect(dockerCgroupPath(WEB, 'cgroupfs', '/mine/')).toBe(`/mine/${WEB}`);
    expect(dockerCgroupPath(WEB, 'systemd', '')).toBe(`/system.slice/docker-${WEB}.scope`);
    expect(dockerCgroupPath(WEB, 'systemd', 'kubepods-burstable.slice')).toBe(
      `/kubepods.slice/kubepods-burstable.slice/docker-${WEB}.scope`,
    );
  });
});

describe('CRI metadata from OCI bundles', () => {
  it('maps containerd CRI, CRI-O and nerdctl annotations', () => {
    expect(
      metadataFromAnnotations({
        'io.kubernetes.cri.sandbox-name': 'web-1',
        'io.kubernetes.cri.sandbox-namespace': 'shop',
        'io.kubernetes.cri.container-name': 'nginx',
        'io.kubernetes.cri.image-name': 'nginx:1.27',
      }),
    ).toEqual({ pod: 'web-1', namespace: 'shop', container: 'nginx', image: 'nginx:1.27' });
    expect(
      metadataFromAnnotations({
        'io.kubernetes.pod.name': 'db-0',
        'io.kubernetes.pod.namespace': 'data',
        'io.kubernetes.container.name': 'postgres',
        'io.kubernetes.cri-o.ImageName': 'postgres:17',
        'io.kubernetes.cri-o.ContainerName': 'k8s_postgres_db-0_data_1_0',
      }),
    ).toEqual({ pod: 'db-0', namespace: 'data', container: 'postgres', image: 'postgres:17', name: 'k8s_postgres_db-0_data_1_0' });
    expect(metadataFromAnnotations({ 'nerdctl/name': 'cache' })).toEqual({ name: 'cache' });
  });

  it("finds a containerd bundle under the host's root; a missing or half-written one is no metadata", async () => {
    const bundles = new OciBundles(v2.rootfs);
    expect(await bundles.lookup(K8S)).toMatchObject({ pod: 'web-7d9f8b6c5-x2x4k', namespace: 'shop', container: 'nginx' });
    expect(await bundles.lookup(WEB)).toBeUndefined();
    const root = mkdtempSync(join(tmpdir(), 'falconet-oci-'));
    const dir = join(root, 'run/containers/storage/overlay-containers', WEB, 'userdata');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    writeFileSync(join(dir, 'config.json'), '{"annotations": {');
    expect(await new OciBundles(root).lookup(WEB)).toBeUndefined();
  });
});

describe('the container collector on a v2 fixture tree, without Docker', () => {
  it('writes cAdvisor names with id, name, image, namespace, pod and container labels', async () => {
    const { families } = await (await containerCollector(v2, '')).collect();
    const web = { id: `/system.slice/docker-${WEB}.scope` };
    expect(seriesOf(families, 'container_cpu_usage_seconds_total', web)[0]?.labels).toEqual({
      container: '',
      id: `/system.slice/docker-${WEB}.scope`,
      image: '',
      name: '',
      namespace: '',
      pod: '',
      cpu: 'total',
    });
    expect(seriesValue(families, 'container_cpu_usage_seconds_total', web)).toBeCloseTo(48.213579);
    expect(seriesValue(families, 'container_cpu_user_seconds_total', web)).toBeCloseTo(40.112233);
    expect(seriesValue(families, 'container_cpu_cfs_throttled_periods_total', web)).toBe(1418);
    expect(seriesValue(families, 'container_cpu_cfs_throttled_seconds_total', web)).toBeCloseTo(70.211456);
    expect(seriesValue(families, 'container_memory_usage_bytes', web)).toBe(73998336);
    expect(seriesValue(families, 'container_memory_working_set_bytes', web)).toBe(61415424);
    expect(seriesValue(families, 'container_memory_rss', web)).toBe(52428800);
    expect(seriesValue(families, 'container_memory_cache', web)).toBe(18874368);
    expect(seriesValue(families, 'container_memory_failcnt', web)).toBe(7);
    expect(seriesValue(families, 'container_memory_swap', web)).toBe(0);
    expect(seriesValue(families, 'container_spec_memory_limit_bytes', web)).toBe(134217728);
    expect(seriesValue(families, 'container_spec_cpu_quota', web)).toBe(50000);
    expect(seriesValue(families, 'container_fs_reads_bytes_total', { ...web, device: '/dev/sda' })).toBe(1459200);
    expect(seriesValue(families, 'container_fs_writes_bytes_total', { ...web, device: '/dev/sda' })).toBe(314773504);
    expect(seriesValue(families, 'container_fs_writes_total', { ...web, device: '/dev/dm-0' })).toBe(1);
    expect(seriesValue(families, 'container_blkio_device_usage_total', { ...web, major: '8', minor: '0', operation: 'Write' })).toBe(
      314773504,
    );
    expect(seriesValue(families, 'container_threads', web)).toBe(3);
    expect(seriesValue(families, 'container_threads_max', web)).toBe(512);
    // Network from the main process's namespace, loopback left out.
    expect(seriesValue(families, 'container_network_receive_bytes_total', { ...web, interface: 'eth0' })).toBe(9876543);
    expect(seriesValue(families, 'container_network_transmit_bytes_total', { ...web, interface: 'eth0' })).toBe(1234567);
    expect(seriesOf(families, 'container_network_receive_bytes_total', { ...web, interface: 'lo' })).toHaveLength(0);
    expect(seriesValue(families, 'container_last_seen', web)).toBeGreaterThan(1.7e9);
    expect(seriesValue(families, 'machine_memory_bytes')).toBe(8039280 * 1024);
    // No Docker configured: no up/down gauge, states from the freezer.
    expect(families.find((f) => f.name === 'falconet_docker_up')).toBeUndefined();
    expect(families.find((f) => f.name === 'falconet_docker_info')).toBeUndefined();
    expect(seriesValue(families, 'falconet_container_state', { ...web, state: 'running' })).toBe(1);
    expect(seriesValue(families, 'falconet_container_state', { id: `/system.slice/docker-${PAUSED}.scope`, state: 'paused' })).toBe(1);
  });

  it('no limit is 0 as in cAdvisor, and a host-network container has no network series', async () => {
    const { families } = await (await containerCollector(v2, '')).collect();
    const paused = { id: `/system.slice/docker-${PAUSED}.scope` };
    expect(seriesValue(families, 'container_spec_memory_limit_bytes', paused)).toBe(0);
    expect(seriesOf(families, 'container_spec_cpu_quota', paused)).toHaveLength(0);
    expect(seriesOf(families, 'container_network_receive_bytes_total', paused)).toHaveLength(0);
  });

  it('Kubernetes labels from the CRI bundle; podman network from the process in its child cgroup', async () => {
    const { families } = await (await containerCollector(v2, '')).collect();
    const k8s = seriesOf(families, 'container_memory_working_set_bytes', { id: `/${POD_SLICE}/cri-containerd-${K8S}.scope` })[0];
    expect(k8s?.labels).toEqual({
      container: 'nginx',
      id: `/${POD_SLICE}/cri-containerd-${K8S}.scope`,
      image: 'docker.io/library/nginx:1.27',
      name: '',
      namespace: 'shop',
      pod: 'web-7d9f8b6c5-x2x4k',
    });
    expect(k8s?.value).toBe(157286400 - 20971520);
    expect(seriesValue(families, 'falconet_container_info', { pod: 'web-7d9f8b6c5-x2x4k' })).toBe(1);
    expect(seriesOf(families, 'falconet_container_info', { pod: 'web-7d9f8b6c5-x2x4k' })[0]?.labels.runtime).toBe('containerd');
    expect(
      seriesValue(families, 'container_network_transmit_bytes_total', { id: `/machine.slice/libpod-${PODMAN}.scope`, interface: 'tap0' }),
    ).toBe(200);
  });

  it('renders as valid exposition with one HELP and TYPE per family', async () => {
    const { families } = await (await containerCollector(v2, '')).collect();
    const text = renderExposition(families);
    expect(text).toContain('# TYPE container_cpu_usage_seconds_total counter');
    expect(text).toContain('# TYPE container_memory_working_set_bytes gauge');
    expect(text.match(/^# TYPE container_memory_usage_bytes /gm)).toHaveLength(1);
  });

  it('reads the v1 fixture the same way', async () => {
    const { families } = await (await containerCollector(v1, '')).collect();
    const web = { id: `/docker/${WEB}` };
    expect(seriesValue(families, 'container_cpu_usage_seconds_total', web)).toBeCloseTo(13.372899533);
    expect(seriesValue(families, 'container_memory_working_set_bytes', web)).toBe(43421696 - 41943040);
    expect(seriesValue(families, 'container_fs_writes_bytes_total', { ...web, device: '/dev/sda' })).toBe(314773504);
    expect(seriesValue(families, 'container_blkio_device_usage_total', { ...web, operation: 'Async' })).toBe(16232704);
    expect(seriesValue(families, 'container_network_receive_bytes_total', { ...web, interface: 'eth0' })).toBe(2048);
  });
});

describe('a missing or unusable Docker socket', () => {
  it('degrades to cgroup data with one clear log line, however many collections', async () => {
    const { log, lines } = captureLog();
    const missing = join(mkdtempSync(join(tmpdir(), 'falconet-nodocker-')), 'docker.sock');
    const set = await containerCollector(v2, missing, log);
    for (let i = 0; i < 3; i++) {
      const { families } = await set.collect();
      expect(seriesValue(families, 'falconet_docker_up')).toBe(0);
      // The dashboard says why from this, and which setting to change.
      expect(seriesOf(families, 'falconet_docker_info')).toEqual([
        expect.objectContaining({ labels: { socket: missing, problem: 'no_socket' }, value: 1 }),
      ]);
      expect(seriesValue(families, 'container_memory_usage_bytes', { id: `/system.slice/docker-${WEB}.scope` })).toBe(73998336);
      expect(seriesValue(families, 'node_scrape_collector_success', { collector: 'container' })).toBe(1);
    }
    const said = lines.filter((l) => /Docker/.test(String(l.msg)));
    expect(said).toHaveLength(1);
    // No socket at all is a host without Docker: a note, not a warning.
    expect(said[0]?.level).toBe(30);
    expect(said[0]?.msg).toBe(`no Docker socket at ${missing}: containers are reported from cgroups only, without names, images or states`);
  });

  it('names the cause of each connect error', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(describeSocketError('/s', err('EACCES'))).toMatch(/no permission to open the Docker socket \/s/);
    expect(describeSocketError('/s', err('ECONNREFUSED'))).toBe('nothing is listening on the Docker socket /s');
    expect(describeSocketError('/s', err('ENOTSOCK'))).toBe('/s is not a socket');
    expect(['ENOENT', 'EACCES', 'EPERM', 'ECONNREFUSED', 'ENOTSOCK', 'EIO'].map((c) => dockerProblem(err(c)))).toEqual([
      'no_socket',
      'permission',
      'permission',
      'refused',
      'not_socket',
      'error',
    ]);
  });

  it('a path that is a plain file is refused, not a crash', async () => {
    const { log, lines } = captureLog();
    const file = join(mkdtempSync(join(tmpdir(), 'falconet-nodocker-')), 'docker.sock');
    writeFileSync(file, 'not a socket');
    const engine = new DockerEngine({ socketPath: file, log });
    expect(await engine.snapshot()).toBeUndefined();
    expect(await engine.snapshot()).toBeUndefined();
    expect(engine.available).toBe(false);
    expect(['not_socket', 'refused']).toContain(engine.problem);
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    engine.close();
  });
});

describe('which Docker socket: containers.docker_socket, then DOCKER_HOST, then the default', () => {
  it('a setting made anywhere wins, even empty (Docker left out)', () => {
    const env = { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' };
    expect(chooseDockerSocket('/srv/docker.sock', env)).toEqual({ path: '/srv/docker.sock', from: 'containers.docker_socket' });
    expect(chooseDockerSocket('', env)).toEqual({ path: '', from: 'containers.docker_socket' });
  });

  it("unset, DOCKER_HOST's unix socket; without DOCKER_HOST (or with it empty, as the CLI reads it), the default", () => {
    expect(chooseDockerSocket(undefined, { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toEqual({
      path: '/run/user/1000/docker.sock',
      from: 'DOCKER_HOST',
    });
    expect(chooseDockerSocket(undefined, {})).toEqual({ path: DEFAULT_DOCKER_SOCKET, from: 'default' });
    expect(chooseDockerSocket(undefined, { DOCKER_HOST: '' })).toEqual({ path: DEFAULT_DOCKER_SOCKET, from: 'default' });
    expect(DEFAULT_DOCKER_SOCKET).toBe('/var/run/docker.sock');
  });

  it.each([
    ['tcp://10.0.0.5:2375', "uses tcp://, and the agent reads only a local engine's unix socket"],
    ['ssh://deploy@build-7', 'uses ssh://'],
    ['npipe:////./pipe/docker_engine', 'uses npipe://'],
    ['/var/run/docker.sock', 'is not a URL (expected unix:///path/to/docker.sock)'],
    ['unix://', 'names no socket path'],
    ['unix://docker.sock', 'is not an absolute socket path'],
  ])('DOCKER_HOST=%s is not usable: the default socket, and a line naming the variable, its value and what to do', (host, why) => {
    const choice = chooseDockerSocket(undefined, { DOCKER_HOST: host });
    expect(choice.path).toBe(DEFAULT_DOCKER_SOCKET);
    expect(choice.from).toBe('default');
    expect(choice.problem).toContain(`DOCKER_HOST=${host} ${why}`);
    expect(choice.problem).toMatch(
      /: using \/var\/run\/docker\.sock instead; set containers\.docker_socket to choose the socket, or to "" to leave Docker out$/,
    );
    // An explicit setting makes the variable irrelevant: nothing to say about it.
    expect(chooseDockerSocket('/srv/docker.sock', { DOCKER_HOST: host }).problem).toBeUndefined();
  });

  it('the collector says so once, at warning level, however many collections', async () => {
    const { log, lines } = captureLog();
    vi.stubEnv('DOCKER_HOST', 'tcp://10.0.0.5:2375');
    try {
      const defs = (await loadCollectorDefinitions('linux')).filter((d) => d.name === 'container');
      const set = new CollectorSet(defs, { roots: v2, log, timeoutMs: 5000, config: agentConfigSchema.parse({}) });
      for (let i = 0; i < 3; i++) {
        const { families } = await set.collect();
        expect(seriesValue(families, 'container_memory_usage_bytes', { id: `/system.slice/docker-${WEB}.scope` })).toBe(73998336);
      }
    } finally {
      vi.unstubAllEnvs();
    }
    const said = lines.filter((l) => String(l.msg).includes('DOCKER_HOST'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: 40, DOCKER_HOST: 'tcp://10.0.0.5:2375', socket: DEFAULT_DOCKER_SOCKET });
    expect(said[0]?.msg).toMatch(/^DOCKER_HOST=tcp:\/\/10\.0\.0\.5:2375 uses tcp:\/\//);
  });
});

describe('per-container summaries for reports', () => {
  const labels = { container: '', id: '/docker/a', image: 'img', name: 'a', namespace: '', pod: '' };
  const collection = (t: number, cpu: number, rx: number, extra: MetricFamily[] = []) => ({
    timestampMs: t,
    families: [
      { name: 'machine_memory_bytes', help: '', type: 'gauge' as const, metrics: [{ labels: {}, value: 1000 }] },
      { name: 'container_last_seen', help: '', type: 'gauge' as const, metrics: [{ labels, value: t / 1000 }] },
      {
        name: 'container_cpu_usage_seconds_total',
        help: '',
        type: 'counter' as const,
        metrics: [{ labels: { ...labels, cpu: 'total' }, value: cpu }],
      },
      { name: 'container_memory_working_set_bytes', help: '', type: 'gauge' as const, metrics: [{ labels, value: 50 }] },
      { name: 'container_spec_memory_limit_bytes', help: '', type: 'gauge' as const, metrics: [{ labels, value: 200 }] },
      { name: 'container_spec_cpu_quota', help: '', type: 'gauge' as const, metrics: [{ labels, value: 50000 }] },
      { name: 'container_spec_cpu_period', help: '', type: 'gauge' as const, metrics: [{ labels, value: 100000 }] },
      {
        name: 'container_network_receive_bytes_total',
        help: '',
        type: 'counter' as const,
        metrics: [
          { labels: { ...labels, interface: 'eth0' }, value: rx },
          { labels: { ...labels, interface: 'eth1' }, value: rx },
        ],
      },
      ...extra,
    ],
  });

  it('CPU in percent of one core, memory against the limit, rates summed over interfaces', () => {
    const s = new ContainerSummary();
    const first = s.derive(collection(10_000, 100, 0));
    expect(first.find((x) => x.name === 'falconet_container_memory_used_percent')?.value).toBe(25);
    expect(first.find((x) => x.name === 'falconet_container_cpu_limit_cores')?.value).toBe(0.5);
    expect(first.find((x) => x.name === 'falconet_container_cpu_usage_percent')).toBeUndefined();
    expect(first.find((x) => x.name === 'falconet_containers')).toMatchObject({ labels: { state: 'running' }, value: 1 });
    const second = s.derive(collection(12_000, 101.5, 1000));
    const cpu = second.find((x) => x.name === 'falconet_container_cpu_usage_percent');
    expect(cpu?.value).toBeCloseTo(75);
    expect(cpu?.labels).toEqual(labels);
    expect(second.find((x) => x.name === 'falconet_container_network_receive_bytes_per_second')?.value).toBe(1000);
  });

  it("takes the time between collections from the host's CPU counters when it has them, as docker stats does", () => {
    const s = new ContainerSummary();
    const hostCpu = (sum: number) => ({
      name: 'node_cpu_seconds_total',
      help: '',
      type: 'counter' as const,
      metrics: [
        { labels: { cpu: '0', mode: 'idle' }, value: sum / 2 },
        { labels: { cpu: '1', mode: 'idle' }, value: sum / 2 },
      ],
    });
    s.derive(collection(10_000, 100, 0, [hostCpu(1000)]));
    // The collection stamps say 2 s apart; the CPUs say 5 CPU-seconds over 2 CPUs, 2.5 s: 1 s of container CPU is 40 %.
    const cpu = s.derive(collection(12_000, 101, 0, [hostCpu(1005)])).find((x) => x.name === 'falconet_container_cpu_usage_percent');
    expect(cpu?.value).toBeCloseTo(40);
  });

  it('no limit means the host memory; a restarted container has no rate that round', () => {
    const s = new ContainerSummary();
    const noLimit = (t: number, cpu: number) => {
      const c = collection(t, cpu, 0);
      c.families = c.families.filter((f) => f.name !== 'container_spec_memory_limit_bytes');
      return c;
    };
    expect(s.derive(noLimit(0, 50)).find((x) => x.name === 'falconet_container_memory_used_percent')?.value).toBe(5);
    expect(s.derive(noLimit(1000, 1)).find((x) => x.name === 'falconet_container_cpu_usage_percent')).toBeUndefined();
  });

  it('counts containers by Docker state', () => {
    const state = (id: string, st: string) => ({ labels: { id, state: st }, value: 1 });
    const c = collection(0, 0, 0, [
      {
        name: 'falconet_container_state',
        help: '',
        type: 'gauge',
        metrics: [state('/docker/a', 'running'), state('/docker/b', 'exited'), state('/docker/c', 'exited')],
      },
    ]);
    const counts = new ContainerSummary().derive(c).filter((x) => x.name === 'falconet_containers');
    expect(counts.map((x) => [x.labels.state, x.value])).toEqual([
      ['running', 1],
      ['exited', 2],
    ]);
  });
});
