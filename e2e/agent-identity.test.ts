/**
 * An agent token is one agent's identity, from the attacker's seat: a real server, a real victim
 * agent process (its own token, tasks on), and an attacker holding a valid token made for another
 * host ("web-2") who speaks the real agent channel with a scripted client. Every attempt to become
 * the victim, take its tasks, forge its task output or break its sequence numbers is refused,
 * counted and audited, and the victim's stored samples (count and checksum), spool and later
 * reports are unharmed, through a server restart.
 */
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pb, type Sample } from '@falconet/protocol';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type RawStream, rawStream, registerMessage, registerOn, rejectedCount, reportMessage } from '../testing/agent-channel.ts';
import { scrapedValue } from '../testing/exposition.ts';
import { storedLedger } from '../testing/ledger.ts';
import {
  type AgentProc,
  createToken,
  eventually,
  getJson,
  type ServerProc,
  stablePort,
  startAgent,
  startServer,
  tempDir,
} from '../testing/processes.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API, checked field by field by the assertions
type Json = any;

const VICTIM = 'victim-agent-1';
const SECRET = `victim-secret-${Math.random().toString(36).slice(2)}`;

async function post(url: string, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Json };
}

/** One value of an agent's or the server's /metrics, 0 when absent. */
function metric(text: string, name: string): number {
  return scrapedValue(text, name) ?? 0;
}

const gauge = (name: string, value: number): Sample => ({ name, labels: {}, value, timestampMs: Date.now() });

describe('an agent token is one agent identity', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('refuses a token made for web-2 as the victim agent, its tasks, its task output and its sequence', async () => {
    // Ports outside the ephemeral range: the server restarts on them at the end.
    const ports = { httpPort: await stablePort(), grpcPort: await stablePort(), transferPort: await stablePort() };
    let server: ServerProc = await startServer(ports);
    cleanup.push(() => server.stop());
    const target = `127.0.0.1:${server.grpcPort}`;
    const victimToken = await createToken(server.dataDir, { agent: hostname() });
    const attackerToken = await createToken(server.dataDir, { agent: 'web-2' });

    // The victim: a real agent with a fixed id, tasks on, allowed to print one variable of the task's environment.
    const agentDir = tempDir('falconet-victim-');
    writeFileSync(join(agentDir, 'agent-id'), `${VICTIM}\n`);
    const config = join(agentDir, 'agent.yaml');
    writeFileSync(
      config,
      stringify({
        tasks: {
          enabled: true,
          allow: [{ command: '/usr/bin/printenv', args: ['FALCONET_E2E_SECRET'], env: ['FALCONET_E2E_SECRET'] }],
        },
      }),
    );
    const agent: AgentProc = await startAgent({
      server: target,
      dataDir: agentDir,
      args: ['--config', config],
      env: { FALCONET_SERVER_TOKEN: victimToken.token },
    });
    cleanup.push(() => agent.stop());
    await agent.waitFor(/"connected to server"/);
    await agent.waitFor(/pinned the server task-signing key/);
    const startedMs = Date.now();
    const agentMetrics = async () => await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    await eventually(async () => metric(await agentMetrics(), 'falconet_agent_transport_acked_reports_total') >= 3);

    // What the victim has stored before the attack, read back through the API.
    const beforeAttackMs = Date.now();
    const ledgerBefore = await storedLedger(server.url, VICTIM, startedMs - 60_000, beforeAttackMs);
    expect(ledgerBefore.count).toBeGreaterThan(0);
    const recordBefore = await getJson<Json>(`${server.url}/api/agents/${VICTIM}`);
    expect(recordBefore.hostname).toBe(hostname());

    // 1. The finding: the token for web-2, presented with the hostname web-2 and the victim's agent id.
    const attempts: RawStream[] = [];
    const attempt = async (agentId: string, host: string) => {
      const s = rawStream(target);
      attempts.push(s);
      return await registerOn(s, registerMessage(agentId, { hostname: host, token: attackerToken.token })).then(
        () => 'registered',
        (err: { code?: number; details?: string }) => `${err.code}: ${err.details}`,
      );
    };
    expect(await attempt(VICTIM, 'web-2')).toBe(
      `${GrpcStatus.UNAUTHENTICATED}: agent token rejected: agent id "${VICTIM}" is already known as host "${hostname()}"; token ${attackerToken.id} cannot take it`,
    );
    // The victim's id with the victim's hostname: the token names neither.
    expect(await attempt(VICTIM, hostname())).toMatch(
      new RegExp(`^${GrpcStatus.UNAUTHENTICATED}: agent token rejected: token ${attackerToken.id} is for agent "web-2", not `),
    );

    // 2. The attacker enrols as what its token is for; from then on it is bound to that identity.
    const mine = rawStream(target);
    attempts.push(mine);
    await registerOn(mine, registerMessage('attacker-1', { hostname: 'web-2', token: attackerToken.token, labels: { role: 'db' } }));
    expect(await attempt(VICTIM, 'web-2')).toBe(
      `${GrpcStatus.UNAUTHENTICATED}: agent token rejected: token ${attackerToken.id} is bound to agent "attacker-1" (host "web-2"), not "${VICTIM}" (host "web-2"); ` +
        'a reinstalled or renamed host needs a token of its own (falconet-server create-token --agent NAME)',
    );
    expect(await attempt('attacker-2', 'web-2')).toMatch(/is bound to agent "attacker-1"/);

    // 3. A task for role=db, with a secret in its environment. The attacker declared role=db; the
    // victim is role=db on the server's word. Only the victim gets it.
    const labelled = await fetch(`${server.url}/api/agents/${VICTIM}/labels`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ labels: { role: 'db' } }),
    });
    expect(labelled.status).toBe(200);
    const created = await post(`${server.url}/api/tasks`, {
      command: '/usr/bin/printenv',
      args: ['FALCONET_E2E_SECRET'],
      env: { FALCONET_E2E_SECRET: SECRET },
      labels: { role: 'db' },
    });
    expect(created.status).toBe(201);
    expect(created.body.task.agentIds).toEqual([VICTIM]);
    const taskId = created.body.task.id as string;
    // The attacker reports output for the victim's run, as if it had run it: "succeeded", with forged text.
    const forged = (seq: number, stream: pb.TaskOutput_Stream, data: string): pb.AgentMessage => ({
      body: {
        $case: 'taskOutput',
        value: pb.TaskOutput.fromPartial({ taskId, runId: taskId, seq, stream, data: Buffer.from(data), exitCode: 0, timeMs: Date.now() }),
      },
    });
    mine.send(forged(1, pb.TaskOutput_Stream.STREAM_STDOUT, 'forged output\n'));
    mine.send(forged(2, pb.TaskOutput_Stream.STREAM_EXIT, ''));
    const run = await eventually(async () => {
      const t = await getJson<Json>(`${server.url}/api/tasks/${taskId}`);
      return t.runs.find((r: Json) => r.status === 'succeeded');
    });
    expect(run.agentId).toBe(VICTIM);
    const task = await getJson<Json>(`${server.url}/api/tasks/${taskId}`);
    expect(task.runs).toHaveLength(1);
    const output = await getJson<Json>(`${server.url}/api/tasks/${taskId}/runs/${VICTIM}/${taskId}/output`);
    expect(output.output.filter((o: Json) => o.stream === 'stdout').map((o: Json) => o.data)).toEqual([`${SECRET}\n`]);
    // Nothing was stored for the attacker's agent id, and its stream never carried a task.
    await eventually(async () => {
      const audit = await getJson<Json>(`${server.url}/api/tasks/audit?task=${taskId}&action=output_refused`);
      return audit.items.length >= 1 && audit.items;
    });
    const refusedOutput = await getJson<Json>(`${server.url}/api/tasks/audit?task=${taskId}&action=output_refused`);
    expect(refusedOutput.items[0]).toMatchObject({ agentId: 'attacker-1', actor: 'agent:attacker-1' });
    expect(refusedOutput.items[0].result).toMatch(/not dispatched to agent "attacker-1"/);
    const none = await fetch(`${server.url}/api/tasks/${taskId}/runs/attacker-1/${taskId}/output`);
    expect(none.status).toBe(404);
    expect(mine.received.filter((m) => m.body?.$case === 'task')).toEqual([]);
    expect(JSON.stringify(attempts.flatMap((s) => s.received))).not.toContain(SECRET);

    // 4. Sequence numbers near 2^53 on the attacker's own stream: refused, never stored as its last sequence.
    mine.send(reportMessage(2 ** 53 - 2, [gauge('attacker_value', 1)]));
    const jump = await mine.ended;
    expect(jump?.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(jump?.details).toMatch(
      /^report sequence 9007199254740990 refused: an agent the server holds no sequence for starts at or below 1099511627776/,
    );
    const again = rawStream(target);
    attempts.push(again);
    expect((await registerOn(again, registerMessage('attacker-1', { hostname: 'web-2', token: attackerToken.token }))).lastSeq).toBe(0);
    again.send(reportMessage(1, [gauge('attacker_value', 1)]));
    expect((await again.next()).body).toEqual({ $case: 'ack', value: { seq: 1, error: '' } });
    again.send(reportMessage(1 + 2 ** 40, [gauge('attacker_value', 2)]));
    expect((await again.ended)?.details).toMatch(
      /^report sequence 1099511627777 is 1099511627776 beyond the last acknowledged 1 \(ingest.max_sequence_jump 100000000\)/,
    );
    for (const s of attempts) s.close();

    // Refused, counted and audited.
    const serverMetrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(rejectedCount(serverMetrics, 'grpc', 'token_wrong_agent')).toBe(4);
    expect(rejectedCount(serverMetrics, 'grpc', 'sequence_jump')).toBe(2);
    expect(metric(serverMetrics, 'falconet_server_task_outputs_refused_total')).toBe(2);
    expect(metric(serverMetrics, 'falconet_server_reports_duplicate_total')).toBe(0);
    const audit = (await getJson<Json>(`${server.url}/api/audit?actor=agent-token:${attackerToken.id}&limit=100`)).items;
    const denied = audit.filter((e: Json) => e.outcome === 'denied');
    expect(denied.filter((e: Json) => e.action === 'agent.register')).toHaveLength(4);
    expect(denied.filter((e: Json) => e.action === 'agent.report')).toHaveLength(2);
    expect(denied.filter((e: Json) => e.action === 'task.output').map((e: Json) => [e.target, e.detail.taskId, e.detail.message])).toEqual([
      ['attacker-1', taskId, `task "${taskId}" was not dispatched to agent "attacker-1"`],
      ['attacker-1', taskId, `task "${taskId}" was not dispatched to agent "attacker-1"`],
    ]);
    // Newest first: the last is the first attempt, the finding itself.
    expect(denied.filter((e: Json) => e.action === 'agent.register').at(-1)).toMatchObject({
      target: VICTIM,
      address: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      detail: { reason: 'token_wrong_agent', agentId: VICTIM, hostname: 'web-2', token: attackerToken.id },
    });
    expect(audit.find((e: Json) => e.action === 'agent.enrol')).toMatchObject({
      outcome: 'ok',
      target: 'attacker-1',
      detail: { agentId: 'attacker-1', hostname: 'web-2', token: attackerToken.id },
    });

    // The victim is unharmed: its record, what it had stored, and everything it sends later.
    const recordAfter = await getJson<Json>(`${server.url}/api/agents/${VICTIM}`);
    const identityOf = (r: Json) => [
      r.id,
      r.hostname,
      r.ips,
      r.primaryIp,
      r.os,
      r.kernel,
      r.arch,
      r.version,
      r.labels,
      r.firstSeenMs,
      r.bootTimeMs,
    ];
    expect(identityOf(recordAfter)).toEqual(identityOf(recordBefore));
    expect(recordAfter.status).toBe('online');
    const ledgerAfter = await storedLedger(server.url, VICTIM, startedMs - 60_000, beforeAttackMs);
    expect(ledgerAfter.toJSON()).toEqual(ledgerBefore.toJSON());
    const attackEndMs = Date.now();
    await victimStoresAfter(server, attackEndMs);
    const victimMetrics = await agentMetrics();
    expect(metric(victimMetrics, 'falconet_agent_transport_rejected_reports_total')).toBe(0);
    expect(metric(victimMetrics, 'falconet_agent_spool_dropped_reports_total')).toBe(0);
    // Every report the victim's spool let go of was stored: one uptime sample per report.
    const acked = metric(victimMetrics, 'falconet_agent_transport_acked_reports_total');
    const stored = await uptimePoints(server, startedMs - 60_000);
    expect(stored).toBeGreaterThanOrEqual(acked);
    expect(stored).toBeLessThanOrEqual(metric(await agentMetrics(), 'falconet_agent_spool_appended_reports_total'));

    // After a restart of the server the victim reconnects and goes on; its past is as it was.
    await server.stop();
    server = await startServer({ ...ports, dataDir: server.dataDir });
    const restartedMs = Date.now();
    await eventually(async () => agent.lines.filter((l) => l.includes('"connected to server"')).length >= 2, 60_000);
    await victimStoresAfter(server, restartedMs);
    expect((await storedLedger(server.url, VICTIM, startedMs - 60_000, beforeAttackMs)).toJSON()).toEqual(ledgerBefore.toJSON());
    const afterRestart = await (await fetch(`${server.url}/metrics`)).text();
    expect(metric(afterRestart, 'falconet_server_reports_duplicate_total')).toBe(0);
    expect(metric(await agentMetrics(), 'falconet_agent_transport_rejected_reports_total')).toBe(0);
    expect((await getJson<Json>(`${server.url}/api/agents/${VICTIM}`)).hostname).toBe(hostname());
  });
});

/** Waits until the victim has stored samples stamped after `sinceMs`. */
async function victimStoresAfter(server: ServerProc, sinceMs: number): Promise<void> {
  await eventually(async () => {
    const r = await getJson<Json>(
      `${server.url}/api/metrics?agent=${VICTIM}&name=falconet_uptime_seconds&from=${sinceMs}&to=${Date.now() + 60_000}&step=0`,
    );
    return (r.series[0]?.points.length ?? 0) >= 2;
  }, 60_000);
}

/** Points of the victim's uptime series since `fromMs`: the agent puts one in every report. */
async function uptimePoints(server: ServerProc, fromMs: number): Promise<number> {
  const r = await getJson<Json>(
    `${server.url}/api/metrics?agent=${VICTIM}&name=falconet_uptime_seconds&from=${fromMs}&to=${Date.now() + 60_000}&step=0`,
  );
  return r.series[0]?.points.length ?? 0;
}
