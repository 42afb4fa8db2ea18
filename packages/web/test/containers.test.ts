import type { LatestSample } from '@falconet/protocol/api';
import { describe, expect, it } from 'vitest';
import {
  type ContainerRow,
  ContainerSnapshot,
  counterStep,
  deriveTable,
  eventMoments,
  lastCounts,
  liveEventMoments,
  orderRows,
  shortId,
  stateTone,
} from '../src/host/containers.ts';

const DOCKER_ID = '/docker/3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';
const SYSTEMD_ID = '/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope';
const POD_ID =
  '/kubepods/besteffort/pod8a1e5f2c-1b2d-4c3e-9f4a-5b6c7d8e9f01/feedfacecafebeef00112233445566778899aabbccddeeff0011223344556677';

const STATES = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];

/** One report as the agent sends it: the collector's run a few ms after the collection it belongs to. */
function report(
  collectionMs: number,
  containers: {
    id: string;
    name?: string;
    state: string;
    health?: string;
    restarts?: number;
    exitCode?: number;
    cpu?: number;
    memory?: [number, number];
    k8s?: [string, string, string];
  }[],
  opts: { dockerUp?: 0 | 1; machineMemory?: number; runDelayMs?: number } = {},
): LatestSample[] {
  const runMs = collectionMs + (opts.runDelayMs ?? 3);
  const out: LatestSample[] = [];
  const s = (name: string, labels: Record<string, string>, value: number, ts: number) => out.push({ name, labels, value, timestampMs: ts });
  s('machine_memory_bytes', {}, opts.machineMemory ?? 8 * 2 ** 30, runMs);
  if (opts.dockerUp !== undefined) s('falconet_docker_up', {}, opts.dockerUp, runMs);
  const counts = new Map<string, number>();
  for (const c of containers) {
    const [namespace, pod, container] = c.k8s ?? ['', '', ''];
    const l = { id: c.id, name: c.name ?? '', image: 'busybox:1.36', namespace, pod, container };
    s('falconet_container_info', { ...l, runtime: 'docker' }, 1, runMs);
    for (const st of STATES) s('falconet_container_state', { ...l, state: st }, st === c.state ? 1 : 0, runMs);
    if (c.health)
      for (const h of ['starting', 'healthy', 'unhealthy'])
        s('falconet_container_health', { ...l, health: h }, h === c.health ? 1 : 0, runMs);
    s('falconet_container_restarts_total', l, c.restarts ?? 0, runMs);
    if (c.exitCode !== undefined) s('falconet_container_exit_code', l, c.exitCode, runMs);
    if (c.cpu !== undefined) s('falconet_container_cpu_usage_percent', l, c.cpu, collectionMs);
    if (c.memory) {
      s('falconet_container_memory_usage_bytes', l, c.memory[0], collectionMs);
      s('falconet_container_memory_limit_bytes', l, c.memory[1], collectionMs);
      s('falconet_container_memory_used_percent', l, (100 * c.memory[0]) / c.memory[1], collectionMs);
    }
    counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
  }
  for (const [state, n] of counts) s('falconet_containers', { state }, n, collectionMs);
  return out;
}

const row = (r: Partial<ContainerRow> & { id: string }): ContainerRow => ({
  name: r.id,
  named: true,
  image: '',
  runtime: 'docker',
  memoryLimited: false,
  namespace: '',
  pod: '',
  container: '',
  ...r,
});

describe('shortId', () => {
  it('takes the first 12 hex digits of the container id, as docker ps, whatever the runtime wraps it in', () => {
    expect(shortId(DOCKER_ID)).toBe('3f2a9c1b7d4e');
    expect(shortId(SYSTEMD_ID)).toBe('0123456789ab');
    expect(shortId(POD_ID)).toBe('feedfacecafe');
    expect(shortId('/machine.slice/libpod-conmon')).toBe('libpod-conmon');
  });
});

describe('stateTone', () => {
  it('colours running green, paused and restarting amber, exited and dead grey, unhealthy red', () => {
    expect(stateTone('running', undefined)).toBe('ok');
    expect(stateTone('running', 'healthy')).toBe('ok');
    expect(stateTone('paused', undefined)).toBe('warn');
    expect(stateTone('restarting', undefined)).toBe('warn');
    expect(stateTone('exited', undefined)).toBe('muted');
    expect(stateTone('dead', undefined)).toBe('muted');
    expect(stateTone('running', 'unhealthy')).toBe('bad');
    expect(stateTone(undefined, undefined)).toBe('muted');
  });
});

describe('deriveTable', () => {
  it('makes one row per container from the latest run and report', () => {
    const t = deriveTable(
      report(
        10_000,
        [
          { id: DOCKER_ID, name: 'web', state: 'running', health: 'unhealthy', cpu: 12.5, memory: [64 << 20, 256 << 20], restarts: 2 },
          { id: SYSTEMD_ID, state: 'exited', exitCode: 3 },
          { id: POD_ID, state: 'running', cpu: 1, memory: [10 << 20, 8 * 2 ** 30], k8s: ['shop', 'cart-7d9f', 'cart'] },
        ],
        { dockerUp: 1 },
      ),
      1000,
    );
    expect(t.reported).toBe(true);
    expect(t.dockerUp).toBe(true);
    expect(t.counts).toEqual([
      { state: 'running', count: 2 },
      { state: 'exited', count: 1 },
    ]);
    const web = t.rows.find((r) => r.id === DOCKER_ID);
    expect(web).toMatchObject({
      name: 'web',
      named: true,
      image: 'busybox:1.36',
      runtime: 'docker',
      state: 'running',
      health: 'unhealthy',
      restarts: 2,
      cpuPercent: 12.5,
      memoryBytes: 64 << 20,
      memoryLimitBytes: 256 << 20,
      memoryPercent: 25,
      memoryLimited: true,
    });
    const exited = t.rows.find((r) => r.id === SYSTEMD_ID);
    expect(exited).toMatchObject({ name: '0123456789ab', named: false, state: 'exited', exitCode: 3 });
    expect(exited?.cpuPercent).toBeUndefined();
    const pod = t.rows.find((r) => r.id === POD_ID);
    // The host's memory as the limit means no limit of its own.
    expect(pod).toMatchObject({ namespace: 'shop', pod: 'cart-7d9f', container: 'cart', memoryLimited: false });
  });

  it('shows what the latest report says, not what older ones did', () => {
    const snap = new ContainerSnapshot();
    snap.merge(
      report(10_000, [
        { id: DOCKER_ID, name: 'web', state: 'running', cpu: 50 },
        { id: SYSTEMD_ID, name: 'gone', state: 'running', cpu: 5 },
      ]),
    );
    // web exits (no CPU any more), gone is removed.
    snap.merge(report(11_000, [{ id: DOCKER_ID, name: 'web', state: 'exited', exitCode: 137 }]));
    const t = deriveTable(snap.samples(), 1000);
    expect(t.rows.map((r) => [r.name, r.state, r.cpuPercent, r.exitCode])).toEqual([['web', 'exited', undefined, 137]]);
    expect(t.counts).toEqual([{ state: 'exited', count: 1 }]);
    // Then no container at all: the collector still runs, and the counts go too.
    snap.merge(report(12_000, []));
    const empty = deriveTable(snap.samples(), 1000);
    expect([empty.reported, empty.rows, empty.counts]).toEqual([true, [], []]);
  });

  it('keeps the newer sample when the first load answers after a live report', () => {
    const snap = new ContainerSnapshot();
    expect(snap.merge(report(11_000, [{ id: DOCKER_ID, name: 'web', state: 'paused', cpu: 0 }]))).toBe(true);
    expect(snap.merge(report(10_000, [{ id: DOCKER_ID, name: 'web', state: 'paused', cpu: 80, restarts: 1 }]))).toBe(false);
    // An older report's series the newer one lacks are kept, and not shown.
    snap.merge(report(10_000, [{ id: DOCKER_ID, name: 'web', state: 'running', cpu: 80 }]));
    expect(deriveTable(snap.samples(), 1000).rows[0]).toMatchObject({ state: 'paused', cpuPercent: 0, restarts: 0 });
    expect(deriveTable(snap.samples(), 1000).counts).toEqual([{ state: 'paused', count: 1 }]);
    expect(snap.merge([{ name: 'node_load1', labels: {}, value: 1, timestampMs: 20_000 }])).toBe(false);
  });

  it('takes summaries from the report the run belongs to, however late the run started', () => {
    const t = deriveTable(report(10_000, [{ id: DOCKER_ID, name: 'web', state: 'running', cpu: 7 }], { runDelayMs: 600 }), 1000);
    expect(t.rows[0]?.cpuPercent).toBe(7);
  });

  it('notes Docker down, and says when the agent sends no container series at all', () => {
    const t = deriveTable(report(10_000, [{ id: DOCKER_ID, state: 'running', cpu: 3 }], { dockerUp: 0 }), 1000);
    expect(t.dockerUp).toBe(false);
    expect(t.rows[0]?.name).toBe('3f2a9c1b7d4e');
    expect(deriveTable([], 1000)).toEqual({ reported: false, rows: [], counts: [] });
    expect(deriveTable(report(10_000, []), 1000)).toMatchObject({ reported: true, rows: [], dockerUp: undefined });
  });

  it('drops series long gone from the snapshot', () => {
    const snap = new ContainerSnapshot();
    snap.merge(report(0, [{ id: DOCKER_ID, name: 'old', state: 'running', cpu: 1 }]));
    const before = snap.size;
    snap.merge(report(16 * 60_000, []));
    expect(snap.size).toBeLessThan(before);
    expect([...snap.samples()].every((s) => s.timestampMs >= 60_000)).toBe(true);
  });
});

describe('orderRows', () => {
  const rows = [
    row({ id: 'a', name: 'alpha', state: 'exited', cpuPercent: undefined, memoryBytes: undefined }),
    row({ id: 'b', name: 'beta', state: 'running', cpuPercent: 5, memoryBytes: 300 }),
    row({ id: 'c', name: 'gamma', state: 'paused', cpuPercent: 0, memoryBytes: 900 }),
    row({ id: 'd', name: 'delta', state: 'running', cpuPercent: 80, memoryBytes: 100 }),
    row({ id: 'e', name: 'epsilon', state: 'running', cpuPercent: undefined, memoryBytes: 50 }),
    row({ id: 'f', name: 'zeta', state: 'dead' }),
  ];
  const names = (r: ContainerRow[]) => r.map((x) => x.name);

  it('puts running first, then paused and the like, exited and dead last', () => {
    expect(names(orderRows(rows, { key: 'name', desc: false }))).toEqual(['beta', 'delta', 'epsilon', 'gamma', 'alpha', 'zeta']);
    expect(names(orderRows(rows, { key: 'name', desc: true }))).toEqual(['epsilon', 'delta', 'beta', 'gamma', 'zeta', 'alpha']);
  });

  it('sorts by CPU and by memory within that, a missing value last', () => {
    expect(names(orderRows(rows, { key: 'cpu', desc: true }))).toEqual(['delta', 'beta', 'epsilon', 'gamma', 'alpha', 'zeta']);
    expect(names(orderRows(rows, { key: 'cpu', desc: false }))).toEqual(['beta', 'delta', 'epsilon', 'gamma', 'alpha', 'zeta']);
    expect(names(orderRows(rows, { key: 'memory', desc: true }))).toEqual(['beta', 'delta', 'epsilon', 'gamma', 'alpha', 'zeta']);
  });

  it('filters exited and dead ones in or out', () => {
    expect(names(orderRows(rows, { key: 'name', desc: false }, 'exited'))).toEqual(['alpha', 'zeta']);
    expect(names(orderRows(rows, { key: 'name', desc: false }, 'active'))).toEqual(['beta', 'delta', 'epsilon', 'gamma']);
  });
});

describe('event moments', () => {
  const ev = (event: string, points: [number, number | null][]) => ({ labels: { id: DOCKER_ID, event }, points });

  it('marks where a counter stepped up, by how much', () => {
    const m = eventMoments(
      [
        ev('start', [
          [0, 1],
          [1000, 1],
          [2000, 2],
          [3000, 2],
          [4000, 4],
        ]),
        ev('die', [
          [0, 1],
          [1000, 1],
          [2000, null],
          [3000, 2],
        ]),
        // Not marked.
        ev('kill', [
          [0, 1],
          [1000, 5],
        ]),
      ],
      0,
      1000,
    );
    expect(m).toEqual([
      { timestampMs: 2000, event: 'start', count: 1 },
      { timestampMs: 3000, event: 'die', count: 1 },
      { timestampMs: 4000, event: 'start', count: 2 },
    ]);
  });

  it('counts a series that appears within the range from 0, and one cut by its start not at all', () => {
    const m = eventMoments(
      [
        ev('oom', [
          [60_000, 1],
          [61_000, 1],
        ]),
        ev('start', [
          [1_000, 3],
          [2_000, 3],
        ]),
      ],
      0,
      1000,
    );
    expect(m).toEqual([{ timestampMs: 60_000, event: 'oom', count: 1 }]);
  });

  it('takes a counter reset (the agent restarted) as the events since', () => {
    expect(counterStep(5, 1)).toBe(1);
    expect(counterStep(5, 0)).toBe(0);
    expect(counterStep(undefined, 2)).toBe(2);
    const m = eventMoments(
      [
        ev('restart', [
          [0, 5],
          [1000, 5],
          [9000, 1],
        ]),
      ],
      0,
      1000,
    );
    expect(m).toEqual([{ timestampMs: 9000, event: 'restart', count: 1 }]);
  });

  it('finds new moments in live reports against the counts known', () => {
    const known = lastCounts([
      ev('start', [
        [0, 1],
        [1000, 2],
      ]),
    ]);
    expect([...known]).toEqual([['start', 2]]);
    const sample = (event: string, value: number, id = DOCKER_ID): LatestSample => ({
      name: 'falconet_container_events_total',
      labels: { id, event },
      value,
      timestampMs: 5000,
    });
    expect(liveEventMoments([sample('start', 2), sample('die', 1), sample('start', 9, '/docker/other')], DOCKER_ID, known)).toEqual([
      { timestampMs: 5000, event: 'die', count: 1 },
    ]);
    expect(liveEventMoments([sample('die', 1), sample('start', 3)], DOCKER_ID, known)).toEqual([
      { timestampMs: 5000, event: 'start', count: 1 },
    ]);
  });
});
