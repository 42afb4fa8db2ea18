import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import { type AgentProc, eventually, type ServerProc, stablePort, startAgent, startServer, tempDir } from '../testing/processes.ts';
import { TcpProxy } from '../testing/proxy.ts';
import { AgentSimulator } from '../testing/simulator.ts';

/**
 * The acceptance fault test: 50 agents (one real agent process, 49 simulated ones on real gRPC
 * streams with the real on-disk spool) report every second through a TCP proxy the test controls,
 * while the server is SIGKILLed and restarted 5 times at random moments and the proxy cuts the
 * network path for 60 s once. Afterwards the store must hold every generated sample exactly once.
 */

const GENERATE_S = 100;
const CUT_S = 60;
const KILLS = 5;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string) => process.stderr.write(`[fault ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Kill times (s) at random, at least 6 s apart so each restart is its own event. */
function killTimes(random: () => number): number[] {
  for (;;) {
    const t = Array.from({ length: KILLS }, () => 4 + random() * (GENERATE_S - 8)).sort((a, b) => a - b);
    if (t.every((x, i) => i === 0 || x - (t[i - 1] as number) >= 6)) return t;
  }
}

describe('transport under faults', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('50 agents, 5 server SIGKILLs and a 60 s network cut: every sample stored exactly once', { timeout: 420_000 }, async () => {
    const seed = Number(process.env.FALCONET_FAULT_SEED ?? Date.now() % 1_000_000);
    const random = rng(seed);
    const kills = killTimes(random);
    const cutAt = 10 + random() * 20;
    progress(
      `seed ${seed}: kills at ${kills.map((k) => k.toFixed(1)).join(', ')} s; network cut ${cutAt.toFixed(1)}..${(cutAt + CUT_S).toFixed(1)} s`,
    );

    const dataDir = tempDir('falconet-fault-server-');
    const ports = { httpPort: await stablePort(), grpcPort: await stablePort(), transferPort: await stablePort() };
    let server: ServerProc = await startServer({ dataDir, ...ports });
    cleanup.push(() => server.stop());
    /** Every server incarnation's log, for the diagnosis when something does not add up. */
    const serverLines: string[][] = [server.lines];
    const proxy = new TcpProxy({ host: '127.0.0.1', port: ports.grpcPort });
    await proxy.listen();
    cleanup.push(() => proxy.close());
    const via = `127.0.0.1:${proxy.port}`;

    const agent: AgentProc = await startAgent({ server: via, interval: '1s', args: ['--debug', '--log.level', 'info'] });
    cleanup.push(() => agent.stop());
    const sim = new AgentSimulator({
      server: via,
      count: 49,
      intervalMs: 1000,
      prefix: 'fault',
      spoolDir: tempDir('falconet-fault-spools-'),
    });
    await sim.start();
    cleanup.push(() => sim.stop());
    await agent.waitFor(/"connected to server"/);
    await eventually(() => sim.connected === 49, 30_000);
    const t0 = Date.now();
    progress('50 agents connected; faults begin');

    type Event = { at: number; what: 'kill' | 'cut' | 'restore' };
    const events: Event[] = [
      ...kills.map((at) => ({ at, what: 'kill' as const })),
      { at: cutAt, what: 'cut' as const },
      { at: cutAt + CUT_S, what: 'restore' as const },
    ].sort((a, b) => a.at - b.at);
    for (const e of events) {
      await sleep(Math.max(0, t0 + e.at * 1000 - Date.now()));
      if (e.what === 'cut') {
        proxy.cut();
        progress(`network path cut (${CUT_S} s)`);
      } else if (e.what === 'restore') {
        proxy.restore();
        progress('network path restored');
      } else {
        server.child.kill('SIGKILL');
        await server.exited;
        const down = 200 + random() * 1800;
        progress(`server SIGKILLed; restarting in ${Math.round(down)} ms`);
        await sleep(down);
        server = await startServer({ dataDir, ...ports });
        serverLines.push(server.lines);
        progress('server back');
      }
    }
    await sleep(Math.max(0, t0 + GENERATE_S * 1000 - Date.now()));

    // Stop generating, let every agent deliver what it holds, then compare.
    sim.stopTicking();
    progress(`generation stopped after ${Math.round((Date.now() - t0) / 1000)} s; draining`);
    await eventually(() => sim.queued === 0, 120_000, 500);
    const pending = async () =>
      Number(
        /^falconet_agent_spool_pending_reports (\d+)/m.exec(
          await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text(),
        )?.[1],
      );
    await eventually(async () => (await pending()) === 0, 120_000, 500);
    await agent.stop('SIGTERM');
    expect(agent.lines.some((l) => l.includes('reports the server has not acknowledged stay in the spool'))).toBe(false);
    progress('drained; reading the store back');

    const from = t0 - 120_000;
    const to = Date.now() + 1000;
    const generated = new SampleLedger();
    const stored = new SampleLedger();
    expect(sim.enqueueErrors).toBe(0);
    for (let i = 0; i < 49; i++) {
      const byTs = new Map<number, SampleLedger>();
      expect(sim.streams[i]?.stats.rejected, `reports refused for ${sim.id(i)}`).toBe(0);
      const got = await storedLedger(server.url, sim.id(i), from, to, byTs);
      if (got.checksum !== (sim.ledgers[i] as SampleLedger).checksum) {
        const missing = sim.ticks.filter((t) => !byTs.has(t));
        const extra = [...byTs.keys()].filter((t) => !sim.ticks.includes(t));
        const mentions = serverLines.flatMap((lines, n) =>
          lines.filter((l) => l.includes(`"${sim.id(i)}"`) && !l.includes('"agent connected"')).map((l) => `server#${n} ${l}`),
        );
        progress(
          `${sim.id(i)} differs: missing ticks ${JSON.stringify(missing)} (t0 ${t0}), extra ${JSON.stringify(extra)}; stream ${JSON.stringify(sim.streams[i]?.stats)}; ` +
            `server said:\n${mentions.slice(-40).join('\n')}`,
        );
      }
      expect(got.toJSON(), `simulated agent ${sim.id(i)}`).toEqual((sim.ledgers[i] as SampleLedger).toJSON());
      generated.merge(sim.ledgers[i] as SampleLedger);
      stored.merge(got);
    }
    const agentLedger = new SampleLedger();
    for (const line of agent.lines) {
      if (!line.includes('"msg":"sample"')) continue;
      const s = JSON.parse(line) as { sample: string; labels: Record<string, string>; value: number | null; ts: number };
      agentLedger.add(s.sample, s.labels, s.ts, s.value);
    }
    const agentId = readFileSync(join(agent.dataDir, 'agent-id'), 'utf8').trim();
    const agentStored = await storedLedger(server.url, agentId, from, to);
    expect(agentStored.toJSON(), 'the real agent').toEqual(agentLedger.toJSON());
    generated.merge(agentLedger);
    stored.merge(agentStored);

    expect(stored.toJSON()).toEqual(generated.toJSON());
    const reconnects = sim.streams.reduce((n, s) => n + s.stats.reconnects, 0);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    progress(
      `generated ${generated.count} samples (checksum ${generated.checksum}); stored ${stored.count} (checksum ${stored.checksum}); ` +
        `${reconnects} simulated-agent reconnects; ${proxy.connections} proxied connections, ${(proxy.bytesUp / 1e6).toFixed(1)} MB up; ` +
        `duplicates dropped by the last server: ${/^falconet_server_reports_duplicate_total (\d+)/m.exec(metrics)?.[1]}`,
    );
    expect(generated.count).toBeGreaterThan(49 * 9 * (GENERATE_S - 10));
  });
});
