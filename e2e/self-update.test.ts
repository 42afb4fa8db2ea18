import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { AgentChannelService, type pb } from '@falconet/protocol';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import {
  type AgentProc,
  eventually,
  freePort,
  getJson,
  ROOT,
  runServer,
  type ServerProc,
  stablePort,
  startCommand,
  startServer,
  tempDir,
} from '../testing/processes.ts';
import { bareEnv, type Release, sharedRelease } from '../testing/release.ts';

/**
 * Signed self-update end to end (docs/update.md): real single-file builds A and B (linux-x64 only,
 * one build each, ~1 min here), a real server with B stored by `falconet-server release add`, and
 * agents running A's binary from directories of their own, pinning the server's release key.
 */

const VB = '0.2.0';
const VC = '0.3.0'; // /bin/false: exits at once
const VT = '0.4.0'; // A's binary, stored and then changed by one byte

interface RolloutAgent {
  agentId: string;
  state: string;
  fromVersion: string;
  toVersion: string;
  reason: string;
  updatedMs: number;
}
interface Rollout {
  id: string;
  counts: Record<string, number>;
  agents: RolloutAgent[];
}

interface SeaAgent {
  name: string;
  proc: AgentProc;
  binary: string;
  logFile: string;
  agentId: string;
}

/** Every collector off but two: the ledger reads every sample back from the log, so fewer is lighter. */
function smallConfig(dir: string): string {
  const names = readdirSync(join(ROOT, 'packages/agent/src/collectors'))
    .map((f) => /^([a-z0-9_]+)\.(linux|common)\.ts$/.exec(f)?.[1])
    .filter((n): n is string => Boolean(n));
  const lines = ['collectors:', ...[...new Set(names)].map((n) => `  ${n}: ${n === 'loadavg' || n === 'time'}`)];
  const file = join(dir, 'falconet-agent.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** What the agent logged (`--debug`) as sent, over all the processes that ran in its data directory. */
function loggedLedger(logFile: string): SampleLedger {
  const ledger = new SampleLedger();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"msg":"sample"')) continue;
    const s = JSON.parse(line) as { sample: string; labels: Record<string, string>; value: number | null; ts: number };
    ledger.add(s.sample, s.labels, s.ts, s.value);
  }
  return ledger;
}

describe('signed self-update', { timeout: 900_000 }, () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  let A: Release;
  let B: Release;
  let serverDir: string;
  let releaseKey: string;
  let server: ServerProc;
  let ports: { httpPort: number; grpcPort: number; transferPort: number };
  const agents: SeaAgent[] = [];
  const startedMs = Date.now();

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const agentVersion = async (id: string) =>
    (await getJson<{ version: string; connected: boolean }>(`${server.url}/api/agents/${id}`)).version;

  async function startSeaAgent(name: string, release: Release, keys: string[], grpcPort: number): Promise<SeaAgent> {
    const dir = tempDir(`falconet-update-${name}-`);
    mkdirSync(join(dir, 'bin'));
    const binary = join(dir, 'bin', 'falconet-agent');
    copyFileSync(release.file('falconet-agent', 'linux-x64'), binary);
    chmodSync(binary, 0o755);
    const dataDir = join(dir, 'data');
    const logFile = join(dir, 'agent.log');
    const metricsPort = await freePort();
    const args = [
      'run',
      '--config',
      smallConfig(dir),
      '--data-dir',
      dataDir,
      '--listen',
      `127.0.0.1:${metricsPort}`,
      '--interval',
      '1s',
      '--server',
      `127.0.0.1:${grpcPort}`,
      '--debug',
      '--log.level',
      'info',
      '--log.file',
      logFile,
    ];
    const env = bareEnv({
      FALCONET_REPORT_DYNAMIC: 'false',
      FALCONET_UPDATE_PUBLIC_KEYS: JSON.stringify(keys),
      // One file for every process of the run (old binary, new one on trial, new one after the swap).
      FALCONET_LOG_MAX_SIZE: String(1024 ** 3),
    });
    const proc = startCommand(binary, args, env, `agent ${name}`);
    cleanup.push(() => proc.stop('SIGTERM', 20_000));
    await proc.waitFor(/"exporter listening"/, 60_000);
    const agentId = readFileSync(join(dataDir, 'agent-id'), 'utf8').trim();
    const agent = { name, proc: Object.assign(proc, { dataDir, metricsPort }), binary, logFile, agentId };
    agents.push(agent);
    return agent;
  }

  const spoolPending = async (a: SeaAgent) =>
    Number(
      /^falconet_agent_spool_pending_reports (\d+)/m.exec(
        await (await fetch(`http://127.0.0.1:${a.proc.metricsPort}/metrics`)).text(),
      )?.[1] ?? Number.NaN,
    );

  const rollout = (id: string) => api<Rollout>('GET', `/api/rollouts/${id}`);

  beforeAll(async () => {
    [A, B] = await Promise.all([sharedRelease(), sharedRelease({ targets: ['linux-x64'], version: VB })]);
    serverDir = tempDir('falconet-update-server-');
    const key = await runServer(['release', 'key', '--data-dir', serverDir]);
    expect(key.code).toBe(0);
    releaseKey = `${key.out.filter((l) => !l.startsWith('falconet-server:')).join('\n')}\n`;
    expect(releaseKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const add = async (file: string, extra: string[] = []) => {
      const r = await runServer(['release', 'add', file, '--data-dir', serverDir, ...extra]);
      expect(r.code, r.out.join('\n')).toBe(0);
    };
    await add(A.file('falconet-agent', 'linux-x64'));
    await add(B.file('falconet-agent', 'linux-x64'));
    await add('/bin/false', ['--version', VC, '--target', 'linux-x64']);
    await add(A.file('falconet-agent', 'linux-x64'), ['--version', VT, '--target', 'linux-x64']);
    // The stored binary changed after its manifest was signed (a disk or a hand gone wrong, or worse).
    const stored = join(serverDir, 'releases', VT, 'linux-x64', 'falconet-agent');
    const fd = openSync(stored, 'r+');
    writeSync(fd, Buffer.from('tampered'), 0, 8, 4096);
    closeSync(fd);
    ports = { httpPort: await stablePort(), grpcPort: await stablePort(), transferPort: await stablePort() };
    server = await startServer({ dataDir: serverDir, ...ports });
    cleanup.push(() => server.stop());
  }, 600_000);

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('a rollout of B to 50 % updates exactly 2 of 4 agents, and what they spooled while the server was away is stored', async () => {
    expect(A.version).not.toBe(VB);
    const fleet = await Promise.all([1, 2, 3, 4].map((i) => startSeaAgent(`fleet${i}`, A, [releaseKey], ports.grpcPort)));
    await eventually(async () => {
      for (const a of fleet)
        if (
          (await getJson<{ connected: boolean }>(`${server.url}/api/agents/${a.agentId}`).catch(() => ({ connected: false }))).connected !==
          true
        )
          return false;
      return true;
    }, 60_000);
    for (const a of fleet) expect(await agentVersion(a.agentId)).toBe(A.version);

    // The server goes away: the agents spool.
    await server.stop('SIGTERM');
    await eventually(async () => (await Promise.all(fleet.map(spoolPending))).every((n) => n >= 3), 60_000);
    server = await startServer({ dataDir: serverDir, ...ports });
    const created = await api<Rollout>('POST', '/api/rollouts', { version: VB, percent: 50 });
    const t0 = Date.now();
    const done = await eventually(
      async () => {
        const r = await rollout(created.id);
        return r.counts.succeeded === 2 ? r : undefined;
      },
      180_000,
      500,
    );
    // What the old binaries still held unacknowledged when they stopped for the trial went on in the spool.
    const carried = fleet.flatMap((a) => a.proc.lines.filter((l) => l.includes('wait in the spool for the version on trial')));
    process.stderr.write(
      `self-update: 2 of 4 agents from ${A.version} to ${VB} in ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
        `reports carried over in the spool at the trial: ${carried.map((l) => (JSON.parse(l) as { unsent: number }).unsent).join(', ') || 'none'}\n`,
    );
    expect(done.agents).toHaveLength(2);
    const updated = fleet.filter((a) => done.agents.some((r) => r.agentId === a.agentId));
    const stayed = fleet.filter((a) => !updated.includes(a));
    expect(updated).toHaveLength(2);
    for (const a of updated) {
      await eventually(async () => (await agentVersion(a.agentId)) === VB, 60_000);
      expect(existsSync(join(a.binary, '..', 'falconet-agent.previous'))).toBe(true);
      expect(existsSync(join(a.binary, '..', 'falconet-agent.next'))).toBe(false);
      // Same process: the parent exec-ed the new binary, so the pid (and systemd's view of it) stayed.
      expect(a.proc.child.exitCode).toBeNull();
    }
    for (const a of stayed) expect(await agentVersion(a.agentId)).toBe(A.version);
    const versions = async (a: SeaAgent) => {
      const p = startCommand(a.binary, ['version'], bareEnv());
      await p.exited;
      return p.lines[0];
    };
    expect(await Promise.all(updated.map(versions))).toEqual([`falconet-agent ${VB}`, `falconet-agent ${VB}`]);
    expect(await Promise.all(stayed.map(versions))).toEqual([`falconet-agent ${A.version}`, `falconet-agent ${A.version}`]);
    await api('POST', `/api/rollouts/${created.id}/cancel`);
  });

  it('refused and shown in the rollout: a tampered binary, a manifest signed by another key', async () => {
    const onA = [];
    for (const a of agents) if ((await agentVersion(a.agentId)) === A.version) onA.push(a);
    const [tamper] = onA;
    if (!tamper) throw new Error('no agent left on A');
    const other = await startSeaAgent('otherkey', A, [readFileSync(A.otherPublicKey, 'utf8')], ports.grpcPort);
    await eventually(
      async () => (await getJson<{ connected: boolean }>(`${server.url}/api/agents/${other.agentId}`).catch(() => undefined))?.connected,
      60_000,
    );
    await api('PUT', `/api/agents/${tamper.agentId}/labels`, { labels: { role: 'tamper' } });
    await api('PUT', `/api/agents/${other.agentId}/labels`, { labels: { role: 'otherkey' } });

    const t = await api<Rollout>('POST', '/api/rollouts', { version: VT, percent: 100, selector: 'role=tamper' });
    const tr = await eventually(async () => (await rollout(t.id)).agents.find((r) => r.state === 'refused'), 120_000, 500);
    expect(tr.agentId).toBe(tamper.agentId);
    expect(tr.reason).toMatch(/^sha256 of the downloaded binary is [0-9a-f]{64}, the signed manifest says [0-9a-f]{64}$/);
    expect(existsSync(join(tamper.binary, '..', 'falconet-agent.next'))).toBe(false);

    const o = await api<Rollout>('POST', '/api/rollouts', { version: VB, percent: 100, selector: 'role=otherkey' });
    const or = await eventually(async () => (await rollout(o.id)).agents.find((r) => r.state === 'refused'), 120_000, 500);
    expect(or).toMatchObject({ agentId: other.agentId, reason: "the manifest's signature matches none of the pinned release keys" });
    for (const a of [tamper, other]) expect(await agentVersion(a.agentId)).toBe(A.version);
    process.stderr.write(`self-update refusals: tampered: "${tr.reason}"; other key: "${or.reason}"\n`);
  });

  it('a downgrade offered (a server that does not follow the contract) is refused with both versions', async () => {
    // The real server never offers a downgrade (it chooses only older agents), so a stand-in server
    // offers A's real manifest, signed by the real release key, to an agent running B.
    const statuses: pb.UpdateStatus[] = [];
    const manifest = readFileSync(join(serverDir, 'releases', A.version, 'linux-x64', 'manifest.json'));
    const signature = Buffer.from(
      readFileSync(join(serverDir, 'releases', A.version, 'linux-x64', 'manifest.sig'), 'utf8').trim(),
      'base64',
    );
    const stand = new Server();
    stand.addService(AgentChannelService, {
      connect(call: ServerDuplexStream<pb.AgentMessage, pb.ServerMessage>) {
        call.on('data', (msg: pb.AgentMessage) => {
          const body = msg.body;
          if (body?.$case === 'register') {
            call.write({
              body: {
                $case: 'registered',
                value: {
                  agentId: body.value.agentId,
                  lastSeq: 0,
                  intervalMs: 0,
                  serverTimeMs: Date.now(),
                  taskPublicKey: Buffer.alloc(0),
                  compactSamples: false,
                },
              },
            });
            call.write({ body: { $case: 'updateOffer', value: { rolloutId: 'downgrade', manifest, manifestSignature: signature } } });
          }
          if (body?.$case === 'report') call.write({ body: { $case: 'ack', value: { seq: body.value.seq, error: '' } } });
          if (body?.$case === 'updateStatus') statuses.push(body.value);
        });
        call.on('error', () => undefined);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      stand.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanup.push(() => new Promise<void>((r) => stand.tryShutdown(() => r())));
    const onB = await startSeaAgent('downgrade', B, [releaseKey], port);
    const refused = await eventually(() => statuses.find((s) => s.rolloutId === 'downgrade'), 60_000);
    expect(refused).toMatchObject({
      state: 3,
      fromVersion: VB,
      toVersion: A.version,
      reason: `downgrade from ${VB} to ${A.version} refused`,
    });
    expect(existsSync(join(onB.binary, '..', 'falconet-agent.next'))).toBe(false);
    await onB.proc.stop('SIGTERM', 20_000);
    agents.splice(agents.indexOf(onB), 1);
  });

  it('a new version that exits at start is rolled back within the 60 s trial, reported ROLLED_BACK, and A runs and reports again', async () => {
    const onA = [];
    for (const a of agents) if (a.name.startsWith('fleet') && (await agentVersion(a.agentId)) === A.version) onA.push(a);
    const crash = onA[1];
    if (!crash) throw new Error('no second fleet agent left on A');
    await api('PUT', `/api/agents/${crash.agentId}/labels`, { labels: { role: 'crash' } });
    const pid = crash.proc.child.pid;
    const c = await api<Rollout>('POST', '/api/rollouts', { version: VC, percent: 100, selector: 'role=crash' });
    const t0 = Date.now();
    // The real 60 s trial (update.trial_timeout is not shortened here).
    const row = await eventually(async () => (await rollout(c.id)).agents.find((r) => r.state === 'rolled_back'), 180_000, 500);
    const seconds = (Date.now() - t0) / 1000;
    expect(row.agentId).toBe(crash.agentId);
    expect(row.reason).toMatch(/^the new version exited with code 1 before a report was acknowledged/);
    const swapped = crash.proc.lines.find((l) => l.includes('on trial'));
    const failed = crash.proc.lines.find((l) => l.includes('trial failed'));
    expect(swapped && failed).toBeTruthy();
    const trialMs = (JSON.parse(failed as string) as { time: number }).time - (JSON.parse(swapped as string) as { time: number }).time;
    process.stderr.write(
      `self-update rollback: trial ended after ${trialMs} ms, rollout row rolled_back ${seconds.toFixed(1)} s after the rollout: "${row.reason}"\n`,
    );
    expect(trialMs).toBeLessThan(60_000);
    // The same process, on A again, registered and reporting.
    expect(crash.proc.child.pid).toBe(pid);
    expect(crash.proc.child.exitCode).toBeNull();
    expect(existsSync(join(crash.binary, '..', 'falconet-agent.next'))).toBe(false);
    const after = Date.now();
    await eventually(async () => (await agentVersion(crash.agentId)) === A.version, 60_000);
    await eventually(async () => (await storedLedger(server.url, crash.agentId, after, Date.now() + 60_000)).count > 0, 60_000, 1000);
  });

  it('every sample each agent produced, through the outage, the updates and the rollback, is stored once', async () => {
    for (const a of agents) await a.proc.stop('SIGTERM', 30_000);
    for (const a of agents) {
      expect(
        a.proc.lines.some((l) => l.includes('"msg":"stopped"')),
        `${a.name} stopped with everything sent`,
      ).toBe(true);
      const produced = loggedLedger(a.logFile);
      const stored = await storedLedger(server.url, a.agentId, startedMs - 60_000, Date.now() + 60_000);
      expect(stored.toJSON(), a.name).toEqual(produced.toJSON());
      process.stderr.write(`self-update ledger ${a.name}: ${produced.count} samples produced, ${stored.count} stored\n`);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    process.stderr.write(
      `self-update: ${/^falconet_server_reports_duplicate_total (\d+)/m.exec(metrics)?.[1]} duplicate reports dropped by the server\n`,
    );
  });
});
