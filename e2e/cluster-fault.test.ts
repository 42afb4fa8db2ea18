/**
 * The cluster under faults (issue 22): three falconet-server processes on one PostgreSQL of the
 * test's own and a nats-server, 200 simulated agents (the agent's own stream and on-disk spool)
 * and 2 real agents, each given all three servers. During the run one node is killed with SIGKILL
 * and started again, NATS is restarted, and PostgreSQL is stopped and started. Afterwards every
 * sample the simulated agents generated is stored exactly once (count and checksum, as in the
 * transport fault test), the real agents' node_load1 has one point a second with no timestamp
 * twice, and every agent is online on every node.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import { type NatsProc, startNats } from '../testing/nats.ts';
import { PgCluster } from '../testing/pg-cluster.ts';
import {
  type AgentProc,
  eventually,
  getJson,
  type ServerProc,
  stablePort,
  startAgent,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { AgentSimulator } from '../testing/simulator.ts';

const SIMULATED = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string) => process.stderr.write(`[cluster-fault ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface Node {
  name: string;
  dataDir: string;
  ports: { httpPort: number; grpcPort: number; transferPort: number };
  proc: ServerProc;
}

describe('a cluster under faults', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  it('3 nodes, 200 simulated and 2 real agents; a node killed, NATS and PostgreSQL restarted: every sample stored once', {
    timeout: 420_000,
  }, async () => {
    const pgc = new PgCluster(await stablePort());
    pgc.start();
    cleanup.push(() => {
      if (pgc.running()) pgc.stop('immediate');
      rmSync(pgc.dir, { recursive: true, force: true });
    });
    const nats: NatsProc = await startNats();
    cleanup.push(() => nats.stop());
    const secret = randomBytes(32).toString('base64');
    const env = (name: string) => ({
      FALCONET_DATABASE_URL: pgc.url,
      FALCONET_SECRET_KEY: secret,
      FALCONET_CLUSTER_NATS: nats.url,
      FALCONET_CLUSTER_NODE: name,
    });
    const nodes: Node[] = [];
    for (const name of ['n1', 'n2', 'n3']) {
      const dataDir = tempDir(`falconet-cluster-${name}-`);
      const ports = { httpPort: await stablePort(), grpcPort: await stablePort(), transferPort: await stablePort() };
      const proc = await startServer({ dataDir, ...ports, env: env(name) });
      nodes.push({ name, dataDir, ports, proc });
    }
    cleanup.push(async () => {
      for (const n of nodes) await n.proc.stop().catch(() => undefined);
    });
    const servers = nodes.map((n) => `127.0.0.1:${n.ports.grpcPort}`).join(',');

    const sim = new AgentSimulator({
      server: servers,
      count: SIMULATED,
      intervalMs: 1000,
      prefix: 'cf',
      spoolDir: tempDir('falconet-cluster-spools-'),
    });
    await sim.start();
    cleanup.push(() => sim.stop());
    const real: AgentProc[] = [];
    for (let i = 0; i < 2; i++) real.push(await startAgent({ server: servers, interval: '1s' }));
    cleanup.push(async () => {
      for (const a of real) await a.stop();
    });
    await eventually(() => sim.connected === SIMULATED, 60_000);
    const t0 = Date.now();
    const held = async (n: Node) => (await getJson<{ nodes: { agents: number }[] }>(`${n.proc.url}/api/cluster`)).nodes[0]?.agents ?? 0;
    const spread = await eventually(async () => {
      const h = await Promise.all(nodes.map(held));
      return h.reduce((a, b) => a + b, 0) === SIMULATED + 2 ? h : undefined;
    }, 60_000);
    progress(`all agents connected, held ${spread.join(' / ')} by ${nodes.map((n) => n.name).join(' / ')}`);
    // Rendezvous spreads them: no node holds nothing.
    expect(Math.min(...spread)).toBeGreaterThan(SIMULATED / 10);

    await sleep(5000);
    const victim = nodes[2] as Node;
    await victim.proc.stop('SIGKILL');
    const killedAt = Date.now();
    await eventually(async () => (await held(nodes[0] as Node)) + (await held(nodes[1] as Node)) === SIMULATED + 2, 30_000, 200);
    progress(`${victim.name} killed: its agents on the others in ${Date.now() - killedAt} ms`);
    await sleep(5000);
    victim.proc = await startServer({ dataDir: victim.dataDir, ...victim.ports, env: env(victim.name) });
    progress(`${victim.name} started again`);

    await sleep(5000);
    await nats.stop();
    progress('NATS stopped');
    await sleep(5000);
    await nats.restart();
    progress('NATS started again');

    await sleep(5000);
    pgc.stop('fast');
    progress('PostgreSQL stopped');
    await sleep(8000);
    pgc.start();
    progress('PostgreSQL started again');

    await sleep(5000);
    // Every node lists every agent online (while they report: an agent silent for three intervals is offline).
    for (const n of nodes) {
      await eventually(async () => {
        const list = (await getJson<{ items: { status: string }[] }>(`${n.proc.url}/api/agents`)).items;
        return list.filter((a) => a.status === 'online').length === SIMULATED + 2;
      }, 30_000);
    }
    sim.stopTicking();
    await eventually(() => sim.queued === 0, 120_000, 250);
    progress('every simulated report acknowledged');
    for (const n of nodes) expect(n.proc.child.exitCode, n.proc.lines.slice(-60).join('\n')).toBe(null);

    // Every sample generated is stored once, whichever node took it; read through any node.
    const generated = new SampleLedger();
    const stored = new SampleLedger();
    for (let i = 0; i < SIMULATED; i++) {
      const via = nodes[i % nodes.length] as Node;
      const got = await storedLedger(via.proc.url, sim.id(i), t0 - 120_000, Date.now() + 1000);
      expect(got.toJSON(), `agent ${sim.id(i)}`).toEqual((sim.ledgers[i] as SampleLedger).toJSON());
      generated.merge(sim.ledgers[i] as SampleLedger);
      stored.merge(got);
    }
    expect(stored.toJSON()).toEqual(generated.toJSON());
    expect(sim.enqueueErrors).toBe(0);
    progress(`generated ${generated.count} samples (checksum ${generated.checksum}); stored the same`);

    // The real agents: one point a second, none twice, across the faults (PostgreSQL's outage included).
    const agents = (await getJson<{ items: { id: string; hostname: string; status: string }[] }>(`${nodes[0]?.proc.url}/api/agents`)).items;
    const realIds = agents.filter((a) => !a.id.startsWith('cf-')).map((a) => a.id);
    expect(realIds).toHaveLength(2);
    for (const id of realIds) {
      const res = await getJson<{ series: { points: [number, number][] }[] }>(
        `${nodes[1]?.proc.url}/api/metrics?agent=${id}&name=node_load1&from=${t0}&to=${Date.now() - 3000}&step=0`,
      );
      const times = (res.series[0]?.points ?? []).map(([t]) => t);
      expect(new Set(times).size).toBe(times.length);
      const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
      expect(Math.max(...gaps), `agent ${id}`).toBeLessThan(2500);
    }
  });
});
