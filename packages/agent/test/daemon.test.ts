import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AGENT_CLI,
  eventually,
  freePort,
  runAgent,
  type ServerProc,
  startProcess,
  startServer,
  tempDir,
} from '../../../testing/processes.ts';

/** Pids of processes whose command line mentions `needle` (the agent's own data directory). */
function processesWith(needle: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const started: number[] = [];
afterAll(() => {
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('start / stop / status / restart as real processes', { timeout: 60_000 }, () => {
  it('start daemonizes and writes the pidfile; a second start finds it running; stop removes it', async () => {
    const dir = tempDir();
    const port = await freePort();
    const flags = ['--data-dir', dir, '--listen', `127.0.0.1:${port}`];
    const pidfile = join(dir, 'falconet-agent.pid');

    expect(await runAgent(['status', ...flags])).toEqual({ code: 3, out: ['falconet-agent: not running'] });

    const first = await runAgent(['start', ...flags]);
    expect(first.code).toBe(0);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    started.push(pid);
    expect(first.out).toEqual([`falconet-agent: started (pid ${pid}, log ${join(dir, 'falconet-agent.log')})`]);
    // Owner-only, like everything the agent keeps in its data directory.
    expect(statSync(pidfile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'falconet-agent.log')).mode & 0o777).toBe(0o600);
    // The daemon outlives the `start` command that launched it, and serves /metrics.
    expect(alive(pid)).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('node_load1');
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/^falconet-agent run/);

    const status = await runAgent(['status', ...flags]);
    expect(status).toEqual({ code: 0, out: [`falconet-agent: running (pid ${pid}, pidfile ${pidfile})`] });

    const second = await runAgent(['start', ...flags]);
    expect(second).toEqual({ code: 0, out: [`falconet-agent: already running (pid ${pid})`] });
    expect(processesWith(dir)).toEqual([pid]);

    // `run` in the foreground on the same data directory refuses too.
    const fg = await runAgent(['run', '--data-dir', dir, '--listen', '127.0.0.1:0']);
    expect(fg.code).toBe(1);
    expect(fg.out.at(-1)).toBe(`falconet-agent: already running (pid ${pid}, pidfile ${pidfile}); stop it first or use another --data-dir`);

    const stop = await runAgent(['stop', ...flags]);
    expect(stop).toEqual({ code: 0, out: [`falconet-agent: stopped (pid ${pid})`] });
    expect(alive(pid)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
    const log = readFileSync(join(dir, 'falconet-agent.log'), 'utf8');
    expect(log).toContain('"msg":"shutting down"');
    expect(log).toContain('"msg":"stopped"');

    expect(await runAgent(['stop', ...flags])).toEqual({ code: 0, out: ['falconet-agent: not running'] });
    expect(await runAgent(['status', ...flags])).toEqual({ code: 3, out: ['falconet-agent: not running'] });
  });

  it('a stale pidfile: status says so (exit 1), stop clears it, start replaces it', async () => {
    const dir = tempDir();
    const port = await freePort();
    const flags = ['--data-dir', dir, '--listen', `127.0.0.1:${port}`];
    const pidfile = join(dir, 'falconet-agent.pid');
    // A pid that is certainly gone: a process that already exited.
    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(pidfile, `${gone.pid}\n`);

    const status = await runAgent(['status', ...flags]);
    expect(status).toEqual({
      code: 1,
      out: [`falconet-agent: not running, but the pidfile ${pidfile} remains (pid ${gone.pid} is not running)`],
    });
    expect(await runAgent(['stop', ...flags])).toEqual({
      code: 0,
      out: [`falconet-agent: not running; removed stale pidfile ${pidfile} (pid ${gone.pid} is not running)`],
    });

    // A live pid that is not an agent (pid reuse after a crash) is stale too.
    writeFileSync(pidfile, `${process.pid}\n`);
    const s = await runAgent(['start', ...flags]);
    expect(s.code).toBe(0);
    expect(s.out[0]).toBe(`falconet-agent: removed stale pidfile ${pidfile} (pid ${process.pid} is another program)`);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    started.push(pid);
    expect(pid).not.toBe(process.pid);

    // restart: a new process, the same pidfile.
    const r = await runAgent(['restart', ...flags]);
    expect(r.code).toBe(0);
    expect(r.out[0]).toBe(`falconet-agent: stopped (pid ${pid})`);
    const newPid = Number(readFileSync(pidfile, 'utf8'));
    started.push(newPid);
    expect(newPid).not.toBe(pid);
    expect(alive(pid)).toBe(false);
    expect(alive(newPid)).toBe(true);
    expect((await runAgent(['stop', ...flags])).code).toBe(0);
  });

  it('stop escalates to SIGKILL when the agent ignores SIGTERM past --timeout', async () => {
    const dir = tempDir();
    const pidfile = join(dir, 'falconet-agent.pid');
    // A stand-in for a wedged agent (the real one always honours SIGTERM): same process title, ignores SIGTERM.
    const wedged = spawn(
      process.execPath,
      ['-e', "process.title = 'falconet-agent run'; process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')"],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    await new Promise((r) => wedged.stdout?.once('data', r));
    started.push(wedged.pid as number);
    writeFileSync(pidfile, `${wedged.pid}\n`);
    const r = await runAgent(['stop', '--data-dir', dir, '--timeout', '300ms']);
    expect(r).toEqual({
      code: 0,
      out: [
        `falconet-agent: pid ${wedged.pid} still running 0.3 s after SIGTERM; sending SIGKILL`,
        `falconet-agent: killed (pid ${wedged.pid})`,
      ],
    });
    expect(existsSync(pidfile)).toBe(false);
  });

  it('start with an invalid configuration fails in the terminal, before daemonizing', async () => {
    const dir = tempDir();
    const r = await runAgent(['start', '--data-dir', dir, '--interval', 'often']);
    expect(r.code).toBe(2);
    expect(r.out).toEqual(['falconet-agent: flag --interval: interval: "often" is not a duration (e.g. 500ms, 10s, 5m, 1h)']);
    expect(existsSync(join(dir, 'falconet-agent.pid'))).toBe(false);
  });

  it('start reports a daemon that fails during start-up (port in use)', async () => {
    const dir = tempDir();
    const holder = startProcess(AGENT_CLI, ['run', '--data-dir', tempDir(), '--listen', '127.0.0.1:0']);
    const line = await holder.waitFor(/"exporter listening"/);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(line)?.[1]);
    const r = await runAgent(['start', '--data-dir', dir, '--listen', `127.0.0.1:${port}`]);
    await holder.stop();
    expect(r.code).toBe(1);
    expect(r.out).toEqual([`falconet-agent: --listen 127.0.0.1:${port}: address already in use; stop what holds it or pick another port`]);
    expect(existsSync(join(dir, 'falconet-agent.pid'))).toBe(false);
  });
});

describe('graceful shutdown', { timeout: 60_000 }, () => {
  let server: ServerProc | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('SIGTERM flushes what is queued to the server, closes the stream and removes the pidfile', async () => {
    server = await startServer();
    const dir = tempDir();
    const agent = startProcess(
      AGENT_CLI,
      ['run', '--data-dir', dir, '--listen', '', '--server', `127.0.0.1:${server.grpcPort}`, '--interval', '300ms'],
      { FALCONET_REPORT_DYNAMIC: 'false' },
    );
    await agent.waitFor(/"connected to server"/);
    expect(existsSync(join(dir, 'falconet-agent.pid'))).toBe(true);
    await eventually(async () => {
      const r = await fetch(`${server?.url}/api/agents`);
      const body = (await r.json()) as { items?: { lastSeq?: number }[] };
      return JSON.stringify(body).includes('"online"');
    });
    await agent.stop('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    expect(agent.lines.some((l) => l.includes('"msg":"stopped"') && l.includes('"unsent":0'))).toBe(true);
    expect(existsSync(join(dir, 'falconet-agent.pid'))).toBe(false);
  });

  it('with the server unreachable, shutdown is still bounded and says what was not sent', async () => {
    const dir = tempDir();
    const agent = startProcess(
      AGENT_CLI,
      ['run', '--data-dir', dir, '--listen', '', '--server', `127.0.0.1:${await freePort()}`, '--interval', '100ms'],
      { FALCONET_REPORT_DYNAMIC: 'false', FALCONET_SHUTDOWN_FLUSH_TIMEOUT: '1s' },
    );
    await agent.waitFor(/"(server stream lost, reconnecting|cannot reach server)[^"]*; retrying in /);
    await eventually(() => agent.lines.filter((l) => /reconnecting|retrying/.test(l)).length >= 2);
    await agent.stop('SIGTERM', 20_000);
    expect((await agent.exited).code).toBe(0);
    const stopped = agent.lines.find((l) => l.includes('"msg":"stopped with reports the server has not acknowledged"'));
    expect(stopped).toMatch(/"unsent":[1-9]/);
    // One story: the same count in the spool's line, and no flush promised to a server never reached.
    const unsent = (JSON.parse(stopped as string) as { unsent: number }).unsent;
    expect(agent.lines.some((l) => l.includes(`"msg":"${unsent} reports the server has not acknowledged stay in the spool`))).toBe(true);
    expect(agent.lines.filter((l) => l.includes('flushing queued reports'))).toEqual([]);
    expect(existsSync(join(dir, 'falconet-agent.pid'))).toBe(false);
  });
});
