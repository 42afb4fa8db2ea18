/**
 * Monitors end to end: a real server and three real agents, each a location of the same monitors.
 * Each agent runs in a mount namespace of its own whose /etc/hosts sends the monitors' target name
 * to its own loopback address (127.0.0.1, .2, .3), so the test can fail one location's path and not
 * the others': a TCP port it closes, an HTTP server that starts answering 500. With
 * alert_failing_locations 2, one failing location is `partial` and notifies nobody; two are `down`
 * and notify once; recovery resolves.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorDefinitions } from '../packages/agent/src/collectors/registry.ts';
import {
  AGENT_CLI,
  eventually,
  freePort,
  getJson,
  type Proc,
  type ServerProc,
  startCommand,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { type HttpReceiver, startHttpReceiver } from '../testing/receivers.ts';

const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
const TARGET = 'falconet-monitor-target';
const EVAL_MS = 1000;

let server: ServerProc;
let hook: HttpReceiver;
const agents: Proc[] = [];
const tcp = new Map<string, Server>();
const failingHttp = new Set<string>();
const httpServers: HttpServer[] = [];
let tcpPort = 0;
let httpPort = 0;

async function listenTcp(address: string): Promise<void> {
  const s = createServer((c) => c.end());
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(tcpPort, address, resolve);
  });
  tcp.set(address, s);
}
async function closeTcp(address: string): Promise<void> {
  const s = tcp.get(address);
  tcp.delete(address);
  await new Promise((r) => s?.close(r));
}

async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(server.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface MonitorView {
  status: string;
  locationCount: number;
  failingLocations: number;
  locations: { agentId: string; up: boolean | null }[];
}
const monitor = async (id: string) => (await api<MonitorView>('GET', `/api/monitors/${id}`)).body;
/** The monitor once it has this status and count of failing locations, every location having a result. */
const statusIs = (id: string, status: string, failing: number) => async () => {
  const m = await monitor(id);
  return m.status === status && m.failingLocations === failing && m.locations.every((l) => l.up !== null) ? m : undefined;
};

type Payload = { status: string; alerts: { status: string; labels: Record<string, string> }[] };
const notices = (monitorId: string) =>
  hook.requests.map((r) => r.json as Payload).flatMap((p) => p.alerts.filter((a) => a.labels.monitor === monitorId).map((a) => a.status));

beforeAll(async () => {
  const probe = spawnSync('unshare', ['-m', 'true']);
  if (probe.status !== 0) {
    throw new Error(`this test needs mount namespaces (unshare -m, as root): ${probe.stderr.toString().trim() || probe.error}`);
  }
  hook = await startHttpReceiver();
  tcpPort = await freePort();
  for (const a of ADDRESSES) await listenTcp(a);
  httpPort = await freePort();
  for (const address of ADDRESSES) {
    const h = createHttpServer((_req, res) => {
      res.statusCode = failingHttp.has(address) ? 500 : 200;
      res.end(failingHttp.has(address) ? 'failing' : 'ok');
    });
    await new Promise<void>((r) => h.listen(httpPort, address, r));
    httpServers.push(h);
  }
  const dir = tempDir('falconet-monitors-e2e-');
  const config = join(dir, 'falconet-server.yaml');
  writeFileSync(
    config,
    `alerts:\n  evaluation_interval: ${EVAL_MS}ms\n  startup_grace: 2s\n  group_wait: 0s\n  group_interval: 1s\n  warm_from_store: false\n`,
  );
  server = await startServer({ args: ['--config', config] });
  const collectors = Object.fromEntries((await loadCollectorDefinitions()).map((d) => [d.name, false]));
  for (const [i, address] of ADDRESSES.entries()) {
    const hosts = join(dir, `hosts-${i}`);
    writeFileSync(hosts, `127.0.0.1 localhost\n${address} ${TARGET}\n`);
    const agentDir = tempDir('falconet-monitors-agent-');
    const agentConfig = join(agentDir, 'agent.yml');
    writeFileSync(agentConfig, JSON.stringify({ collectors }));
    const args = [
      ...['--conditions=source', '--disable-warning=ExperimentalWarning', AGENT_CLI, 'run', '--config', agentConfig],
      ...['--data-dir', agentDir, '--listen', '', '--interval', '1s', '--server', `127.0.0.1:${server.grpcPort}`],
    ];
    // The agent's own /etc/hosts, seen by it alone: exec keeps the agent the process the test stops.
    const p = startCommand(
      'unshare',
      ['-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec "$0" "$@"`, process.execPath, ...args],
      { FALCONET_REPORT_DYNAMIC: 'false' },
      `agent-${i}`,
    );
    agents.push(p);
    await p.waitFor(/"connected to server"/);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.stop()));
  await server?.stop();
  for (const s of tcp.values()) s.close();
  for (const h of httpServers) h.close();
  await hook?.close();
});

describe('monitors end to end', () => {
  it('alerts only when 2 of 3 locations fail, once, and resolves on recovery (TCP port closed, HTTP 500)', async () => {
    const list = await getJson<{ items: { id: string }[] }>(`${server.url}/api/agents`);
    const ids = list.items.map((a) => a.id);
    expect(ids).toHaveLength(3);
    const channel = await api<{ id: string }>('POST', '/api/alerts/channels', {
      name: 'monitors',
      type: 'webhook',
      url: `${hook.url}/monitors`,
    });
    expect(channel.status).toBe(201);
    const common = { agents: { ids }, alert_failing_locations: 2, channels: [channel.body.id] };
    const tcpMon = await api<{ id: string }>('POST', '/api/monitors', {
      name: 'tcp service',
      probe: { kind: 'tcp', target: `${TARGET}:${tcpPort}`, interval: '10s', timeout: '2s' },
      ...common,
    });
    const httpMon = await api<{ id: string }>('POST', '/api/monitors', {
      name: 'web service',
      probe: { kind: 'http', target: `http://${TARGET}:${httpPort}/health`, interval: '10s', timeout: '2s' },
      ...common,
    });
    expect([tcpMon.status, httpMon.status]).toEqual([201, 201]);
    const t = tcpMon.body.id;
    const h = httpMon.body.id;
    const upT = await eventually(statusIs(t, 'up', 0), 40_000, 500);
    await eventually(statusIs(h, 'up', 0), 40_000, 500);
    expect(upT.locationCount).toBe(3);
    expect(upT.locations.every((l) => l.up === true)).toBe(true);

    // One location fails: partial, and nobody is told.
    await closeTcp('127.0.0.3');
    failingHttp.add('127.0.0.3');
    await eventually(statusIs(t, 'partial', 1), 40_000, 500);
    await eventually(statusIs(h, 'partial', 1), 40_000, 500);
    await new Promise((r) => setTimeout(r, 4 * EVAL_MS));
    expect(notices(t)).toEqual([]);
    expect(notices(h)).toEqual([]);

    // Two fail: down, one notification each.
    await closeTcp('127.0.0.2');
    failingHttp.add('127.0.0.2');
    await eventually(statusIs(t, 'down', 2), 40_000, 500);
    await eventually(statusIs(h, 'down', 2), 40_000, 500);
    await eventually(() => notices(t).length === 1 && notices(h).length === 1, 20_000, 200);
    // Still down a while later (a third location failing too changes nothing): no second message.
    await closeTcp('127.0.0.1');
    await eventually(statusIs(t, 'down', 3), 40_000, 500);
    await new Promise((r) => setTimeout(r, 4 * EVAL_MS));
    expect(notices(t)).toEqual(['firing']);
    expect(notices(h)).toEqual(['firing']);
    const firing = await getJson<{ items: { labels: Record<string, string>; state: string }[] }>(`${server.url}/api/alerts`);
    expect(
      firing.items
        .filter((a) => a.state === 'firing')
        .map((a) => a.labels.monitor)
        .sort(),
    ).toEqual([t, h].sort());

    // Recovery: every location back; resolved, once.
    for (const a of ADDRESSES) await listenTcp(a);
    failingHttp.clear();
    await eventually(statusIs(t, 'up', 0), 40_000, 500);
    await eventually(statusIs(h, 'up', 0), 40_000, 500);
    await eventually(() => notices(t).length === 2 && notices(h).length === 2, 20_000, 200);
    expect(notices(t)).toEqual(['firing', 'resolved']);
    expect(notices(h)).toEqual(['firing', 'resolved']);
    const history = await getJson<{ items: { to: string; labels: Record<string, string> }[] }>(
      `${server.url}/api/alerts/history?limit=100`,
    );
    expect(history.items.filter((e) => e.labels.monitor === t).map((e) => e.to)).toEqual(['resolved', 'firing']);
  }, 300_000);
});
