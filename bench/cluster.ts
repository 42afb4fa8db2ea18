/**
 * A cluster of falconet-server nodes on NATS and PostgreSQL against one node (issue 22):
 *
 * - overhead: the same simulated fleet (own processes, real gRPC streams, a PostgreSQL store)
 *   into one server, then spread over three nodes of a cluster on one PostgreSQL and a
 *   nats-server; server CPU per stored sample on each, the three nodes charged with NATS' CPU
 *   too (coordination costs it), and the ratio. Each configuration on a fresh database; no
 *   dashboard watches, so what crosses the bus is what a cluster always sends (heartbeats, agent
 *   changes).
 * - failover: real agents given both servers of a two-node cluster; the server most of them chose
 *   is killed with SIGKILL, and the time until every agent is registered on the other is taken;
 *   several rounds, the killed node started again between them.
 *
 *   npm run bench -- cluster [--quick] [--only overhead,failover] [--agents N] [--series M]
 *                            [--seconds S] [--rounds R]
 */
import { randomBytes } from 'node:crypto';
import type { ClusterStatus } from '@falconet/protocol/api';
import { type NatsProc, startNats } from '../testing/nats.ts';
import { createTempDatabase, type TempDatabase } from '../testing/postgres.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, tempDir } from '../testing/processes.ts';
import { cpuSeconds, emit, median, numberArg, progress, quick, sleep, wants } from './lib.ts';
import { type Load, metricValue, scrape, startBenchServer, startLoad } from './lib-fleet.ts';

const BENCH = 'cluster';
const arg = numberArg;

const AGENTS = arg('agents', quick ? 300 : 1500);
const SERIES = arg('series', 200);
const SECONDS = arg('seconds', quick ? 30 : 120);
const ROUNDS = arg('rounds', quick ? 2 : 5);
const INTERVAL = 10_000;
const SECRET = randomBytes(32).toString('base64');

function nodeEnv(db: TempDatabase, nats: NatsProc | undefined, node: string): Record<string, string> {
  return {
    FALCONET_DATABASE_URL: db.url,
    FALCONET_SECRET_KEY: SECRET,
    ...(nats ? { FALCONET_CLUSTER_NATS: nats.url, FALCONET_CLUSTER_NODE: node } : {}),
  };
}

/** Waits until every simulated agent is connected and its backlog drained. */
async function settle(loads: Load[], agents: number, what: string): Promise<void> {
  const connected = () => loads.reduce((n, l) => n + l.connected(), 0);
  const deadline = Date.now() + 600_000;
  while (connected() < agents) {
    if (Date.now() > deadline) throw new Error(`${what}: only ${connected()} of ${agents} agents connected`);
    await sleep(3000);
    progress(`${what}: ${connected()} of ${agents} agents connected`);
  }
  await sleep(INTERVAL * 2);
  const until = Date.now() + 120_000;
  while (loads.reduce((n, l) => n + l.queued(), 0) > agents / 20 && Date.now() < until) await sleep(2000);
}

interface Run {
  cpuS: number;
  samples: number;
  natsCpuS: number;
}

/** `nodes` servers (a cluster when more than one) take AGENTS simulated agents, split evenly, for SECONDS. */
async function fleetOn(nodes: number): Promise<Run> {
  const db = await createTempDatabase('falconet_bench');
  const nats = nodes > 1 ? await startNats() : undefined;
  const servers: ServerProc[] = [];
  const loads: Load[] = [];
  try {
    for (let n = 0; n < nodes; n++) servers.push(await startBenchServer(tempDir('falconet-bench-cluster-'), nodeEnv(db, nats, `n${n}`)));
    const per = Math.ceil(AGENTS / nodes);
    for (const [n, s] of servers.entries()) {
      const count = Math.min(per, AGENTS - n * per);
      loads.push(startLoad({ grpc: `127.0.0.1:${s.grpcPort}`, agents: count, series: SERIES, intervalMs: INTERVAL, processes: 1 }));
    }
    await settle(loads, AGENTS, `${nodes} node${nodes > 1 ? 's' : ''}`);
    const pids = servers.map((s) => s.child.pid as number);
    const natsPid = nats?.pid();
    const samples = async () => {
      let total = 0;
      for (const s of servers) total += metricValue(await scrape(s.url), 'falconet_server_samples_total');
      return total;
    };
    const c0 = pids.reduce((t, p) => t + cpuSeconds(p), 0);
    const n0 = natsPid ? cpuSeconds(natsPid) : 0;
    const s0 = await samples();
    await sleep(SECONDS * 1000);
    const run = {
      cpuS: pids.reduce((t, p) => t + cpuSeconds(p), 0) - c0,
      natsCpuS: natsPid ? cpuSeconds(natsPid) - n0 : 0,
      samples: (await samples()) - s0,
    };
    progress(
      `${nodes} node(s): ${run.samples} samples in ${SECONDS} s, servers ${run.cpuS.toFixed(1)} CPU s, NATS ${run.natsCpuS.toFixed(1)} CPU s`,
    );
    return run;
  } finally {
    for (const l of loads) await l.stop();
    for (const s of servers) await s.stop().catch(() => undefined);
    await nats?.stop();
    await db.drop();
  }
}

if (wants('overhead')) {
  progress(`cluster: ${AGENTS} agents x ${SERIES} series every ${INTERVAL / 1000} s on 1 node, then on 3 nodes, ${SECONDS} s each`);
  const one = await fleetOn(1);
  const three = await fleetOn(3);
  const us = (r: Run, withNats: boolean) => ((r.cpuS + (withNats ? r.natsCpuS : 0)) / r.samples) * 1e6;
  const extra = { agents: AGENTS, series_per_agent: SERIES, seconds: SECONDS, store: 'postgres', shared_machine: true };
  emit({
    bench: BENCH,
    metric: 'cpu_us_per_sample_1_node',
    value: Number(us(one, false).toFixed(2)),
    unit: 'µs',
    samples: one.samples,
    ...extra,
  });
  emit({
    bench: BENCH,
    metric: 'cpu_us_per_sample_3_nodes',
    value: Number(us(three, true).toFixed(2)),
    unit: 'µs',
    samples: three.samples,
    nats_cpu_s: Number(three.natsCpuS.toFixed(2)),
    ...extra,
  });
  const ratio = us(three, true) / us(one, false);
  emit({
    bench: BENCH,
    metric: 'coordination_overhead',
    value: Number(ratio.toFixed(3)),
    unit: 'ratio',
    ref: '1 node',
    goal: '<= 1.15',
    verdict: ratio <= 1.15 ? 'PASS' : 'MISS',
    ...extra,
  });
}

if (wants('failover')) {
  const db = await createTempDatabase('falconet_bench');
  const nats = await startNats();
  const nodes: ServerProc[] = [];
  const agents: AgentProc[] = [];
  try {
    for (const n of ['a', 'b']) nodes.push(await startBenchServer(tempDir('falconet-bench-failover-'), nodeEnv(db, nats, n)));
    const grpc = () => nodes.map((s) => `127.0.0.1:${s.grpcPort}`).join(',');
    for (let i = 0; i < 4; i++) agents.push(await startAgent({ server: grpc(), interval: '1s' }));
    const held = async (s: ServerProc) => (await getJson<ClusterStatus>(`${s.url}/api/cluster`)).nodes[0]?.agents ?? 0;
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const counts = await eventually(async () => {
        const [x, y] = (await Promise.all(nodes.map(held))) as [number, number];
        return x + y === agents.length ? ([x, y] as const) : undefined;
      }, 60_000);
      const victim = counts[0] >= counts[1] ? 0 : 1;
      const survivor = nodes[1 - victim] as ServerProc;
      const killed = nodes[victim] as ServerProc;
      await killed.stop('SIGKILL');
      const t0 = Date.now();
      await eventually(async () => (await held(survivor)) === agents.length, 60_000, 50);
      times.push(Date.now() - t0);
      progress(`failover round ${round + 1}: ${counts[victim]} agents moved in ${times.at(-1)} ms`);
      nodes[victim] = await startBenchServer(killed.dataDir, nodeEnv(db, nats, victim === 0 ? 'a' : 'b'));
      // The agents keep the killed server's address: a node that comes back on another port is a new server to them.
      for (const a of agents) await a.stop();
      agents.length = 0;
      for (let i = 0; i < 4; i++) agents.push(await startAgent({ server: grpc(), interval: '1s' }));
    }
    emit({
      bench: BENCH,
      metric: 'failover_ms',
      value: Math.round(median(times)),
      unit: 'ms',
      stat: 'median',
      max_ms: Math.max(...times),
      runs: times,
      goal: '<= 30000',
      verdict: Math.max(...times) <= 30_000 ? 'PASS' : 'MISS',
      agents: agents.length,
      shared_machine: true,
    });
  } finally {
    for (const a of agents) await a.stop();
    for (const s of nodes) await s.stop().catch(() => undefined);
    await nats.stop();
    await db.drop();
  }
}
