/**
 * Issue 20's "stdin/exec for anything else", end to end: a real agent process with an exec source
 * whose command prints numbered lines and exits several times, and a stdin source fed through a
 * named pipe (`... < fifo`, as `some-cmd | falconet-agent run` would), shipping to a real server.
 * Every line is searched back through /api/logs: each once, in order; exits counted on /metrics;
 * the agent goes on after its stdin ends, and a clean stop loses none of the command's lines.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENT_CLI, freePort, type ServerProc, startCommand, startServer, tempDir } from '../testing/processes.ts';

interface Line {
  id: string;
  timeMs: number;
  message: string;
  stream: string;
  fields: Record<string, string>;
}

const RUNS = 5;
const PER_RUN = 100;

async function search(server: ServerProc, q: string): Promise<Line[]> {
  const out: Line[] = [];
  let cursor: string | undefined;
  do {
    const u = new URL(`${server.url}/api/logs`);
    u.searchParams.set('q', q);
    u.searchParams.set('from', String(Date.now() - 3_600_000));
    u.searchParams.set('to', String(Date.now() + 60_000));
    u.searchParams.set('limit', '5000');
    if (cursor) u.searchParams.set('cursor', cursor);
    const res = await fetch(u);
    if (!res.ok) throw new Error(`${u}: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { lines: Line[]; cursor?: string };
    out.push(...page.lines);
    cursor = page.cursor;
  } while (cursor);
  // Newest first from the API: oldest first here.
  return out.reverse();
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('exec and stdin log sources, agent to server', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('every line of a restarting command and of stdin reaches the server once, in order; the agent outlives its stdin', async () => {
    const dir = tempDir('falconet-logs-exec-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = await startServer();
    cleanup.push(() => server.stop());

    // Runs 1..RUNS print the next PER_RUN numbers and exit 7; the run after that ticks until stopped,
    // each tick's number written to a ledger after it is printed.
    const script = join(dir, 'numbers.sh');
    const ledger = join(dir, 'ledger');
    writeFileSync(
      script,
      [
        `runs=$(cat "${dir}/runs" 2>/dev/null || echo 0); runs=$((runs+1)); echo $runs > "${dir}/runs"`,
        `if [ $runs -le ${RUNS} ]; then`,
        `  i=$(( (runs-1) * ${PER_RUN} ))`,
        `  for k in $(seq 1 ${PER_RUN}); do i=$((i+1)); echo "number $i"; done`,
        `  echo "run $runs done" >&2; exit 7`,
        'fi',
        'k=0',
        `while :; do k=$((k+1)); echo "tick $k"; echo $k > "${ledger}"; sleep 0.01; done`,
      ].join('\n'),
    );
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        logs: {
          sources: [
            { name: 'numbers', type: 'exec', command: ['sh', script], restart_delay: '100ms', restart_max_delay: '400ms' },
            { name: 'piped', type: 'stdin', parser: { type: 'logfmt' } },
          ],
          batch: { max_wait: '200ms' },
        },
      }),
    );
    const fifo = join(dir, 'stdin.fifo');
    execFileSync('mkfifo', [fifo]);
    const metricsPort = await freePort();
    const agentArgs = [
      '--conditions=source',
      '--disable-warning=ExperimentalWarning',
      AGENT_CLI,
      'run',
      '--config',
      config,
      '--data-dir',
      join(dir, 'agent'),
      '--listen',
      `127.0.0.1:${metricsPort}`,
      '--server',
      `127.0.0.1:${server.grpcPort}`,
    ];
    // `exec ... < fifo`: the shell becomes the agent, whose standard input is the pipe.
    const quoted = [process.execPath, ...agentArgs].map((a) => `'${a}'`).join(' ');
    const agent = startCommand('sh', ['-c', `exec ${quoted} < '${fifo}'`], { FALCONET_REPORT_DYNAMIC: 'false' }, 'agent');
    cleanup.push(() => agent.stop());
    const stdin = createWriteStream(fifo);
    await agent.waitFor(/"shipping logs"/, 30_000);

    for (let i = 1; i <= 300; i++) stdin.write(`level=info msg="piped ${i}" n=${i}\n`);
    await new Promise<void>((resolve) => stdin.end(resolve));
    await agent.waitFor(/standard input ended/, 30_000);

    const numbers = await until('every numbered line', async () => {
      const l = await search(server, 'source:numbers "number"');
      return l.length >= RUNS * PER_RUN ? l : undefined;
    });
    expect(numbers.map((l) => l.message)).toEqual(Array.from({ length: RUNS * PER_RUN }, (_, i) => `number ${i + 1}`));
    expect(numbers[0]).toMatchObject({ stream: 'stdout', fields: { std: 'stdout' } });
    const runsDone = await search(server, 'source:numbers stream:stderr');
    expect(runsDone.map((l) => l.message)).toEqual(Array.from({ length: RUNS }, (_, i) => `run ${i + 1} done`));

    const piped = await until('the piped lines', async () => {
      const l = await search(server, 'source:piped');
      return l.length >= 300 ? l : undefined;
    });
    expect(piped.map((l) => l.message)).toEqual(Array.from({ length: 300 }, (_, i) => `piped ${i + 1}`));
    expect(piped[0]).toMatchObject({ stream: 'stdin', fields: { n: '1' } });

    // The agent outlived its stdin: it still answers and counts the command's exits by code.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain(`falconet_agent_logs_exec_exits_total{source="numbers",code="7"} ${RUNS}`);
    expect(metrics).toMatch(/falconet_agent_logs_read_lines_total\{source="piped"\} 300\n/);

    // A clean stop while the command ticks: every tick it printed reaches the server.
    await until('some ticks', async () => ((await search(server, 'source:numbers tick')).length >= 20 ? true : undefined));
    await agent.stop('SIGTERM', 20_000);
    expect((await agent.exited).code).toBe(0);
    const printed = Number(readFileSync(ledger, 'utf8'));
    const ticks = await search(server, 'source:numbers tick');
    expect(ticks.length).toBeGreaterThanOrEqual(printed);
    expect(ticks.map((l) => l.message)).toEqual(Array.from({ length: ticks.length }, (_, i) => `tick ${i + 1}`));
  }, 180_000);
});
