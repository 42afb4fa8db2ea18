import { closeSync, copyFileSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createToken, type ServerProc, stablePort, startAgent, startServer, tempDir } from '../testing/processes.ts';

const KILLS = 10;
const OUTAGE_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line {
  message: string;
  timeMs: number;
  stream: string;
}

/**
 * The acceptance test of issue 20's file shipping, with a real server: numbered lines written at a
 * steady rate through rename rotations and copytruncates (one of them while the agent is down),
 * the agent SIGKILLed 10 times, the server away for 60 s. Every line is stored exactly once,
 * except lines copytruncate took away before the agent read them (in the copy only), which are
 * counted and printed: that is what copytruncate can lose.
 */
describe('logs through rotation, SIGKILLs and a server outage', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('stores every line exactly once, in order per file, but what copytruncate took before it was read', async () => {
    const dir = tempDir('falconet-logs-rotation-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const logDir = join(dir, 'log');
    mkdirSync(logDir);
    const path = join(logDir, 'app.log');
    const config = join(dir, 'agent.yaml');
    // Rename rotations go to app.log.N (matched: a file rotated away while the agent is down is
    // still read); copytruncate copies go to app.log-copy-N (not matched: they repeat lines).
    writeFileSync(
      config,
      JSON.stringify({
        logs: { sources: [{ name: 'app', include: [path, `${path}.*`] }], batch: { max_wait: '200ms' }, scan_interval: '200ms' },
      }),
    );
    const grpcPort = await stablePort();
    const serverDir = tempDir('falconet-logs-rotation-server-');
    cleanup.push(() => rmSync(serverDir, { recursive: true, force: true }));
    let server: ServerProc | undefined = await startServer({ dataDir: serverDir, grpcPort });
    cleanup.push(async () => server?.stop());
    const token = (await createToken(serverDir, { api: 'reader', role: 'viewer' })).token;
    const startedAt = Date.now();

    // The writer: 100 lines every 50 ms; every 8,000 lines a rename rotation, every third of them a
    // copytruncate instead. Which lines copytruncate could take: those in the file when it was cut.
    let n = 0;
    let generation = 0;
    const generationOf: number[] = [];
    const inCopies = new Set<number>();
    /** Per copytruncate: whether the agent was running, and the lines the file held when it was cut. */
    const cuts: { running: boolean; lines: number[] }[] = [];
    /** When the running agent had started shipping (0 while it is down). */
    let runningSince = 0;
    // Caught up: running for 2 s, past the catch-up read of what was written while it was down.
    const caughtUp = () => runningSince > 0 && Date.now() - runningSince > 2_000;
    let firstInFile = 1;
    let fd = openSync(path, 'a');
    let writing = true;
    let copytruncateNow = false;
    const copytruncate = () => {
      copyFileSync(path, `${path}-copy-${generation}`);
      ftruncateSync(fd, 0);
      const lines: number[] = [];
      for (let i = firstInFile; i <= n; i++) {
        inCopies.add(i);
        lines.push(i);
      }
      cuts.push({ running: caughtUp(), lines });
      firstInFile = n + 1;
      generation++;
    };
    const writer = (async () => {
      while (writing) {
        let chunk = '';
        for (let i = 0; i < 100; i++) {
          n++;
          generationOf[n] = generation;
          chunk += `line ${n} ${'x'.repeat(80)}\n`;
        }
        writeSync(fd, chunk);
        if (copytruncateNow) {
          copytruncateNow = false;
          copytruncate();
        } else if (n % 8_000 === 0) {
          if ((n / 8_000) % 3 === 0) copytruncate();
          else {
            renameSync(path, `${path}.${generation}`);
            closeSync(fd);
            fd = openSync(path, 'a');
            firstInFile = n + 1;
            generation++;
          }
        }
        await sleep(50);
      }
    })();

    let outageEndsAt = 0;
    for (let run = 0; run < KILLS; run++) {
      if (run === 4) {
        await server?.stop();
        server = undefined;
        outageEndsAt = Date.now() + OUTAGE_MS;
      }
      if (server === undefined && outageEndsAt && Date.now() >= outageEndsAt) {
        server = await startServer({ dataDir: serverDir, grpcPort });
      }
      const agent = await startAgent({ dataDir: join(dir, 'agent'), server: `127.0.0.1:${grpcPort}`, args: ['--config', config] });
      await agent.waitFor(/"shipping logs"/);
      runningSince = Date.now();
      await sleep(1_000 + Math.random() * 4_000);
      runningSince = 0;
      agent.child.kill('SIGKILL');
      await agent.exited;
      // Truncation while the agent is stopped, once.
      if (run === 6) copytruncateNow = true;
    }
    if (!server) {
      await sleep(Math.max(0, outageEndsAt - Date.now()));
      server = await startServer({ dataDir: serverDir, grpcPort });
    }
    writing = false;
    await writer;
    closeSync(fd);
    const written = n;
    const agent = await startAgent({ dataDir: join(dir, 'agent'), server: `127.0.0.1:${grpcPort}`, args: ['--config', config] });
    cleanup.push(() => agent.stop());

    const srv = server;
    const readAll = async (): Promise<Line[]> => {
      const out: Line[] = [];
      let cursor: string | undefined;
      do {
        const u = new URL(`${srv.url}/api/logs`);
        u.searchParams.set('q', 'source:app');
        u.searchParams.set('from', String(startedAt - 60_000));
        u.searchParams.set('to', String(Date.now() + 60_000));
        u.searchParams.set('limit', '5000');
        if (cursor) u.searchParams.set('cursor', cursor);
        const res = await fetch(u, { headers: { authorization: `Bearer ${token}` } });
        if (!res.ok) throw new Error(`${u}: ${res.status} ${await res.text()}`);
        const page = (await res.json()) as { lines: Line[]; cursor?: string };
        out.push(...page.lines);
        cursor = page.cursor;
      } while (cursor);
      return out;
    };
    // Until the count stops growing for 20 s or reaches every line.
    let stored: Line[] = [];
    let grewAt = Date.now();
    while (Date.now() - grewAt < 20_000) {
      const l = await readAll();
      if (l.length > stored.length) grewAt = Date.now();
      stored = l;
      if (stored.length >= written) break;
      await sleep(1_000);
    }
    const numbers = stored.map((l) => Number(/^line (\d+) /.exec(l.message)?.[1]));
    const counts = new Map<number, number>();
    for (const x of numbers) counts.set(x, (counts.get(x) ?? 0) + 1);
    const missing = Array.from({ length: written }, (_, i) => i + 1).filter((i) => !counts.has(i));
    const repeated = [...counts].filter(([, c]) => c > 1).map(([x]) => x);
    const lostToCopytruncate = missing.filter((x) => inCopies.has(x));
    const lostOtherwise = missing.filter((x) => !inCopies.has(x));
    // In order per file: within a generation, a later line is never stamped (read) before an earlier one.
    const byNumber = new Map(stored.map((l, i) => [numbers[i] as number, l]));
    let outOfOrder = 0;
    const lastTime = new Map<number, number>();
    for (let x = 1; x <= written; x++) {
      const l = byNumber.get(x);
      if (!l) continue;
      const g = generationOf[x] as number;
      if ((lastTime.get(g) ?? 0) > l.timeMs) outOfOrder++;
      lastTime.set(g, l.timeMs);
    }
    const lostIn = (running: boolean) => {
      const c = cuts.filter((x) => x.running === running);
      const lost = c.reduce((k, x) => k + x.lines.filter((i) => !counts.has(i)).length, 0);
      return `${c.length} cut ${running ? 'while the agent ran (caught up)' : 'while it was down or catching up'}: ${lost} of ${c.reduce((k, x) => k + x.lines.length, 0)} lines lost`;
    };
    process.stderr.write(`logs-rotation: copytruncate: ${lostIn(true)}; ${lostIn(false)}\n`);
    process.stderr.write(
      `logs-rotation: ${written} lines written in ${generation} files (rename rotations and copytruncates), ${KILLS} SIGKILLs, ` +
        `a ${OUTAGE_MS / 1000} s server outage; stored ${stored.length}: ${repeated.length} repeated, ${outOfOrder} out of order, ` +
        `${lostToCopytruncate.length} lost to copytruncate (of ${inCopies.size} lines in the copies), ${lostOtherwise.length} lost otherwise\n`,
    );
    expect(repeated).toEqual([]);
    expect(lostOtherwise).toEqual([]);
    expect(outOfOrder).toBe(0);
    expect(generation).toBeGreaterThan(3);
  }, 600_000);
});
