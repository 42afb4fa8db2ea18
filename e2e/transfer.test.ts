import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentProc, eventually, freePort, getJson, type ServerProc, startAgent, startServer } from '../testing/processes.ts';

/** A real `nc -l` (netcat-openbsd) collecting what arrives, one line per record. */
function netcat(port: number): { child: ChildProcess; lines: string[]; arrivals: number[] } {
  const child = spawn('nc', ['-l', '127.0.0.1', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const arrivals: number[] = [];
  createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (l) => {
    lines.push(l);
    arrivals.push(Date.now());
  });
  return { child, lines, arrivals };
}

describe('agent --transfer (Open-Falcon JSON lines)', () => {
  const started: { stop(): Promise<void> }[] = [];
  const sinks: ChildProcess[] = [];
  afterAll(async () => {
    for (const s of started.reverse()) await s.stop();
    for (const c of sinks) c.kill('SIGKILL');
  });

  it('writes every 5 s to `nc -l`, and redials after the sink goes away', async () => {
    const port = await freePort();
    const first = netcat(port);
    sinks.push(first.child);
    await new Promise((r) => setTimeout(r, 300));
    const agent: AgentProc = await startAgent({ interval: '1s', args: ['--transfer', `127.0.0.1:${port}`] });
    started.push(agent);
    await agent.waitFor(/"transfer sink connected"/, 10_000);
    await eventually(() => new Set(first.lines.map((l) => JSON.parse(l).timestamp)).size >= 6, 20_000);
    const lines = [...first.lines];
    const records = lines.map((l) => JSON.parse(l));
    const load = records.find((r) => r.metric === 'node_load1');
    expect(load).toMatchObject({ endpoint: hostname(), tags: '', step: 1, counterType: 'GAUGE' });
    expect(Math.abs(load.timestamp - Date.now() / 1000)).toBeLessThan(30);
    const cpu = records.find((r) => r.metric === 'node_cpu_seconds_total');
    expect(cpu).toMatchObject({ counterType: 'COUNTER', tags: expect.stringMatching(/^cpu=\d+,mode=\w+$/) });
    // Buffered, not written per report: several reports' lines arrive in each flush.
    const reports = new Set(records.map((r) => r.timestamp)).size;
    const flushes = first.arrivals.filter((t, i) => i === 0 || t - (first.arrivals[i - 1] as number) > 1000).length;
    expect(flushes).toBeLessThan(reports);

    first.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 2000));
    const second = netcat(port);
    sinks.push(second.child);
    const more = await eventually(() => (second.lines.length > 20 ? second.lines : undefined), 45_000);
    expect(JSON.parse(more[0] as string)).toHaveProperty('metric');
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    expect(Number(/^falconet_agent_transfer_sent_lines_total (\d+)/m.exec(text)?.[1])).toBeGreaterThan(50);
    expect(Number(/^falconet_agent_transfer_reconnects_total (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
  });

  it("into falconet-server's own transfer port, stored under push:<hostname>", async () => {
    const server: ServerProc = await startServer();
    started.push(server);
    const agent = await startAgent({ interval: '1s', args: ['--transfer', `127.0.0.1:${server.transferPort}`] });
    started.push(agent);
    const id = `push:${hostname()}`;
    const names = await eventually(async () => {
      const r = await getJson<{ names: string[] }>(`${server.url}/api/metrics/names?agent=${encodeURIComponent(id)}`);
      return r.names.includes('node_load1') ? r.names : undefined;
    }, 20_000);
    expect(names).toContain('node_cpu_seconds_total');
    const agents = await getJson<{ items: { id: string; hostname: string; labels: Record<string, string> }[] }>(`${server.url}/api/agents`);
    expect(agents.items.find((a) => a.id === id)).toMatchObject({ hostname: hostname(), labels: { source: 'push' } });
  });
});
