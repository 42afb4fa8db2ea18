/**
 * PostgreSQL restarted under a server in PostgreSQL mode, during ingest. The test runs a
 * PostgreSQL cluster of its own (initdb in a temp dir, its own port, trust auth, run as the
 * postgres user), never the machine's shared one, and stops it (fast, then immediate) while
 * simulated agents with on-disk spools report every second. Afterwards every generated sample
 * is in the store exactly once, the users and tokens made before are still there, and while the
 * database was away the API answered 503 naming the database rather than hanging.
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { SampleLedger, storedLedger } from '../testing/ledger.ts';
import { PgCluster } from '../testing/pg-cluster.ts';
import { createToken, createUser, eventually, type ServerProc, stablePort, startServer, tempDir } from '../testing/processes.ts';
import { AgentSimulator } from '../testing/simulator.ts';

const AGENTS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string) => process.stderr.write(`[pg-restart ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

describe('PostgreSQL restarted under the server', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });

  it('a fast and two immediate restarts during ingest: 503 with the reason while down, then every sample stored once and users and tokens intact', {
    timeout: 300_000,
  }, async () => {
    const pgc = new PgCluster(await stablePort());
    pgc.start();
    cleanup.push(() => {
      if (pgc.running()) pgc.stop('immediate');
      rmSync(pgc.dir, { recursive: true, force: true });
    });
    const env = { FALCONET_DATABASE_URL: pgc.url };
    const dataDir = tempDir('falconet-pg-restart-server-');
    const server: ServerProc = await startServer({ dataDir, env: { ...env, FALCONET_LOG_LEVEL: 'info' } });
    cleanup.push(() => server.stop());

    // State made before the restarts: a user, an API token, one agent token per simulated agent.
    await createUser(dataDir, 'ops', 'admin', 'correct horse battery', env);
    const api = await createToken(dataDir, { api: 'reader', role: 'viewer' }, env);
    const headers = { authorization: `Bearer ${api.token}` };
    const tokens: string[] = [];
    for (let i = 0; i < AGENTS; i++) tokens.push((await createToken(dataDir, { agent: `pgr-${i}` }, env)).token);
    const sim = new AgentSimulator({
      server: `127.0.0.1:${server.grpcPort}`,
      count: AGENTS,
      intervalMs: 1000,
      prefix: 'pgr',
      spoolDir: tempDir('falconet-pg-restart-spools-'),
      token: (i) => tokens[i] as string,
    });
    await sim.start();
    cleanup.push(() => sim.stop());
    await eventually(() => sim.connected === AGENTS, 30_000);
    const t0 = Date.now();
    const acked = () => sim.streams.reduce((n, s) => n + s.stats.acked, 0);
    await eventually(() => acked() >= AGENTS * 3, 30_000, 200);
    progress(`${AGENTS} agents reporting; ${acked()} reports acknowledged`);

    const metricsText = async () => (await fetch(`${server.url}/metrics`, { headers })).text();
    // Scraped before the outage, as a Prometheus would: the token is known to this server.
    expect(await metricsText()).toMatch(/^falconet_server_database_up\{role="sample store"\} 1$/m);
    let round = 0;
    // Immediate twice: a connection reset while a client was checked out once ended the server.
    for (const mode of ['fast', 'immediate', 'immediate'] as const) {
      round++;
      const linesBefore = server.lines.length;
      pgc.stop(mode);
      progress(`PostgreSQL stopped (${mode})`);
      // The API answers at once, 503, naming the database: not a hang, not a bare 500.
      // (A chart reads the sample store; the agent list is answered from memory and goes on.)
      const chart = `/api/metrics?agent=${sim.id(0)}&name=falconet_cpu_usage_percent&from=${Date.now() - 60_000}&to=${Date.now()}&step=0`;
      const res = await fetch(`${server.url}${chart}`, { headers, signal: AbortSignal.timeout(15_000) });
      const body = (await res.json()) as { error: { code: string; message: string } };
      progress(`API while down: ${res.status} ${JSON.stringify(body)}`);
      expect(res.status).toBe(503);
      expect(body.error.code).toBe('database_unavailable');
      expect(body.error.message).toMatch(/^the database is unavailable \(.+\); the server reconnects by itself/);
      // The server says why in its log, once per database, naming it and what happens meanwhile.
      const why = await eventually(
        () => server.lines.slice(linesBefore).find((l) => /"sample store unavailable: .*reports are not acknowledged/.test(l)),
        20_000,
        100,
      );
      progress(`server log: ${why}`);
      // /metrics still answers with that token, and says the database is down.
      const scrape = await eventually(async () => {
        const r = await fetch(`${server.url}/metrics`, { headers, signal: AbortSignal.timeout(15_000) });
        const text = await r.text();
        return r.status === 200 && /^falconet_server_database_up\{role="sample store"\} 0$/m.test(text) ? text : undefined;
      }, 20_000);
      progress(`/metrics while down: ${scrape.split('\n').find((l) => l.startsWith('falconet_server_database_up'))}`);
      // Nothing is acknowledged while the database is away; agents keep spooling. Acks of what
      // committed before the stop may still be on their way for a moment on a loaded machine.
      await sleep(1000);
      const ackedAtStop = acked();
      await sleep(3000);
      expect(acked()).toBe(ackedAtStop);
      expect(sim.queued).toBeGreaterThan(AGENTS);
      progress(`down 4 s: no acknowledgement, ${sim.queued} reports spooled unacknowledged`);
      expect(server.child.exitCode, server.lines.slice(-30).join('\n')).toBe(null);
      pgc.start();
      progress('PostgreSQL started again');
      const back = await eventually(
        () => server.lines.slice(linesBefore).find((l) => /"sample store reachable again after [\d.]+ s; resuming"/.test(l)),
        30_000,
        100,
      );
      progress(`server log: ${back}`);
      await eventually(() => acked() > ackedAtStop + AGENTS * 2, 60_000, 250);
      const m = await metricsText();
      expect(m).toMatch(/^falconet_server_database_up\{role="sample store"\} 1$/m);
      expect(m).toMatch(new RegExp(`^falconet_server_database_outages_total\\{role="sample store"\\} ${round}$`, 'm'));
      progress(`acknowledging again: ${acked()} reports acknowledged`);
    }

    sim.stopTicking();
    await eventually(() => sim.queued === 0, 120_000, 250);
    expect(server.child.exitCode).toBe(null);

    const generated = new SampleLedger();
    const stored = new SampleLedger();
    for (let i = 0; i < AGENTS; i++) {
      const got = await storedLedger(server.url, sim.id(i), t0 - 120_000, Date.now() + 1000, undefined, headers);
      expect(got.toJSON(), `agent ${sim.id(i)}`).toEqual((sim.ledgers[i] as SampleLedger).toJSON());
      generated.merge(sim.ledgers[i] as SampleLedger);
      stored.merge(got);
    }
    expect(stored.toJSON()).toEqual(generated.toJSON());
    expect(sim.enqueueErrors).toBe(0);
    // Users and tokens made before the restarts still work: the API token reads, the user signs in.
    const agents = (await (await fetch(`${server.url}/api/agents`, { headers })).json()) as { items: { id: string }[] };
    expect(agents.items.map((a) => a.id).sort()).toEqual(Array.from({ length: AGENTS }, (_, i) => sim.id(i)).sort());
    const login = await fetch(`${server.url}/api/auth/signin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ops', password: 'correct horse battery' }),
    });
    expect(login.status).toBe(200);
    const metrics = await metricsText();
    progress(
      `generated ${generated.count} samples (checksum ${generated.checksum}); stored ${stored.count} (checksum ${stored.checksum}); ` +
        `duplicates dropped: ${/^falconet_server_reports_duplicate_total (\d+)/m.exec(metrics)?.[1]}`,
    );
    expect(generated.count).toBeGreaterThan(0);
  });
});
