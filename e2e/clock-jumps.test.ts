import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import { type AgentProc, eventually, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

// Real clocks moved by libfaketime (Debian's `faketime`), preloaded into the real agent and server
// processes: Node's Date.now follows it. Timers run on the monotonic clock, left alone.
const FAKE_LIB = execFileSync('faketime', ['-f', '+0', 'sh', '-c', 'printf %s "$LD_PRELOAD"'], { encoding: 'utf8' });
const clockAt = (offset: string) => ({ LD_PRELOAD: FAKE_LIB, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' });
const HOUR = 3_600_000;

const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
const skewRefusals = async (server: ServerProc) =>
  metric(
    await (await fetch(`${server.url}/metrics`)).text(),
    /^falconet_server_ingest_rejected_total\{channel="grpc",reason="clock_skew"\} (\d+)/m,
  );

/** What an agent run with --debug generated (its log file), report by report. */
function generated(logFile: string): { reports: number; ledger: SampleLedger; minTs: number; maxTs: number } {
  const ledger = new SampleLedger();
  const reports = new Set<number>();
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"msg":"sample"')) continue;
    const s = JSON.parse(line) as { report: number; sample: string; labels: Record<string, string>; value: number | null; ts: number };
    reports.add(s.report);
    ledger.add(s.sample, s.labels, s.ts, s.value);
    minTs = Math.min(minTs, s.ts);
    maxTs = Math.max(maxTs, s.ts);
  }
  return { reports: reports.size, ledger, minTs, maxTs };
}

const agentIdOf = (a: AgentProc) => readFileSync(join(a.dataDir, 'agent-id'), 'utf8').trim();

describe('clock jumps (faketime)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  const agentWith = async (server: ServerProc, offset: string | undefined, logFile: string, dataDir?: string) => {
    const a = await startAgent({
      server: `127.0.0.1:${server.grpcPort}`,
      dataDir,
      interval: '500ms',
      args: ['--debug', '--log.level', 'info', '--log.file', logFile],
      // The log file is the ledger of what was collected: never rotated away under it.
      env: { FALCONET_LOG_MAX_SIZE: String(2 ** 31), ...(offset ? clockAt(offset) : {}) },
    });
    cleanup.push(() => a.stop());
    return a;
  };

  it('agents 3 h ahead and 3 h behind a real server: ahead refused by the skew policy (counted, each report once), behind stored whole', async () => {
    const server = await startServer();
    cleanup.push(() => server.stop());
    const logs = tempDir('falconet-clock-agents-');
    const ahead = await agentWith(server, '+3h', join(logs, 'ahead.log'));
    const behind = await agentWith(server, '-3h', join(logs, 'behind.log'));
    await eventually(async () => (await skewRefusals(server)) >= 5, 60_000);
    const agentMetrics = await (await fetch(`http://127.0.0.1:${ahead.metricsPort}/metrics`)).text();
    expect(metric(agentMetrics, /^falconet_agent_transport_rejected_reports_total (\d+)/m)).toBeGreaterThan(0);
    await eventually(async () => {
      const m = await (await fetch(`http://127.0.0.1:${behind.metricsPort}/metrics`)).text();
      return metric(m, /^falconet_agent_transport_acked_reports_total (\d+)/m) >= 5 || undefined;
    }, 60_000);
    await ahead.stop('SIGTERM');
    await behind.stop('SIGTERM');

    const a = generated(join(logs, 'ahead.log'));
    const b = generated(join(logs, 'behind.log'));
    // The moved clocks really moved the agents' timestamps.
    expect(a.minTs).toBeGreaterThan(Date.now() + 2 * HOUR);
    expect(b.maxTs).toBeLessThan(Date.now() - 2 * HOUR);
    const refused = await skewRefusals(server);
    // Ranges no wider than what each agent made: a wide one would be answered downsampled.
    const storedAhead = await storedLedger(server.url, agentIdOf(ahead), a.minTs - 1000, a.maxTs + 1000);
    const storedBehind = await storedLedger(server.url, agentIdOf(behind), b.minTs - 1000, b.maxTs + 1000);
    const aheadSaid = ahead.lines
      .filter((l) => !l.includes('"msg":"sample"') && (l.includes('clock') || l.includes('ahead of the server')))
      .map((l) => JSON.parse(l).msg as string);
    const refusalLines = ahead.lines.filter((l) => l.includes('server refused a report'));
    const refusal = refusalLines[0];
    process.stderr.write(
      `clock-jumps agents: +3 h agent made ${a.reports} reports (${a.ledger.count} samples), server refused ${refused} as clock_skew, stored ${storedAhead.count}; ` +
        `-3 h agent made ${b.reports} reports, ${b.ledger.count} samples checksum ${b.ledger.checksum}, stored ${storedBehind.count} checksum ${storedBehind.checksum}; ` +
        `the +3 h agent said: ${[...new Set(aheadSaid)].join(' | ')}; refusal (${refusalLines.length} lines): ${refusal ? JSON.parse(refusal).error : 'none'}\n`,
    );
    // Ahead: nothing stored, every report refused exactly once (no retry loop), and said why.
    expect(storedAhead.count).toBe(0);
    expect(refused).toBe(a.reports);
    expect(aheadSaid).toContain(
      "this host's clock differs from the server's by more than a minute; the server refuses samples too far ahead",
    );
    // Said, not repeated for each report: the same cause is logged at most once a minute.
    expect(refusalLines.length).toBeGreaterThanOrEqual(1);
    expect(refusalLines.length).toBeLessThan(a.reports);
    expect(refusal && JSON.parse(refusal).error).toMatch(
      /samples are stamped \d+ s ahead of the server's clock \(limit 300 s\); fix the agent host's clock \(NTP\)/,
    );
    // Behind: every sample, once.
    expect(storedBehind.toJSON()).toEqual(b.ledger.toJSON());
    expect(await (await fetch(`${server.url}/metrics`)).text()).toMatch(/^falconet_server_reports_duplicate_total 0$/m);
  });

  it('a server restarted 400 days ahead, then 3 h behind: everything stored is still there, new reports go on (ahead) or are refused by the skew policy (behind), no crash', async () => {
    const logs = tempDir('falconet-clock-server-');
    const dataDir = tempDir('falconet-clock-server-data-');
    const agentDir = tempDir('falconet-clock-server-agent-');
    let server = await startServer({ dataDir });
    let current: ServerProc | undefined = server;
    cleanup.push(async () => current?.stop());
    const { grpcPort, httpPort } = server;
    const from = Date.now() - 60_000;
    const restart = async (offset: string) => {
      await server.stop('SIGTERM');
      server = await startServer({ dataDir, grpcPort, httpPort, env: clockAt(offset) });
      current = server;
    };
    const runAgent = async (name: string, reports: number) => {
      const agent = await agentWith(server, undefined, join(logs, `${name}.log`), agentDir);
      await eventually(async () => {
        const m = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
        // Refused reports are acknowledged too (with the error).
        return metric(m, /^falconet_agent_transport_acked_reports_total (\d+)/m) >= reports || undefined;
      }, 60_000);
      await agent.stop('SIGTERM');
      return { agent, made: generated(join(logs, `${name}.log`)) };
    };

    // Right clocks: the data to keep.
    const first = await runAgent('first', 6);
    const id = agentIdOf(first.agent);
    // A range no wider than the test's own run: a wide one would be answered downsampled.
    const stored = async () => storedLedger(server.url, id, from, Date.now() + 60_000);
    expect((await stored()).toJSON()).toEqual(first.made.ledger.toJSON());

    // 400 days ahead: retention runs every second while the agent reports again; nothing goes.
    await restart('+400d');
    const second = await runAgent('second', 6);
    expect(second.agent.lines.some((l) => l.includes("this host's clock differs from the server's"))).toBe(true);
    const afterJump = new SampleLedger();
    afterJump.merge(first.made.ledger);
    afterJump.merge(second.made.ledger);
    // Read after one more restart, so a retention pass at start has run too.
    await restart('+400d');
    const kept = await stored();
    expect(kept.toJSON()).toEqual(afterJump.toJSON());

    // 3 h behind: the agent's samples are 3 h ahead of it, refused once each by the skew policy.
    await restart('-3h');
    const third = await runAgent('third', 4);
    const refused = await skewRefusals(server);
    const finalStored = await stored();
    const serverMetrics = await (await fetch(`${server.url}/metrics`)).text();
    process.stderr.write(
      `clock-jumps server: ${first.made.reports + second.made.reports} reports, ${afterJump.count} samples (checksum ${afterJump.checksum}) stored before and after +400 d: ` +
        `${kept.count} (checksum ${kept.checksum}); at -3 h ${third.made.reports} reports refused ${refused} (clock_skew), stored ${finalStored.count} (checksum ${finalStored.checksum})\n`,
    );
    expect(refused).toBe(third.made.reports);
    expect(finalStored.toJSON()).toEqual(afterJump.toJSON());
    expect(serverMetrics).toMatch(/^falconet_server_reports_duplicate_total 0$/m);
    expect(server.child.exitCode).toBe(null);
  });
});
