import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import { type AgentProc, eventually, type ServerProc, stablePort, startAgent, startServer, tempDir } from '../testing/processes.ts';

/** Fills the file system under `dir` to its last byte with one file. */
function fill(dir: string): string {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 << 10, 0x5a);
  for (const step of [64 << 10, 4096, 1]) {
    for (;;) {
      try {
        if (writeSync(fd, chunk, 0, step) < step) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        break;
      }
    }
  }
  closeSync(fd);
  return file;
}

const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);

describe('agent spool on a full disk', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('drops its oldest reports (counted on /metrics, logged once), keeps collecting, and delivers everything it kept exactly once', async () => {
    // The agent's data dir on a real 2 MiB tmpfs (root, as CI runs); its log file elsewhere.
    const dataDir = tempDir('falconet-spool-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dataDir]);
    cleanup.push(() => {
      execFileSync('umount', ['-l', dataDir]);
    });
    const logFile = join(tempDir('falconet-spool-full-log-'), 'agent.log');
    const grpcPort = await stablePort();
    let server: ServerProc | undefined;
    cleanup.push(async () => server?.stop());
    const agent: AgentProc = await startAgent({
      server: `127.0.0.1:${grpcPort}`,
      dataDir,
      interval: '250ms',
      args: ['--debug', '--log.level', 'info', '--log.file', logFile],
      // The log file is the ledger of what was collected: never rotated away under it.
      env: { FALCONET_SPOOL_SEGMENT_BYTES: '64k', FALCONET_SPOOL_MAX_BYTES: '64MiB', FALCONET_LOG_MAX_SIZE: String(2 ** 31) },
    });
    cleanup.push(() => agent.stop());
    const metrics = async () => (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    const startedAt = Date.now();
    // The server is not there: everything stays in the spool. Some reports first, then a full disk.
    await eventually(async () => metric(await metrics(), /^falconet_agent_spool_pending_reports (\d+)/m) >= 8, 30_000);
    const filler = fill(dataDir);
    const dropped = async () => metric(await metrics(), /^falconet_agent_spool_dropped_reports_total\{reason="disk_full"\} (\d+)/m);
    await eventually(async () => (await dropped()) >= 20, 60_000);
    // Still collecting and serving: the appended counter moves on a full disk.
    const appendedFull = metric(await metrics(), /^falconet_agent_spool_appended_reports_total (\d+)/m);
    await eventually(async () => metric(await metrics(), /^falconet_agent_spool_appended_reports_total (\d+)/m) > appendedFull + 3, 30_000);
    // Room again, then the server.
    rmSync(filler);
    await agent.waitFor(/the spool's disk has room again/, 60_000);
    server = await startServer({ grpcPort });
    await eventually(async () => metric(await metrics(), /^falconet_agent_spool_pending_reports (\d+)/m) === 0, 60_000);
    const droppedReports = await dropped();
    await agent.stop('SIGTERM');

    // What the agent generated, report by report (its debug log), against what the server stored.
    const reports = new Map<number, { stamps: Set<number>; ledger: SampleLedger }>();
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (!line.includes('"msg":"sample"')) continue;
      const s = JSON.parse(line) as { report: number; sample: string; labels: Record<string, string>; value: number | null; ts: number };
      const r = reports.get(s.report) ?? { stamps: new Set<number>(), ledger: new SampleLedger() };
      reports.set(s.report, r);
      r.stamps.add(s.ts);
      r.ledger.add(s.sample, s.labels, s.ts, s.value);
    }
    const agentId = readFileSync(join(dataDir, 'agent-id'), 'utf8').trim();
    const byStamp = new Map<number, SampleLedger>();
    const stored = await storedLedger(server.url, agentId, startedAt - 60_000, Date.now() + 60_000, byStamp);
    const expected = new SampleLedger();
    let kept = 0;
    let lost = 0;
    const lostReports: number[] = [];
    for (const [n, r] of reports) {
      const present = [...r.stamps].filter((t) => byStamp.has(t)).length;
      // A report is delivered whole or dropped whole.
      expect(present === 0 || present === r.stamps.size, `report ${n}: ${present} of ${r.stamps.size} timestamps stored`).toBe(true);
      if (present) {
        kept++;
        expected.merge(r.ledger);
      } else {
        lost++;
        lostReports.push(n);
      }
    }
    const serverMetrics = await (await fetch(`${server.url}/metrics`)).text();
    const lines = agent.lines.filter((l) => l.includes("the spool's disk"));
    process.stderr.write(
      `spool-full: ${reports.size} reports collected, ${kept} delivered (${stored.count} samples, checksum ${stored.checksum}), ` +
        `${lost} dropped for a full disk; the agent said: ${lines.map((l) => JSON.parse(l).msg).join(' | ')}\n`,
    );
    expect(stored.toJSON()).toEqual(expected.toJSON());
    // Every report not stored is one the agent counted as dropped, and none was sent twice.
    expect(lost).toBe(droppedReports);
    // Oldest first: what was dropped is the first reports, nothing after them.
    expect(lostReports.sort((a, b) => a - b)).toEqual(Array.from({ length: lost }, (_, i) => i + 1));
    expect(serverMetrics).toMatch(/^falconet_server_reports_duplicate_total 0$/m);
    // Logged once per change, not once per report.
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      "the spool's disk is full (ENOSPC): dropping the oldest spooled reports to make room for new ones",
      "the spool's disk has room again: spooling resumed",
    ]);
    expect(agent.lines.some((l) => l.includes('could not spool a report'))).toBe(false);
  });
});
