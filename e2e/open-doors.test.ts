/**
 * The doors of issue 26, tried from the attacker's seat on real processes: the Open-Falcon port
 * listening on this machine's network address, a real agent with its own token as the victim, and
 * alert rules on the victim's host name. A sender without a token, then one with an operator token
 * pushing 20,000 series, 303 hosts, a series of 20,001 labels and a value under the victim's host
 * name: all refused past the caps, counted, audited, no alert fired as the victim, its stored data
 * (count and checksum) and spool untouched. Then a plaintext agent channel beyond loopback, refused
 * by server and agent without the explicit flag, warned about on the dashboard with it; and a slow
 * scraper cut by the agent's exporter.
 */
import { writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../testing/browser.ts';
import { scrapedValue } from '../testing/exposition.ts';
import { defaultRouteInterface, globalAddresses } from '../testing/host-network.ts';
import { storedLedger } from '../testing/ledger.ts';
import {
  AGENT_CLI,
  type AgentProc,
  createToken,
  createUser,
  eventually,
  freePort,
  SERVER_CLI,
  type ServerProc,
  startAgent,
  startProcess,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { signIn } from '../testing/sign-in.ts';
import { dribble } from '../testing/slow-client.ts';
import { openLines } from '../testing/tcp-lines.ts';

/** An IPv4 address of this machine beyond loopback: where the attacker's connections come from and go to. */
function networkAddress(): string | undefined {
  const all = globalAddresses();
  const dev = defaultRouteInterface();
  const candidates = [...((dev && all?.get(dev)) || []), ...[...(all?.values() ?? [])].flat()];
  return candidates.find((a) => isIP(a) === 4);
}

const ADDRESS = networkAddress();
const HOST = hostname();
const PASSWORD = 'correct horse battery';

interface AgentItem {
  id: string;
  hostname: string;
  status: string;
  labels: Record<string, string>;
  ips: string[];
}
interface AlertItem {
  rule: string;
  host: string;
  agent: string;
  state: string;
}

async function scrape(port: number): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
const value = (text: string, name: string, labels: Record<string, string> = {}) => scrapedValue(text, name, labels) ?? 0;

describe.skipIf(!ADDRESS)('the Open-Falcon port beyond loopback, and a victim agent', () => {
  let server: ServerProc;
  let agent: AgentProc;
  let admin: Record<string, string>;
  let pusher = '';
  let transferPort = 0;
  const get = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${server.url}${path}`, { headers: admin });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };
  const serverMetrics = async () => await (await fetch(`${server.url}/metrics`, { headers: admin })).text();
  const rejected = async (reason: string) =>
    value(await serverMetrics(), 'falconet_server_ingest_rejected_total', { channel: 'tcp', reason });

  beforeAll(async () => {
    const dataDir = tempDir('falconet-doors-');
    // A user exists, so the server may listen beyond loopback, and every sender and agent needs a token.
    await createUser(dataDir, 'admin', 'admin', PASSWORD);
    admin = { authorization: `Bearer ${(await createToken(dataDir, { api: 'probe', role: 'admin' })).token}` };
    pusher = (await createToken(dataDir, { api: 'pusher', role: 'operator' })).token;
    const agentToken = (await createToken(dataDir, { agent: HOST })).token;
    const rules = join(dataDir, 'rules.yaml');
    writeFileSync(
      rules,
      [
        'rules:',
        '  - name: Evil on the real host',
        '    metric: evil_metric',
        `    hosts: [${JSON.stringify(HOST)}]`,
        '    aggregation: last',
        '    op: ">"',
        '    threshold: 0',
        '  - name: Real host offline',
        '    kind: agent_offline',
        `    hosts: [${JSON.stringify(HOST)}]`,
        // Names the pushed host itself: proves the pushed value reached the evaluator.
        '  - name: Evil on the pushed host',
        '    metric: evil_metric',
        `    hosts: [${JSON.stringify(`push:${HOST}`)}]`,
        '    aggregation: last',
        '    op: ">"',
        '    threshold: 0',
        '',
      ].join('\n'),
    );
    transferPort = await freePort();
    server = await startServer({
      dataDir,
      args: ['--transfer-listen', `${ADDRESS}:${transferPort}`, '--alerts-rules', rules],
      // The victim reports every second; on a loaded machine it can be late by three of them, which the
      // default `offline_after_intervals: 3` would call offline (a true alert, but not the attack's doing).
      // Thirty intervals keep the silent-agent sweep out of it; a lost or taken-over stream is still offline at once.
      env: {
        FALCONET_ALERTS_EVALUATION_INTERVAL: '1s',
        FALCONET_ALERTS_STARTUP_GRACE: '1s',
        FALCONET_OFFLINE_AFTER_INTERVALS: '30',
      },
    });
    agent = await startAgent({
      server: `127.0.0.1:${server.grpcPort}`,
      args: ['--token', agentToken],
      env: { FALCONET_WEB_REQUEST_TIMEOUT: '1s' },
    });
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('refuses every push past its door; the victim keeps its data, its alerts and its spool', async () => {
    const victim = await eventually(async () => {
      const list = await get<{ items: AgentItem[] }>('/api/agents');
      return list.items.find((a) => a.hostname === HOST && !a.id.startsWith('push:') && a.status === 'online');
    });
    // What the victim stored before the attack, once reports up to `toMs` are all acknowledged.
    const fromMs = Date.now() - 120_000;
    const toMs = Date.now();
    const acked = () => scrape(agent.metricsPort).then((t) => value(t, 'falconet_agent_transport_acked_reports_total'));
    const ackedAtStart = await acked();
    await eventually(async () => (await acked()) >= ackedAtStart + 2);
    const before = await storedLedger(server.url, victim.id, fromMs, toMs, undefined, admin);
    expect(before.count).toBeGreaterThan(100);

    // 1. From the network, without a token: answered, closed, nothing stored.
    const anonymous = await openLines(ADDRESS as string, transferPort, { localAddress: ADDRESS });
    anonymous.send([{ metric: 'evil_metric', endpoint: HOST, value: 1 }]);
    await anonymous.closed;
    expect(anonymous.replies[0]?.error).toMatch(/this listener needs a token/);
    expect(await rejected('token_missing')).toBe(1);

    // 2. With an operator's token: the value under the victim's host name, 303 hosts, 20,000 series, 20,001 labels.
    const t = Math.floor(Date.now() / 1000);
    const attack = await openLines(ADDRESS as string, transferPort, { localAddress: ADDRESS });
    const lines: object[] = [{ token: pusher }, { metric: 'evil_metric', endpoint: HOST, value: 1, timestamp: t }];
    for (let i = 0; i < 303; i++) lines.push({ metric: 'up', endpoint: `fake-${i}`, value: 1, timestamp: t });
    for (let i = 0; i < 20_000; i++) lines.push({ metric: 'flood', endpoint: 'fake-0', tags: `i=${i}`, value: 1, timestamp: t });
    const tags = Array.from({ length: 20_000 }, (_, i) => `l${i}=v`).join(',');
    lines.push({ metric: 'wide', endpoint: 'fake-0', tags, value: 1, timestamp: t });
    attack.send(lines);
    // The caps' defaults: 100 hosts and 10,000 series per sender, 30 labels per series.
    await eventually(async () => (await rejected('too_many_labels')) === 1, 60_000);
    expect(await rejected('too_many_hosts')).toBe(204);
    expect(await rejected('too_many_series')).toBe(20_000 - 9_900);
    expect(attack.replies.find((r) => /max_hosts_per_sender/.test(r.error ?? ''))?.error).toMatch(
      /token:pusher has pushed for 100 hosts within the last hour; at most 100 \(ingest\.push\.max_hosts_per_sender\)/,
    );
    attack.end();
    // The same operator over HTTP, with the victim's host as a label: stored as push:<host>, like the TCP push.
    const http = await fetch(`${server.url}/api/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pusher}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ name: 'evil_metric', labels: { host: HOST }, value: 2 }]),
    });
    expect(http.status).toBe(200);

    const agents = await get<{ items: AgentItem[] }>('/api/agents?limit=1000');
    expect(agents.items.filter((a) => a.id.startsWith('push:')).length).toBe(100);
    const now = Date.now();
    const flood = await get<{ series: unknown[] }>(`/api/metrics?agent=push:fake-0&name=flood&from=${now - 600_000}&to=${now + 1000}`);
    expect(flood.series.length).toBe(9_900);
    expect((await get<{ names: string[] }>('/api/metrics/names?agent=push:fake-0')).names).not.toContain('wide');

    // 3. Alerts: the pushed value fires only as push:<host>, never as the victim.
    const control = await eventually(async () => {
      const { items } = await get<{ items: AlertItem[] }>('/api/alerts');
      return items.find((a) => a.rule === 'Evil on the pushed host' && a.state === 'firing');
    });
    expect(control).toMatchObject({ host: `push:${HOST}`, agent: `push:${HOST}` });
    const cycles = () => serverMetrics().then((text) => value(text, 'falconet_alert_evaluations_total'));
    const after = (await cycles()) + 3;
    await eventually(async () => (await cycles()) >= after);
    const { items: active } = await get<{ items: AlertItem[] }>('/api/alerts');
    expect(active.filter((a) => a.rule !== 'Evil on the pushed host')).toEqual([]);
    const history = await get<{ items: { ruleName: string; agentId: string }[] }>('/api/alerts/history?limit=100');
    expect(history.items.filter((h) => h.agentId === victim.id)).toEqual([]);

    // 4. Refused, counted and audited.
    const connects = await get<{ items: { actor: string; outcome: string; address: string; detail: { reason: string } }[] }>(
      '/api/audit?action=push.connect',
    );
    expect(connects.items.map((e) => [e.actor, e.outcome, e.address, e.detail.reason])).toEqual([
      ['anonymous', 'denied', ADDRESS, 'token_missing'],
    ]);
    const refused = await get<{ items: { actor: string; detail: { reason: string } }[] }>('/api/audit?action=push.refused');
    expect(new Set(refused.items.map((e) => `${e.actor} ${e.detail.reason}`))).toEqual(
      new Set(['token:pusher too_many_hosts', 'token:pusher too_many_series', 'token:pusher too_many_labels']),
    );

    // 5. The victim: its record, its stored samples (count and checksum), its names, its spool.
    const record = await get<AgentItem>(`/api/agents/${encodeURIComponent(victim.id)}`);
    expect(record).toMatchObject({ id: victim.id, hostname: HOST, labels: victim.labels, ips: victim.ips, status: 'online' });
    const again = await storedLedger(server.url, victim.id, fromMs, toMs, undefined, admin);
    expect(again.toJSON()).toEqual(before.toJSON());
    const names = (await get<{ names: string[] }>(`/api/metrics/names?agent=${encodeURIComponent(victim.id)}`)).names;
    expect(names.filter((n) => ['evil_metric', 'up', 'flood', 'wide'].includes(n))).toEqual([]);
    const ackedAfter = await acked();
    await eventually(async () => (await acked()) >= ackedAfter + 2);
    const agentText = await scrape(agent.metricsPort);
    expect(value(agentText, 'falconet_agent_transport_rejected_reports_total')).toBe(0);
    expect(value(agentText, 'falconet_agent_spool_dropped_reports_total')).toBe(0);
    expect(value(agentText, 'falconet_agent_spool_pending_reports')).toBeLessThanOrEqual(2);
  });

  it("cuts a scraper that dribbles its request to the agent's exporter; others are served", async () => {
    const slow = dribble(agent.metricsPort, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    expect((await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).status).toBe(200);
    expect(await slow).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(value(await scrape(agent.metricsPort), 'falconet_agent_exporter_requests_cut_total')).toBe(1);
  });
});

describe.skipIf(!ADDRESS)('a plaintext agent channel beyond loopback', () => {
  let server: ServerProc | undefined;
  let agent: AgentProc | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await server?.stop();
  });

  it('is refused by server and agent without the explicit flag, and warned about with it', async () => {
    const dataDir = tempDir('falconet-plaintext-');
    await createUser(dataDir, 'admin', 'admin', PASSWORD);
    await createUser(dataDir, 'watcher', 'viewer', PASSWORD);
    const grpcPort = await freePort();
    const grpcListen = `${ADDRESS}:${grpcPort}`;
    const plaintext = { FALCONET_GRPC_TLS_MODE: 'off' };

    const refused = startProcess(
      SERVER_CLI,
      ['run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--grpc-listen', grpcListen],
      plaintext,
    );
    expect((await refused.exited).code).toBe(2);
    expect(refused.lines.join('\n')).toMatch(
      /grpc_tls\.mode is off on an address beyond loopback.*grpc_tls\.allow_plaintext: true \(--grpc-allow-plaintext\)/,
    );

    server = await startServer({ dataDir, grpcPort, args: ['--grpc-listen', grpcListen, '--grpc-allow-plaintext'], env: plaintext });
    expect(server.lines.some((l) => /"level":40.*the agent channel is plaintext beyond loopback/.test(l))).toBe(true);
    const session = async (name: string) => {
      const r = await signIn(server?.url as string, name, PASSWORD);
      return { body: r.body as { warnings?: string[] }, cookie: r.headers.cookie as string };
    };
    const adminSession = await session('admin');
    expect(adminSession.body.warnings).toEqual(['grpc_plaintext']);
    expect((await session('watcher')).body.warnings).toBeUndefined();

    const agentToken = (await createToken(dataDir, { agent: HOST })).token;
    const noFlag = startProcess(AGENT_CLI, [
      'run',
      '--data-dir',
      tempDir(),
      '--listen',
      '',
      '--server',
      `grpc://${grpcListen}`,
      '--token',
      agentToken,
    ]);
    expect((await noFlag.exited).code).toBe(2);
    expect(noFlag.lines.join('\n')).toMatch(
      new RegExp(
        `grpc://${ADDRESS}:${grpcPort} is plaintext to a host beyond loopback.*transport\\.tls\\.allow_plaintext: true \\(--grpc-allow-plaintext\\)`,
      ),
    );
    agent = await startAgent({ server: `grpc://${grpcListen}`, args: ['--token', agentToken, '--grpc-allow-plaintext'] });
    await eventually(async () => {
      const r = await fetch(`${server?.url}/api/agents`, { headers: { cookie: adminSession.cookie } });
      const { items } = (await r.json()) as { items: AgentItem[] };
      return items.some((a) => a.hostname === HOST && a.status === 'online');
    });

    // The dashboard tells admins, in English and Simplified Chinese, and viewers not at all.
    if (!hasChromium()) return;
    browser = await launchChromium();
    const [cookieName, cookieValue] = adminSession.cookie.split('=') as [string, string];
    for (const [lang, text] of [
      ['en', /The agent channel is plaintext beyond this machine/],
      ['zh', /Agent 通道在本机之外以明文传输/],
    ] as const) {
      const context = await browser.newContext();
      await context.addCookies([{ name: cookieName, value: cookieValue, url: server.url }]);
      await context.addInitScript(`localStorage.setItem('falconet.lang', '${lang}')`);
      const page = await context.newPage();
      await page.goto(server.url);
      await expect.poll(() => page.getByTestId('warning-grpc_plaintext').textContent(), { timeout: 20_000 }).toMatch(text);
      await context.close();
    }
    const viewer = await browser.newContext();
    const watcher = (await session('watcher')).cookie.split('=') as [string, string];
    await viewer.addCookies([{ name: watcher[0], value: watcher[1], url: server.url }]);
    const page = await viewer.newPage();
    await page.goto(server.url);
    await page.getByTestId('nav-overview').waitFor();
    expect(await page.getByTestId('warning-grpc_plaintext').count()).toBe(0);
    await viewer.close();
  });
});
