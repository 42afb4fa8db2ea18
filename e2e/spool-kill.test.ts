import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SampleLedger } from '../testing/ledger.ts';
import { getJson, ROOT, type ServerProc, stablePort, startAgent, startProcess, startServer, tempDir } from '../testing/processes.ts';

const KILLS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A reproducible random sequence; the seed is printed so a failure can be replayed. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('spool under SIGKILL', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it(`a process writing the spool flat out, killed ${KILLS} times: nothing durable and unacknowledged is lost`, async () => {
    const seed = Date.now() % 100_000;
    const random = rng(seed);
    const dir = tempDir('falconet-spool-kill-');
    let appended = 0;
    let acked = 0;
    let resentAcked = 0;
    let truncated = 0;
    for (let run = 0; run <= KILLS; run++) {
      const p = startProcess(join(ROOT, 'testing/spool-writer.ts'), [dir]);
      const opened = JSON.parse(await p.waitFor(/"event":"opened"/, 20_000)) as {
        ackedSeq: number;
        lastSeq: number;
        truncatedBytes: number;
        replay: { seq: number; intact: boolean }[];
      };
      truncated += opened.truncatedBytes;
      const seqs = opened.replay.map((r) => r.seq);
      expect(
        opened.replay.every((r) => r.intact),
        `seed ${seed} run ${run}: a replayed record is damaged`,
      ).toBe(true);
      // Every record made durable and not acknowledged is there, in order, without gaps.
      const unacked = Array.from({ length: Math.max(0, appended - acked) }, (_, i) => acked + 1 + i);
      expect(
        seqs.filter((s) => s > acked && s <= appended),
        `seed ${seed} run ${run}`,
      ).toEqual(unacked);
      // The pointer never runs ahead of what was acknowledged.
      expect(opened.ackedSeq).toBeLessThanOrEqual(acked);
      resentAcked += seqs.filter((s) => s <= acked).length;
      // Beyond the last record reported durable there is at most the one being written when killed.
      expect(seqs.filter((s) => s > appended).length).toBeLessThanOrEqual(1);
      if (run === KILLS) {
        await p.stop('SIGKILL');
        break;
      }
      await sleep(150 + random() * 500);
      p.child.kill('SIGKILL');
      await p.exited;
      for (const l of p.lines) {
        if (!l.startsWith('{"event"')) continue;
        const e = JSON.parse(l) as { event: string; seq: number };
        if (e.event === 'appended') appended = Math.max(appended, e.seq);
        if (e.event === 'acked') acked = Math.max(acked, e.seq);
      }
    }
    process.stderr.write(
      `spool-kill (seed ${seed}): ${KILLS} kills, ${appended} records made durable, ${acked} acknowledged, ` +
        `${resentAcked} acknowledged records replayed because the ack pointer lagged (the server's last_seq filters them), ${truncated} torn bytes cut\n`,
    );
    expect(appended).toBeGreaterThan(KILLS);
    // The pointer is saved right behind the appends: at most the acks of the last moments replay.
    expect(resentAcked).toBeLessThanOrEqual(4 * KILLS);
  });

  it(`the real agent, killed ${KILLS} times while it spools, the server killed under it too: the store gets every report but each kill's last, once`, async () => {
    const seed = Date.now() % 100_000;
    const random = rng(seed);
    const grpcPort = await stablePort();
    const dataDir = tempDir('falconet-agent-kill-');
    let server: ServerProc | undefined;
    cleanup.push(async () => server?.stop());
    /**
     * Per run: the samples the agent logged, grouped by timestamp, and which timestamps the run's
     * last report carried (one report holds several: each collector's run is stamped with its start).
     */
    const runs: { stamps: Map<number, SampleLedger>; lastReport: Set<number> }[] = [];
    // The ledger is read from the agent's log file, not its stdout: the file is written
    // synchronously before the report is spooled, while stdout is a pipe whose unread tail a
    // SIGKILL throws away when the test reads it slower than the agent writes (a loaded CI run lost
    // the lines of a spooled report that way).
    const logDir = tempDir('falconet-agent-kill-logs-');
    const logFile = (run: number) => join(logDir, `run-${run}.log`);
    const collect = (run: number) => {
      const stamps = new Map<number, SampleLedger>();
      const byReport = new Map<number, Set<number>>();
      for (const line of readFileSync(logFile(run), 'utf8').split('\n')) {
        if (!line.includes('"msg":"sample"')) continue;
        const s = JSON.parse(line) as { report: number; sample: string; labels: Record<string, string>; value: number | null; ts: number };
        const l = stamps.get(s.ts) ?? new SampleLedger();
        stamps.set(s.ts, l);
        l.add(s.sample, s.labels, s.ts, s.value);
        const r = byReport.get(s.report) ?? new Set<number>();
        byReport.set(s.report, r);
        r.add(s.ts);
      }
      const last = Math.max(0, ...byReport.keys());
      runs.push({ stamps, lastReport: byReport.get(last) ?? new Set() });
    };
    const start = (run: number) =>
      startAgent({
        server: `127.0.0.1:${grpcPort}`,
        dataDir,
        interval: '250ms',
        args: ['--debug', '--log.level', 'info', '--log.file', logFile(run)],
      });
    const startedAt = Date.now();
    let truncatedLogs = 0;
    let serverKills = 0;
    for (let run = 0; run < KILLS; run++) {
      // The server is away for the first half: everything stays unacknowledged in the spool.
      if (run === KILLS / 2) server = await startServer({ grpcPort });
      const agent = await start(run);
      await agent.waitFor(/"spool opened"/);
      if (server && run % 3 === 0) {
        // The server killed mid-stream as well: both ends lose their compact tables at once.
        await agent.waitFor(/"connected to server"/);
        await sleep(200 + random() * 600);
        const { dataDir: serverDir, httpPort } = server;
        server.child.kill('SIGKILL');
        await server.exited;
        serverKills++;
        server = await startServer({ grpcPort, httpPort, dataDir: serverDir });
      }
      await sleep(400 + random() * 1100);
      agent.child.kill('SIGKILL');
      await agent.exited;
      truncatedLogs += agent.lines.filter((l) => l.includes('torn or corrupt tail')).length;
      collect(run);
    }
    // One last run that is let finish: it replays what is left and stops cleanly.
    const last = await start(KILLS);
    await last.waitFor(/"connected to server"/);
    const pending = async () =>
      Number(
        /^falconet_agent_spool_pending_reports (\d+)/m.exec(
          await (await fetch(`http://127.0.0.1:${last.metricsPort}/metrics`)).text(),
        )?.[1],
      );
    for (let i = 0; i < 100 && (await pending()) > 2; i++) await sleep(200);
    await last.stop('SIGTERM');
    collect(KILLS);
    expect(last.lines.some((l) => l.includes('"stopped"'))).toBe(true);

    const agentId = readFileSync(join(dataDir, 'agent-id'), 'utf8').trim();
    const url = (server as ServerProc).url;
    const stored = new Map<number, SampleLedger>();
    const { names } = await getJson<{ names: string[] }>(`${url}/api/metrics/names?agent=${agentId}`);
    for (const name of names) {
      const r = await getJson<{ series: { name: string; labels: Record<string, string>; points: [number, number | null][] }[] }>(
        `${url}/api/metrics?agent=${agentId}&name=${name}&from=${startedAt - 1000}&to=${Date.now()}&step=0`,
      );
      for (const s of r.series) {
        for (const [t, v] of s.points) {
          const l = stored.get(t) ?? new SampleLedger();
          stored.set(t, l);
          l.add(s.name, s.labels, t, v);
        }
      }
    }
    let reports = 0;
    let lostTorn = 0;
    const generated = new Set<number>();
    runs.forEach((run, i) => {
      // The last report of a killed run may have died before it was spooled: all of it, or none of it, is stored.
      const lastLost = i < KILLS && run.lastReport.size > 0 && [...run.lastReport].every((t) => !stored.has(t));
      if (lastLost) lostTorn++;
      for (const [t, ledger] of [...run.stamps].sort((a, b) => a[0] - b[0])) {
        generated.add(t);
        if (lastLost && run.lastReport.has(t)) continue;
        reports++;
        expect(stored.get(t)?.toJSON(), `seed ${seed} run ${i} samples at ${t}`).toEqual(ledger.toJSON());
      }
    });
    // Nothing in the store that the agent did not generate.
    expect([...stored.keys()].filter((t) => !generated.has(t))).toEqual([]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    // Nothing the server already held was sent to it again.
    expect(metrics).toMatch(/^falconet_server_reports_duplicate_total 0$/m);
    expect(metrics).not.toMatch(/reason="replayed_sequence"/);
    // Every report since the last server start came in the compact encoding (docs/transport.md).
    expect(Number(/^falconet_server_agent_reports_total\{encoding="compact"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^falconet_server_agent_reports_total\{encoding="sample_batch"\} 0$/m);
    process.stderr.write(
      `agent-kill (seed ${seed}): ${KILLS} agent kills, ${serverKills} server kills, ${reports} collection timestamps stored exactly, ${lostTorn} reports in flight at a kill not stored, ` +
        `${truncatedLogs} torn tails truncated\n`,
    );
    expect(lostTorn).toBeLessThanOrEqual(KILLS);
    expect(reports).toBeGreaterThan(KILLS * 2);
  }, 300_000);
});
