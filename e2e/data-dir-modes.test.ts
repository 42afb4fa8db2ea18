/**
 * Owner-only data directories, on a real server (TLS pair made by itself, samples store with
 * parts) and a real agent (spool, pinned task key, pidfile) on a fresh temporary directory: right
 * from the first start, and an older layout left open (0755 directories, 0644 files) corrected on
 * the next start with one warning that names every path.
 */
import { chmodSync, existsSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentProc, eventually, type ServerProc, startAgent, startServer, tempDir } from '../testing/processes.ts';

/** Every path under `dir` (itself first), with its permission bits. */
function tree(dir: string): Map<string, number> {
  const out = new Map<string, number>([[dir, lstatSync(dir).mode & 0o7777]]);
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (lstatSync(path).isDirectory()) for (const [p, m] of tree(path)) out.set(p, m);
    else out.set(path, lstatSync(path).mode & 0o7777);
  }
  return out;
}

function openModes(dir: string): string[] {
  return [...tree(dir)].filter(([p, m]) => m !== (lstatSync(p).isDirectory() ? 0o700 : 0o600)).map(([p, m]) => `${p} 0${m.toString(8)}`);
}

/** What an older version left: every directory 0755, every file 0644. Returns the corrections to expect. */
function openUp(dir: string): string[] {
  const changed: string[] = [];
  for (const path of tree(dir).keys()) {
    const isDir = lstatSync(path).isDirectory();
    chmodSync(path, isDir ? 0o755 : 0o644);
    changed.push(`${path} ${isDir ? '0755 -> 0700' : '0644 -> 0600'}`);
  }
  return changed.sort();
}

function correctedIn(lines: string[]): string[] {
  const line = lines.find((l) => l.includes('"data directory: files others could read, now owner-only"'));
  expect(line, 'the start-up warning').toBeDefined();
  return (JSON.parse(line as string) as { corrected: string[] }).corrected;
}

describe.skipIf(process.platform === 'win32')('data directory permissions', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('are owner-only from the first start, and an open old layout is corrected on the next with a warning naming each path', async () => {
    const serverDir = join(tempDir(), 'server-data');
    const agentDir = join(tempDir(), 'agent-data');
    const serverEnv = { FALCONET_GRPC_TLS_MODE: 'on', FALCONET_STORE_HEAD_MAX_SAMPLES: '1000' };
    const agentEnv = { FALCONET_TRANSPORT_TLS_CA_FILE: join(serverDir, 'tls', 'server.crt') };

    let server: ServerProc = await startServer({ dataDir: serverDir, env: serverEnv });
    cleanup.push(() => server.stop());
    let agent: AgentProc = await startAgent({ server: `grpcs://127.0.0.1:${server.grpcPort}`, dataDir: agentDir, env: agentEnv });
    cleanup.push(() => agent.stop());
    // Everything either side writes: the store's parts, the agent's acknowledged spool and pinned task key.
    await eventually(() => readdirSync(join(serverDir, 'samples', 'parts')).some((f) => f.endsWith('.part')), 90_000);
    await eventually(() => existsSync(join(agentDir, 'spool', 'acked')) && existsSync(join(agentDir, 'tasks', 'server-task-key')));

    const serverFiles = [...tree(serverDir).keys()].map((p) => p.slice(serverDir.length + 1));
    for (const f of [
      'meta.db',
      'meta.db-wal',
      'secret.key',
      'task-signing-key.pem',
      'tls/server.key',
      'tls/server.crt',
      'samples/series.log',
    ]) {
      expect(serverFiles).toContain(f);
    }
    expect(serverFiles.some((f) => /^samples\/wal\/\d+\.wal$/.test(f))).toBe(true);
    const agentFiles = [...tree(agentDir).keys()].map((p) => p.slice(agentDir.length + 1));
    for (const f of ['agent-id', 'seq', 'falconet-agent.pid', 'spool/acked', 'tasks/server-task-key']) expect(agentFiles).toContain(f);
    expect(openModes(serverDir)).toEqual([]);
    expect(openModes(agentDir)).toEqual([]);
    // Nothing to correct on a first start.
    expect(server.lines.some((l) => l.includes('now owner-only'))).toBe(false);
    expect(agent.lines.some((l) => l.includes('now owner-only'))).toBe(false);

    await agent.stop();
    await server.stop();
    const serverOpened = openUp(serverDir);
    const agentOpened = openUp(agentDir);
    // Files that are not the programs' own are left as they are.
    writeFileSync(join(serverDir, 'notes.txt'), 'mine', { mode: 0o644 });
    writeFileSync(join(agentDir, 'notes.txt'), 'mine', { mode: 0o644 });

    server = await startServer({ dataDir: serverDir, env: serverEnv });
    cleanup.push(() => server.stop());
    agent = await startAgent({ server: `grpcs://127.0.0.1:${server.grpcPort}`, dataDir: agentDir, env: agentEnv });
    cleanup.push(() => agent.stop());

    expect(correctedIn(server.lines).sort()).toEqual(serverOpened);
    expect(correctedIn(agent.lines).sort()).toEqual(agentOpened);
    // In the audit log too (no user exists yet: loopback needs no sign-in).
    const audit = (await (await fetch(`${server.url}/api/audit?action=datadir.corrected`)).json()) as {
      items: { actor: string; target: string; outcome: string; detail: { corrected: string[] } }[];
    };
    expect(audit.items).toHaveLength(1);
    expect(audit.items[0]).toMatchObject({ actor: 'server', target: serverDir, outcome: 'ok' });
    expect(audit.items[0]?.detail.corrected.sort()).toEqual(serverOpened);
    expect(openModes(serverDir)).toEqual([`${join(serverDir, 'notes.txt')} 0644`]);
    expect(openModes(agentDir)).toEqual([`${join(agentDir, 'notes.txt')} 0644`]);
    // And both work on their corrected files: the agent reports to the server again.
    await eventually(() => agent.lines.some((l) => l.includes('"connected to server"')));
  });
});
