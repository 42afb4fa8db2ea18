/**
 * etcd SIGKILLed and started again on the same data directory in etcd task mode, while a cron
 * task fires every second on the agent and while a command runs. The etcd is the test's own
 * (testing/etcd.ts). Afterwards the runs the server recorded hold every cron second exactly once
 * and the command's run once, and while etcd was away the server and the agent said so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type EtcdProc, startEtcd } from '../testing/etcd.ts';
import { type AgentProc, eventually, getJson, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

interface Run {
  agentId: string;
  startedMs: number;
  endedMs: number | null;
  runId: string;
  scheduledMs: number;
  status: string;
  exitCode: number | null;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string) => process.stderr.write(`[etcd-restart ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('etcd restarted under etcd task mode', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  it('SIGKILL and start on the same data: cron runs neither lost nor doubled, the running command recorded once, a clear message while down', {
    timeout: 180_000,
  }, async () => {
    const etcd: EtcdProc = await startEtcd();
    cleanup.push(async () => {
      etcd.client.close();
      await etcd.stop();
    });
    const dir = tempDir('falconet-etcd-restart-');
    const serverConfig = join(dir, 'server.yaml');
    writeFileSync(serverConfig, stringify({ tasks: { backend: 'etcd', etcd: { endpoints: [etcd.endpoint] } } }));
    const server: ServerProc = await startServer({ args: ['--config', serverConfig] });
    cleanup.push(() => server.stop());
    const agentConfig = join(dir, 'agent.yaml');
    writeFileSync(
      agentConfig,
      stringify({
        tasks: {
          enabled: true,
          backend: 'etcd',
          etcd: { endpoints: etcd.endpoint, lease_ttl: '3s', renew_interval: '1s' },
          allow: [
            { command: '/bin/echo', rest: '[a-z]+' },
            { command: '/bin/sleep', rest: '[0-9]+' },
          ],
        },
      }),
    );
    const agent: AgentProc = await startAgent({ server: `127.0.0.1:${server.grpcPort}`, args: ['--config', agentConfig] });
    cleanup.push(() => agent.stop());
    const agentId = (JSON.parse(await agent.waitFor(/"reporting to server"/)) as { agentId: string }).agentId;
    await agent.waitFor(/pinned the server task-signing key/);

    const cron = await api('POST', `${server.url}/api/tasks`, {
      command: '/bin/echo',
      args: ['tick'],
      agents: [agentId],
      schedule: '* * * * * *',
    });
    expect(cron.status).toBe(201);
    const cronId = (cron.json.task as { id: string }).id;
    const runsOf = async (taskId: string) => (await getJson<{ runs: Run[] }>(`${server.url}/api/tasks/${taskId}?limit=1000`)).runs;
    await eventually(async () => (await runsOf(cronId)).filter((r) => r.status === 'succeeded').length >= 2, 20_000);

    // A second cron job, yearly, that is paused while etcd is away: the pause must reach etcd and the agent afterwards.
    const yearly = await api('POST', `${server.url}/api/tasks`, {
      command: '/bin/echo',
      args: ['yearly'],
      agents: [agentId],
      schedule: '0 0 1 1 *',
    });
    const yearlyId = (yearly.json.task as { id: string }).id;
    await agent.waitFor((l) => l.includes('"cron job added"') && l.includes(yearlyId), 10_000);

    // A command that runs through the outage.
    const cmd = await api('POST', `${server.url}/api/tasks`, { command: '/bin/sleep', args: ['6'], agents: [agentId] });
    expect(cmd.status).toBe(201);
    const cmdId = (cmd.json.task as { id: string }).id;
    await agent.waitFor((l) => l.includes('"task started"') && l.includes(cmdId), 10_000);

    const serverBefore = server.lines.length;
    const agentBefore = agent.lines.length;
    await etcd.stop('SIGKILL');
    const killedAt = Date.now();
    progress('etcd SIGKILLed while the cron task fires and the command runs');
    // The server and the agent say etcd is away.
    const serverSaid = await eventually(
      () => server.lines.slice(serverBefore).find((l) => l.includes('"etcd unavailable: agents keep running')),
      15_000,
      100,
    );
    const agentSaid = await eventually(
      () => agent.lines.slice(agentBefore).find((l) => l.includes('etcd lease renewal failing')),
      15_000,
      100,
    );
    progress(`server said: ${serverSaid}`);
    progress(`agent said: ${agentSaid}`);
    // A change asked for while etcd is away: answered at once with what happened to the write.
    const paused = await api('POST', `${server.url}/api/tasks/${cronId}/pause`);
    progress(`pause while etcd is down: ${paused.status} ${JSON.stringify(paused.json).slice(0, 400)}`);
    const resumed = await api('POST', `${server.url}/api/tasks/${cronId}/resume`);
    progress(`resume while etcd is down: ${resumed.status} ${JSON.stringify(resumed.json).slice(0, 400)}`);
    expect((await api('POST', `${server.url}/api/tasks/${yearlyId}/pause`)).status).toBe(200);
    // The operator sees in the task audit that the write waits for etcd.
    const audit = (
      await getJson<{ items: { taskId: string; action: string; result: string }[] }>(`${server.url}/api/tasks/audit?limit=1000`)
    ).items;
    const pausedEntry = audit.find((e) => e.taskId === yearlyId && e.action === 'pause');
    progress(`task audit while etcd is down: ${JSON.stringify(pausedEntry)}`);
    expect(pausedEntry?.result).toMatch(/^etcd write failed \(.+\); written again when etcd is back$/);
    const downMetrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(downMetrics).toMatch(/^falconet_server_task_etcd_up 0$/m);
    await sleep(Math.max(0, killedAt + 4_000 - Date.now()));
    await etcd.restart();
    progress(`etcd started again on the same data after ${Date.now() - killedAt} ms`);
    await eventually(() => server.lines.slice(serverBefore).find((l) => l.includes('etcd reachable again')), 15_000, 100);
    const upMetrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(upMetrics).toMatch(/^falconet_server_task_etcd_up 1$/m);
    expect(upMetrics).toMatch(/^falconet_server_task_etcd_outages_total 1$/m);
    // The pause made while etcd was away is in etcd now, and the agent paused the job.
    await eventually(async () => {
      const v = await etcd.client.get(`/falconet/jobs/${agentId}/${yearlyId}`).string();
      return v !== null && JSON.parse(v).status === 'paused';
    }, 10_000);
    await agent.waitFor((l) => l.includes('"cron job paused"') && l.includes(yearlyId), 10_000);
    // The cron job paused and resumed while etcd was away holds its last state, running.
    expect(JSON.parse((await etcd.client.get(`/falconet/jobs/${agentId}/${cronId}`).string()) as string).status).toBe('running');

    // The command ran through it: one run, succeeded.
    await eventually(async () => (await runsOf(cmdId)).every((r) => r.status === 'succeeded'), 20_000, 200);
    const cmdRuns = await runsOf(cmdId);
    expect((cmdRuns[0]?.startedMs ?? 0) < killedAt && (cmdRuns[0]?.endedMs ?? 0) > killedAt).toBe(true);
    expect(cmdRuns.map((r) => [r.agentId, r.status, r.exitCode])).toEqual([[agentId, 'succeeded', 0]]);

    // A few more seconds of cron after the restart, then stop it and count the seconds.
    await sleep(4_000);
    const del = await api('DELETE', `${server.url}/api/tasks/${cronId}`);
    expect(del.status).toBe(200);
    await agent.waitFor((l) => l.includes('cron job removed') && l.includes(cronId), 20_000);
    await sleep(2_000);
    const runs = (await runsOf(cronId)).sort((a, b) => a.scheduledMs - b.scheduledMs);
    const seconds = runs.map((r) => r.scheduledMs);
    const doubled = seconds.filter((s, i) => i > 0 && s === seconds[i - 1]);
    const first = seconds[0] as number;
    const last = seconds.at(-1) as number;
    const missing: number[] = [];
    for (let s = first; s <= last; s += 1000) if (!seconds.includes(s)) missing.push(s);
    progress(
      `cron runs recorded: ${runs.length} from ${new Date(first).toISOString()} to ${new Date(last).toISOString()} ` +
        `(${(last - first) / 1000 + 1} seconds); missing ${missing.length}, doubled ${doubled.length}; ` +
        `${runs.filter((r) => r.status === 'succeeded').length} succeeded`,
    );
    expect(doubled).toEqual([]);
    expect(missing).toEqual([]);
    expect(first).toBeLessThan(killedAt - 1000);
    expect(last).toBeGreaterThan(killedAt + 6_000);
    expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
  });
});
