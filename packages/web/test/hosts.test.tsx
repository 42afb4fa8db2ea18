import type { LatestSample } from '@falconet/protocol/api';
import { act, screen, within } from '@testing-library/react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ContainersTab } from '../src/host/ContainersTab.tsx';
import { HostFigures } from '../src/host/HostFigures.tsx';
import { dfUsedPercent, Mounts, mountRows } from '../src/host/Mounts.tsx';
import { DICTS } from '../src/i18n.tsx';
import { LiveConnection } from '../src/live.ts';
import { identityText, SameNameTag } from '../src/overview/identity.tsx';
import { Overview } from '../src/overview/Overview.tsx';
import { AgentStore } from '../src/overview/store.ts';
import { agent } from './agents.ts';
import { type StubReply, stubFetch } from './fetch-stub.ts';
import { renderPage } from './render.tsx';

const GiB = 1024 ** 3;
const SUMMARY = {
  'GET /api/fleet/summary': {
    body: {
      agents: 2,
      online: 2,
      offline: 0,
      averages: { cpu: 42.25, memory: 61.5, disk: 73.68 },
      totals: { networkReceiveBytesPerSecond: 512 * GiB, networkTransmitBytesPerSecond: 1000.5 * 1024 ** 2 },
    },
  },
};

beforeEach(() => {
  stubFetch(SUMMARY);
});

const t = (k: keyof (typeof DICTS)['en'], ...args: (string | number)[]) =>
  DICTS.en[k].replace(/\{(\d)\}/g, (_, i) => String(args[Number(i)] ?? ''));

describe('hosts that share a name', () => {
  it('get their short id and source next to the name in the table; a name held once gets nothing', () => {
    const store = new AgentStore();
    store.load([
      agent('3f2a9c1e-7d4b-4e5f-8a6b-1c2d3e4f5a6b', { hostname: 'web-1' }),
      agent('push:web-1', { hostname: 'web-1', status: 'offline' }),
      agent('b1', { hostname: 'db-1' }),
    ]);
    renderPage(<Overview store={store} onOpen={() => undefined} />);
    const tagOf = (id: string) =>
      within(document.querySelector(`[data-agent-id="${id}"]`) as HTMLElement).queryByTestId('same-name')?.textContent ?? null;
    expect(tagOf('3f2a9c1e-7d4b-4e5f-8a6b-1c2d3e4f5a6b')).toBe('3f2a9c1e · agent');
    expect(tagOf('push:web-1')).toBe('push:web-1 · pushed');
    expect(tagOf('b1')).toBeNull();
    expect(screen.getAllByTestId('same-name')[0]?.title).toBe('Another host has this name. Agent id 3f2a9c1e-7d4b-4e5f-8a6b-1c2d3e4f5a6b');
  });

  it('gain the tag when another host takes the name, and lose it when that one is renamed', () => {
    const store = new AgentStore();
    const a = agent('aaaaaaaa-1', { hostname: 'web' });
    store.load([a, agent('bbbbbbbb-2', { hostname: 'other' })]);
    renderPage(<SameNameTag agent={a} store={store} t={t} />, { lang: 'en' });
    expect(screen.queryByTestId('same-name')).toBeNull();
    act(() => store.upsert(agent('bbbbbbbb-2', { hostname: 'web', lastSeenMs: 1_700_000_700_000 })));
    expect(screen.getByTestId('same-name').textContent).toBe('aaaaaaaa · agent');
    act(() => store.upsert(agent('bbbbbbbb-2', { hostname: 'web-b', lastSeenMs: 1_700_000_800_000 })));
    expect(screen.queryByTestId('same-name')).toBeNull();
  });

  it('say it in Chinese too', () => {
    const zh = (k: keyof (typeof DICTS)['zh']) => DICTS.zh[k];
    expect(identityText(zh, agent('push:web-1'))).toBe('push:web-1 · 推送');
    expect(identityText(zh, agent('0123456789'))).toBe('01234567 · 代理');
  });
});

describe('the overview figures', () => {
  it('carry their units, and the disk figure says how it is computed', async () => {
    const store = new AgentStore();
    store.load([
      agent('a1', {
        hostname: 'web-1',
        summary: {
          falconet_cpu_usage_percent: 12.34,
          falconet_memory_used_percent: 50,
          falconet_disk_used_percent: 73.68,
          falconet_uptime_seconds: 90_061,
          falconet_network_receive_bytes_per_second: 2048,
          falconet_network_transmit_bytes_per_second: 3 * 1024 ** 2,
        },
      }),
    ]);
    store.spark.set('a1', [
      { t: 1, v: 10 },
      { t: 2, v: 30.5 },
      { t: 3, v: 12.34 },
    ]);
    renderPage(<Overview store={store} onOpen={() => undefined} />);
    const fleet = screen.getByTestId('fleet-summary');
    await vi.waitFor(() => expect(within(fleet).getByTestId('fleet-agents').textContent).toBe('2'));
    expect([...fleet.querySelectorAll('dd')].map((d) => d.textContent)).toEqual([
      '2',
      '2',
      '0',
      '42.3%',
      '61.5%',
      '73.7%',
      '512.0 GiB/s / 1000.5 MiB/s',
    ]);
    expect(screen.getByTestId('fleet-disk').title).toBe('/ mount, used / (used + available), as df computes it');
    const row = screen.getByTestId('agent-row');
    const cell = (k: string) => row.querySelector(`[data-k="${k}"]`) as HTMLElement;
    expect(cell('cpu').textContent).toBe('12.3%');
    expect(cell('mem').textContent).toBe('50.0%');
    expect(cell('disk').textContent).toBe('73.7%');
    expect(cell('disk').title).toBe('/ mount, used / (used + available), as df computes it');
    expect(cell('up').textContent).toBe('1d 1h');
    expect(cell('net').textContent).toBe('2.0 KiB/s / 3.0 MiB/s');
    expect((row.querySelector('.c-spark') as HTMLElement).title).toBe('CPU over the last 15 min: now 12.3%, lowest 10.0%, highest 30.5%');
  });
});

/** /api/metrics answered per metric name, as the server would for one mount. */
function mountsServer(values: Record<string, number>): StubReply {
  return (call) => {
    const name = call.query.get('name') as string;
    const v = values[name];
    const labels = { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/' };
    return { body: { stepMs: 0, series: v === undefined ? [] : [{ labels, points: [[1_700_000_000_000, v]] }] } };
  };
}

describe('the mounts table', () => {
  it('computes disk used as df does: used = size - free, over used + available', () => {
    expect(dfUsedPercent(100, 30, 25)).toBeCloseTo((100 * 70) / 95);
    expect(dfUsedPercent(100, 5, 0)).toBe(100);
    expect(dfUsedPercent(0, 0, 0)).toBe(0);
    const rows = mountRows(
      [{ name: 'node_filesystem_size_bytes', labels: { mountpoint: '/', device: 'a' }, points: [[1, 100]] }],
      [{ name: 'node_filesystem_free_bytes', labels: { mountpoint: '/', device: 'a' }, points: [[1, 30]] }],
      [{ name: 'node_filesystem_avail_bytes', labels: { mountpoint: '/', device: 'a' }, points: [[1, 25]] }],
    );
    expect(rows).toEqual([{ mount: '/', fstype: '', total: 100, used: 70, percent: (100 * 70) / 95 }]);
  });

  it('shows the same figure the overview shows for the same mount, with the definition on hover', async () => {
    // The agent's summary of these numbers: (100 - 30) / ((100 - 30) + 25) = 73.68 %.
    stubFetch({
      ...SUMMARY,
      'GET /api/metrics': mountsServer({
        node_filesystem_size_bytes: 100 * GiB,
        node_filesystem_free_bytes: 30 * GiB,
        node_filesystem_avail_bytes: 25 * GiB,
      }),
    });
    const store = new AgentStore();
    store.load([agent('a1', { summary: { falconet_disk_used_percent: (100 * 70) / 95 } })]);
    renderPage(
      <>
        <Overview store={store} onOpen={() => undefined} />
        <Mounts agentId="a1" />
      </>,
    );
    const used = await screen.findByTestId('mount-used');
    const overview = (screen.getByTestId('agent-row').querySelector('[data-k="disk"]') as HTMLElement).firstChild?.textContent;
    expect(overview).toBe('73.7%');
    expect(used.textContent).toBe(`70.0 GiB (${overview})`);
    expect((used.closest('td') as HTMLElement).title).toBe('used / (used + available), as df computes it; used = size − free');
  });
});

/** The Containers tab's first read: the latest container series of an agent without Docker. */
function containersServer(samples: LatestSample[]): StubReply {
  return () => ({ body: { samples } });
}

const at = 1_700_000_600_000;
const s = (name: string, labels: Record<string, string>, value: number): LatestSample => ({ name, labels, value, timestampMs: at });

async function showContainers(samples: LatestSample[], lang: 'en' | 'zh' = 'en') {
  stubFetch({ 'GET /api/metrics/latest': containersServer(samples) });
  renderPage(
    <ContainersTab
      agent={agent('a1', { lastSeenMs: at })}
      live={new LiveConnection('ws://falconet.test/api/live')}
      range={{ spanMs: 900_000 }}
      theme="light"
    />,
    { lang },
  );
  return await screen.findByTestId('no-docker');
}

describe('the Containers tab on a host without Docker', () => {
  it('says there is no socket where the agent looks, and which setting to change', async () => {
    const panel = await showContainers([
      s('machine_memory_bytes', {}, 8 * GiB),
      s('falconet_docker_up', {}, 0),
      s('falconet_docker_info', { socket: '/var/run/docker.sock', problem: 'no_socket' }, 1),
    ]);
    expect(within(panel).getByTestId('docker-down').textContent).toBe(
      'No Docker socket at /var/run/docker.sock: the agent reports containers from cgroups only, without names, images or states.',
    );
    expect(within(panel).getByTestId('docker-fix').textContent).toBe(
      'If Docker listens elsewhere, set containers.docker_socket in the agent configuration to its socket, e.g. /run/user/1000/docker.sock.' +
        'On a host without Docker, set containers.docker_socket to "" to stop looking.',
    );
    expect(within(panel).getByTestId('ctr-none').textContent).toBe('No container was found in the cgroups either.');
    expect(screen.queryByTestId('ctr-table')).toBeNull();
  });

  it('says the agent may not open the socket, and what to do, in Chinese', async () => {
    const panel = await showContainers(
      [s('falconet_docker_up', {}, 0), s('falconet_docker_info', { socket: '/run/docker.sock', problem: 'permission' }, 1)],
      'zh',
    );
    expect(within(panel).getByTestId('docker-down').textContent).toBe(
      '代理无权打开 Docker 套接字 /run/docker.sock：仅从 cgroup 报告容器，没有名称、镜像和状态。',
    );
    expect(within(panel).getByTestId('docker-fix').textContent).toBe(
      '请以 root 运行代理或将其用户加入 docker 组，或把 containers.docker_socket 设为代理有权打开的套接字。',
    );
  });

  it('says Docker was left out on purpose when the setting is empty', async () => {
    const panel = await showContainers([s('machine_memory_bytes', {}, 8 * GiB)]);
    expect(within(panel).getByTestId('docker-off').textContent).toBe(
      'Docker is left out (containers.docker_socket is empty): containers come from cgroups only.',
    );
  });

  it('keeps the general line for an agent that does not say why', async () => {
    const panel = await showContainers([s('falconet_docker_up', {}, 0)]);
    expect(within(panel).getByTestId('docker-down').textContent).toBe('Docker API unavailable: showing cgroup data only');
    expect(within(panel).getByTestId('docker-fix').textContent).toContain('containers.docker_socket');
  });
});

describe("the host page's figures line", () => {
  it('follows every report: the CPU a first report could not give appears with the second', async () => {
    vi.useFakeTimers({ toFake: ['requestAnimationFrame', 'cancelAnimationFrame'] });
    const store = new AgentStore();
    const first = agent('a1', { summary: { falconet_memory_used_percent: 40 } });
    store.load([first]);
    renderPage(<HostFigures initial={first} store={store} />, { lang: 'en' });
    expect(screen.getByTestId('host-figures').textContent).toMatch(/CPU –/);
    act(() => {
      store.upsert(
        agent('a1', {
          lastSeenMs: first.lastSeenMs + 10_000,
          summary: { falconet_cpu_usage_percent: 12.5, falconet_memory_used_percent: 41 },
        }),
      );
      vi.advanceTimersToNextFrame();
    });
    expect(screen.getByTestId('host-figures').textContent).toMatch(/CPU 12\.5\s?%.*41(\.0)?\s?%/);
    vi.useRealTimers();
  });
});
