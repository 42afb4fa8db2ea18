/**
 * A cron job keeps firing on the agent while the server is down (and across an agent crash in
 * the middle of the outage); its results wait on disk and arrive, once each, when the server is back.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

interface Run {
  agentId: string;
  runId: string;
  scheduledMs: number;
  status: string;
  exitCode: number | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('cron jobs while the server is away', () => {
  let server: ServerProc | undefined;
  let agent: AgentProc | undefined;

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('fire on schedule during the outage and deliver their results after the server returns', async () => {
    const dir = tempDir('falconet-cron-e2e-');
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, stringify({ tasks: { enabled: true, allow: [{ name: 'clock', command: '/bin/date', args: ['\\+%s'] }] } }));
    server = await startServer();
    const grpc = `127.0.0.1:${server.grpcPort}`;
    agent = await startAgent({ server: grpc, args: ['--config', config] });
    const agentId = (JSON.parse(await agent.waitFor(/"reporting to server"/)) as { agentId: string }).agentId;
    await agent.waitFor(/pinned the server task-signing key/);

    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'clock', args: ['+%s'], agents: [agentId], schedule: '*/2 * * * * *', timezone: 'America/New_York' }),
    });
    const taskId = ((await res.json()) as { task: { id: string } }).task.id;
    const runsNow = async () => (await getJson<{ runs: Run[] }>(`${server?.url}/api/tasks/${taskId}?limit=1000`)).runs;
    await eventually(async () => (await runsNow()).some((r) => r.status === 'succeeded'));

    // The server goes away.
    const { dataDir, httpPort, grpcPort } = server;
    await server.stop();
    const downMs = Date.now();
    await sleep(4_500);
    // The agent crashes in the middle of the outage and comes back from its data directory alone.
    await agent.stop('SIGKILL');
    const killMs = Date.now();
    const outbox = join(agent.dataDir, 'tasks', 'outbox');
    const waiting = readdirSync(outbox).filter((f) => f.startsWith(`${taskId}@`));
    expect(waiting.length).toBeGreaterThanOrEqual(2);
    agent = await startAgent({ server: grpc, dataDir: agent.dataDir, metricsPort: agent.metricsPort, args: ['--config', config] });
    const loadedMs = (JSON.parse(await agent.waitFor(/"cron jobs loaded"/)) as { time: number }).time;
    await agent.waitFor((l) => l.includes('"task ended"') && l.includes(taskId));
    await sleep(3_000);
    const upMs = Date.now();
    server = await startServer({ dataDir, httpPort, grpcPort });

    // Every firing of the outage arrives, with its output, and the outbox empties.
    const expected = (from: number, to: number) => {
      const out: number[] = [];
      for (let t = Math.ceil((from + 500) / 2_000) * 2_000; t < to - 500; t += 2_000) out.push(t);
      return out;
    };
    // Firings while an agent process was up: before the crash, and after the restart loaded the job from disk.
    const wanted = [...expected(downMs, killMs), ...expected(loadedMs, upMs)];
    const during = await eventually(async () => {
      const runs = (await runsNow()).filter((r) => r.scheduledMs > downMs && r.scheduledMs < upMs);
      const have = new Set(runs.map((r) => r.scheduledMs));
      return wanted.every((t) => have.has(t)) && runs.every((r) => r.status !== 'running') ? runs : undefined;
    }, 60_000);
    await eventually(() => readdirSync(outbox).length === 0, 30_000);
    expect(wanted.length).toBeGreaterThanOrEqual(2);
    expect(during.some((r) => r.scheduledMs < killMs && r.status === 'succeeded')).toBe(true);
    expect(during.some((r) => r.scheduledMs > loadedMs && r.status === 'succeeded')).toBe(true);
    for (const r of during) expect(r.scheduledMs % 2_000).toBe(0);
    // A firing the crash cut short is reported as interrupted; every other one succeeded.
    expect(during.every((r) => r.status === 'succeeded' || r.status === 'interrupted')).toBe(true);
    const finished = during.filter((r) => r.status === 'succeeded');
    for (const run of finished) {
      const { output } = await getJson<{ output: { seq: number; stream: string; data: string }[] }>(
        `${server.url}/api/tasks/${taskId}/runs/${agentId}/${encodeURIComponent(run.runId)}/output`,
      );
      // Exactly once: one line of output and one exit, however many times the agent sent them.
      expect(output.map((o) => [o.seq, o.stream])).toEqual([
        [1, 'stdout'],
        [2, 'exit'],
      ]);
      const printed = Number((output[0] as { data: string }).data.trim()) * 1000;
      expect(Math.abs(printed - run.scheduledMs)).toBeLessThan(2_000);
    }
    const audit = await getJson<{ items: { action: string; result: string }[] }>(
      `${server.url}/api/tasks/audit?task=${taskId}&action=result&limit=1000`,
    );
    expect(audit.items.filter((e) => e.result === 'succeeded (exit 0)').length).toBeGreaterThanOrEqual(finished.length);
    process.stdout.write(
      `cron during outage: ${during.length} firings while the server was down for ${Math.round((upMs - downMs) / 1000)} s (agent killed and restarted in between), ${finished.length} succeeded, all delivered once after the server returned\n`,
    );
  });
});
