/**
 * Traffic accounting against Debian's vnstat on the same interface: a veth pair whose far end is in
 * a network namespace this test makes, 50 MB sent out of it and 20 MB back, a real server and agent
 * counting the host end, and vnstatd with its own database counting it too. Totals within 1 %.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentList, TrafficCycle, TrafficReport } from '@falconet/protocol/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProc,
  createUser,
  eventually,
  getJson,
  type Proc,
  type ServerProc,
  startAgent,
  startCommand,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { signIn } from '../testing/sign-in.ts';

const MB = 1_000_000;
const tag = `${process.pid % 100_000}`;
const NS = `fnt-${tag}`;
const HOST_IF = `fnth${tag}`;
const PEER_IF = `fntp${tag}`;
const OCTET = 1 + (process.pid % 250);
const HOST_IP = `10.231.${OCTET}.1`;
const PEER_IP = `10.231.${OCTET}.2`;

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** A TCP server inside the namespace: reads until the sender closes, answers with 20 MB, exits. */
const PEER_SCRIPT = `
const net = require('node:net');
const srv = net.createServer((s) => {
  let got = 0;
  s.on('data', (b) => { got += b.length; });
  s.on('end', () => { s.end(Buffer.alloc(${20 * MB}, 7)); console.log('received ' + got); srv.close(); });
});
srv.listen(5201, '${PEER_IP}', () => console.log('peer listening'));
`;

describe('traffic accounting beside vnstat', () => {
  let server: ServerProc;
  let agent: AgentProc;
  let vnstatd: Proc;
  let peer: Proc;
  const vnDir = tempDir('falconet-vnstat-');
  const vnConf = join(vnDir, 'vnstat.conf');

  beforeAll(async () => {
    sh('ip', ['netns', 'add', NS]);
    sh('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', PEER_IF]);
    sh('ip', ['link', 'set', PEER_IF, 'netns', NS]);
    sh('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF]);
    sh('ip', ['link', 'set', HOST_IF, 'up']);
    sh('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${PEER_IP}/30`, 'dev', PEER_IF]);
    sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', PEER_IF, 'up']);
    sh('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);

    writeFileSync(
      vnConf,
      [
        `DatabaseDir "${join(vnDir, 'db')}"`,
        'UpdateInterval 2',
        'PollInterval 2',
        'SaveInterval 1',
        'UseLogging 0',
        'BandwidthDetection 0',
        'AlwaysAddNewInterfaces 0',
        `Interface "${HOST_IF}"`,
        '',
      ].join('\n'),
    );
    sh('mkdir', ['-p', join(vnDir, 'db')]);
    sh('vnstatd', ['--initdb', '--config', vnConf]);
    sh('vnstat', ['--config', vnConf, '--add', '-i', HOST_IF]);
    vnstatd = startCommand('vnstatd', ['-n', '--noadd', '--config', vnConf], {}, 'vnstatd');
    // It reads the interface's counters when it starts monitoring: its baseline.
    await vnstatd.waitFor(/[Mm]onitoring/, 60_000);

    server = await startServer();
    agent = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, interval: '1s' });
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([agent?.stop(), server?.stop(), vnstatd?.stop(), peer?.stop()]);
    try {
      sh('ip', ['link', 'del', HOST_IF]);
    } catch {}
    try {
      sh('ip', ['netns', 'del', NS]);
    } catch {}
    sh('rm', ['-rf', vnDir]);
  }, 60_000);

  /** vnstat's totals for the interface, after making the daemon write what it has. */
  const vnstatTotals = () => {
    vnstatd.child.kill('SIGHUP');
    const j = JSON.parse(sh('vnstat', ['--config', vnConf, '--json', '-i', HOST_IF]));
    const t = j.interfaces[0].traffic.total as { rx: number; tx: number };
    return t;
  };

  it('counts within 1 % of vnstat, and only an admin changes the plan', async () => {
    const agentId = await eventually(async () => (await getJson<AgentList>(`${server.url}/api/agents`)).items[0]?.id, 60_000);
    // The veth is left out of a host total by default (virtual); name it in the plan.
    const put = await fetch(`${server.url}/api/traffic/plans/${agentId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ interfaces: [HOST_IF], quota_bytes: 100 * MB, quota_direction: 'sum' }),
    });
    expect(put.status).toBe(200);
    const report = () => getJson<TrafficReport>(`${server.url}/api/traffic?host=${agentId}`);
    // Both have a baseline before any traffic: the agent's counter is stored, vnstat has the interface.
    await eventually(async () => (await report()).interfaces.includes(HOST_IF) && (await report()).cycles[0]?.days.length, 60_000);
    await eventually(() => vnstatTotals() !== undefined, 60_000);

    peer = startCommand('ip', ['netns', 'exec', NS, process.execPath, '-e', PEER_SCRIPT], {}, 'peer');
    await peer.waitFor(/peer listening/, 60_000);
    const client = startCommand(
      process.execPath,
      [
        '-e',
        `const s = require('node:net').connect(5201, '${PEER_IP}', () => { s.end(Buffer.alloc(${50 * MB}, 1)); });
         let got = 0; s.on('data', (b) => { got += b.length; }); s.on('close', () => console.log('got back ' + got));`,
      ],
      {},
      'client',
    );
    await client.waitFor(/got back 20000000/, 120_000);
    await peer.waitFor(/received 50000000/, 10_000);

    // Compare once both have seen all of it: vnstat writes on SIGHUP, the agent reports every second.
    let seen = '';
    const [ours, theirs] = await eventually(
      async () => {
        const c = (await report()).cycles[0] as TrafficCycle;
        const v = vnstatTotals();
        seen = `falconet rx ${c.measuredRxBytes} tx ${c.measuredTxBytes}; vnstat rx ${v.rx} tx ${v.tx}`;
        if (c.measuredTxBytes < 50 * MB || v.tx < 50 * MB || c.measuredRxBytes < 20 * MB || v.rx < 20 * MB) return undefined;
        if (Math.abs(c.measuredTxBytes / v.tx - 1) > 0.01 || Math.abs(c.measuredRxBytes / v.rx - 1) > 0.01) return undefined;
        return [c, v] as const;
      },
      90_000,
      1000,
    ).catch(async (e) => {
      const raw = await getJson(
        `${server.url}/api/metrics?agent=${agentId}&name=node_network_transmit_bytes_total&labels=device=${HOST_IF}&from=${Date.now() - 600_000}&to=${Date.now()}&step=0`,
      );
      const m1 = await getJson(
        `${server.url}/api/metrics?agent=${agentId}&name=node_network_transmit_bytes_total&labels=device=${HOST_IF}&from=${Date.now() - 600_000}&to=${Date.now()}&step=60000&agg=last`,
      );
      throw new Error(
        `${(e as Error).message}; last seen: ${seen}; raw ${JSON.stringify(raw).slice(-600)}; 1m ${JSON.stringify(m1).slice(-600)}`,
      );
    });
    console.log(
      `falconet rx ${ours.measuredRxBytes} tx ${ours.measuredTxBytes}; vnstat rx ${theirs.rx} tx ${theirs.tx}; ratio rx ${(ours.measuredRxBytes / theirs.rx).toFixed(5)} tx ${(ours.measuredTxBytes / theirs.tx).toFixed(5)}`,
    );
    expect(Math.abs(ours.measuredTxBytes / theirs.tx - 1)).toBeLessThan(0.01);
    expect(Math.abs(ours.measuredRxBytes / theirs.rx - 1)).toBeLessThan(0.01);
    expect(ours.usedPercent).toBeGreaterThan(70);
    const today = ours.days.at(-1);
    expect((today?.txBytes ?? 0) / theirs.tx).toBeGreaterThan(0.99);

    // From the attacker's seat: once users exist, a viewer reads but cannot change plans or corrections.
    await createUser(server.dataDir, 'admin', 'admin', 'admin-password-1');
    await createUser(server.dataDir, 'viewer', 'viewer', 'viewer-password-1');
    const anon = await fetch(`${server.url}/api/traffic?host=${agentId}`);
    expect(anon.status).toBe(401);
    const viewer = await signIn(server.url, 'viewer', 'viewer-password-1');
    expect((await fetch(`${server.url}/api/traffic?host=${agentId}`, { headers: viewer.headers })).status).toBe(200);
    const denied = await fetch(`${server.url}/api/traffic/correction/${agentId}`, {
      method: 'POST',
      headers: { ...viewer.mutating, 'content-type': 'application/json' },
      body: JSON.stringify({ tx_bytes: 1 }),
    });
    expect(denied.status).toBe(403);
    const admin = await signIn(server.url, 'admin', 'admin-password-1');
    const bad = await fetch(`${server.url}/api/traffic/plans/${agentId}`, {
      method: 'PUT',
      headers: { ...admin.mutating, 'content-type': 'application/json' },
      body: JSON.stringify({ reset_day: 32, time_zone: 'Nowhere/City' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/reset_day|time_zone/);
    const fixed = await fetch(`${server.url}/api/traffic/correction/${agentId}`, {
      method: 'POST',
      headers: { ...admin.mutating, 'content-type': 'application/json' },
      body: JSON.stringify({ tx_bytes: 80 * MB }),
    });
    expect(fixed.status).toBe(200);
    expect(((await fixed.json()) as TrafficCycle).txBytes).toBeGreaterThanOrEqual(80 * MB);
  }, 300_000);
});
