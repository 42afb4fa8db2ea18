/**
 * A server with something on every page of the dashboard, for tests that look at all of them
 * (screenshots, phone widths): a real agent that runs tasks, a few simulated hosts with realistic
 * series, optionally one simulated host with an hour of history, a firing alert rule, a task that
 * ran and one that was refused, and an admin signed in with an API token made.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { stringify } from 'yaml';
import { backfill, storedPoints } from './backfill.ts';
import { SimulatedContainerHost } from './containers.ts';
import { type AgentProc, createUser, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from './processes.ts';
import { realisticHostSeries } from './series.ts';
import { type SignedIn, signIn } from './sign-in.ts';
import { AgentSimulator } from './simulator.ts';

export const ADMIN = { name: 'ada', password: 'ada-password-1' };
/** The rule that fires on every host within a few seconds of the scene starting. */
export const BUSY_RULE = 'CPU above 1 %';
/** The simulated host with an hour of history, when asked for. */
export const HISTORY_AGENT = 'history-0';

export interface SceneOptions {
  /** Simulated hosts besides the real agent (default 6). */
  simulated?: number;
  /** The real agent's report interval (default `5s`). */
  interval?: string;
  /** Backfill an hour of samples for HISTORY_AGENT, one report every 10 s (default false). */
  history?: boolean;
}

export interface DashboardScene {
  server: ServerProc;
  agent: AgentProc;
  /** The real agent's id. */
  realId: string;
  sims: AgentSimulator[];
  admin: SignedIn;
  /** The task that ran on the real agent, and the one it refused. */
  tasks: { ran: string; refused: string };
  /** Signs a browser context in as the admin (the session cookie). */
  signInContext(context: BrowserContext): Promise<void>;
  stop(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, read field by field
type Json = any;

async function send(method: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<Json> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * Starts the scene. Agents connect while the server has no user yet (loopback agents need no
 * token then), the rule and tasks are made, and only then is the admin created: every page
 * after that is seen signed in, as a user sees it.
 */
export async function startDashboardScene(opts: SceneOptions = {}): Promise<DashboardScene> {
  const dir = tempDir('falconet-scene-');
  // The agent runs tasks as nobody when it runs as root: its config must be readable by nobody.
  chmodSync(dir, 0o755);
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    stringify({
      labels: { role: 'web', zone: 'z1' },
      tasks: { enabled: true, allow: [{ command: '/bin/uname', args: ['-[a-z]+'] }], timeout: '20s' },
    }),
  );
  const server = await startServer();
  const grpc = `127.0.0.1:${server.grpcPort}`;
  const agent = await startAgent({ server: grpc, interval: opts.interval ?? '5s', args: ['--config', config] });
  const realId = (JSON.parse(await agent.waitFor(/"reporting to server"/, 60_000)) as { agentId: string }).agentId;
  await agent.waitFor(/pinned the server task-signing key/, 60_000);

  const count = opts.simulated ?? 6;
  const generate = realisticHostSeries({ seriesPerHost: 120 });
  // web-0 runs Docker: its container series are the ones the agent's own collector writes.
  const hex = (name: string) => Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64);
  const MiB = 2 ** 20;
  const docker = new SimulatedContainerHost({
    containers: [
      {
        hexId: hex('api'),
        name: 'api',
        image: 'registry.example.com/shop/api:2.14.1',
        state: 'running',
        health: 'healthy',
        cpuCores: 0.6,
        cpuLimitCores: 2,
        memoryBytes: 420 * MiB,
        memoryLimitBytes: 1024 * MiB,
        receiveBps: 90_000,
        transmitBps: 240_000,
        restarts: 1,
        events: { start: 2, die: 1 },
      },
      {
        hexId: hex('postgres'),
        name: 'postgres',
        image: 'postgres:16',
        state: 'running',
        cpuCores: 0.3,
        memoryBytes: 900 * MiB,
        readBps: 2e6,
        writeBps: 6e5,
      },
      {
        hexId: hex('worker'),
        name: 'worker',
        image: 'registry.example.com/shop/worker:2.14.1',
        state: 'restarting',
        restarts: 4,
        events: { start: 4, die: 5 },
      },
      { hexId: hex('migrate'), name: 'migrate', image: 'registry.example.com/shop/api:2.14.1', state: 'exited', exitCode: 0 },
    ],
  });
  const fleet = new AgentSimulator({
    server: grpc,
    count,
    intervalMs: 5000,
    prefix: 'web',
    ledger: false,
    labels: (i) => ({ role: i % 3 ? 'web' : 'db', zone: `z${i % 2}` }),
    series: (i, t) =>
      i === 0 ? [...generate(i, t).filter((x) => !x.name.startsWith('container_')), ...docker.samples(t)] : generate(i, t),
  });
  await fleet.start();
  const sims = [fleet];
  let expected = count + 1;
  if (opts.history) {
    const historyGen = realisticHostSeries({ seriesPerHost: 120, seed: 7 });
    const history = new AgentSimulator({
      server: grpc,
      count: 1,
      intervalMs: 10_000,
      prefix: 'history',
      ledger: false,
      labels: () => ({ role: 'db', zone: 'z0' }),
      series: (i, t) => historyGen(100 + i, t),
    });
    await history.start();
    sims.push(history);
    expected++;
    const [first] = await backfill(history, { spanMs: 3_600_000, stepMs: 10_000 });
    // The server holds the hour: 361 reports of the CPU gauge.
    await eventually(
      async () => (await storedPoints(server.url, HISTORY_AGENT, 'falconet_cpu_usage_percent', first as number)) >= 361,
      60_000,
    );
  }
  await eventually(async () => {
    const r = await getJson<{ items: unknown[] }>(`${server.url}/api/agents?status=online&limit=1000`);
    return r.items.length >= expected;
  }, 60_000);

  await send('POST', `${server.url}/api/alerts/rules`, {
    name: BUSY_RULE,
    severity: 'warning',
    metric: 'falconet_cpu_usage_percent',
    aggregation: 'avg',
    window: '1m',
    op: '>',
    threshold: 1,
    for: '0s',
    annotations: { summary: 'CPU of {{host}} at {{value | round(1)}} %' },
  });
  const ran = (await send('POST', `${server.url}/api/tasks`, { command: '/bin/uname', args: ['-a'], agents: [realId] })).task.id as string;
  const refused = (await send('POST', `${server.url}/api/tasks`, { command: '/bin/rm', args: ['-rf', '/tmp/nothing'], agents: [realId] }))
    .task.id as string;
  for (const [id, status] of [
    [ran, 'succeeded'],
    [refused, 'refused'],
  ] as const) {
    await eventually(async () => {
      const r = await getJson<{ runs: { status: string }[] }>(`${server.url}/api/tasks/${id}`);
      return r.runs[0]?.status === status;
    }, 60_000);
  }
  await eventually(async () => {
    const r = await getJson<{ items: unknown[] }>(`${server.url}/api/alerts`);
    return r.items.length > 0;
  }, 60_000);

  await createUser(server.dataDir, ADMIN.name, 'admin', ADMIN.password);
  const admin = await signIn(server.url, ADMIN.name, ADMIN.password);
  if (admin.status !== 200) throw new Error(`signing in as ${ADMIN.name}: ${admin.status} ${JSON.stringify(admin.body)}`);
  await send('POST', `${server.url}/api/users`, { name: 'viewer-1', role: 'viewer', password: 'viewer-password-1' }, admin.mutating);
  await send('POST', `${server.url}/api/tokens`, { name: 'grafana', role: 'viewer', expires: '90d' }, admin.mutating);

  const cookie = admin.headers.cookie as string;
  const [cookieName, cookieValue] = [cookie.slice(0, cookie.indexOf('=')), cookie.slice(cookie.indexOf('=') + 1)];
  return {
    server,
    agent,
    realId,
    sims,
    admin,
    tasks: { ran, refused },
    async signInContext(context) {
      await context.addCookies([{ name: cookieName, value: cookieValue, url: server.url }]);
    },
    async stop() {
      for (const s of sims) await s.stop();
      await agent.stop();
      await server.stop();
    },
  };
}
