import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decodeLogPayload, PayloadKind, pb } from '@falconet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startAgent, tempDir } from '../testing/processes.ts';

const KILLS = Number(process.env.LOGS_KILLS ?? 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Every log line in the spool, read straight from its segment files (read-only, so the agent may
 * be running): the records of LOGS reports in sequence order. A torn record at the end of the
 * segment being written stops that segment's reading, as the spool itself would.
 */
function spooledLines(spoolDir: string): pb.LogRecord[] {
  if (!existsSync(spoolDir)) return [];
  const out: { seq: number; records: pb.LogRecord[] }[] = [];
  for (const name of readdirSync(spoolDir).filter((f) => f.endsWith('.seg'))) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(spoolDir, name));
    } catch {
      continue; // removed meanwhile
    }
    let at = 8;
    while (at + 8 <= buf.length) {
      const len = buf.readUInt32LE(at);
      const crc = buf.readUInt32LE(at + 4);
      if (len === 0 || at + 8 + len > buf.length) break;
      const body = buf.subarray(at + 8, at + 8 + len);
      if (crc32(body) !== crc) break;
      const r = pb.Report.decode(body);
      if (r.kind === PayloadKind.PAYLOAD_KIND_LOGS) out.push({ seq: r.seq, records: decodeLogPayload(r.encoding, r.payload).records });
      at += 8 + len;
    }
  }
  return out.sort((a, b) => a.seq - b.seq).flatMap((x) => x.records);
}

describe('log shipping under SIGKILL', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it(`numbered lines written through rename rotations while the agent is killed ${KILLS} times: each is in the spool exactly once, in order per file`, async () => {
    const dir = tempDir('falconet-logs-kill-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const logDir = join(dir, 'log');
    const dataDir = join(dir, 'agent');
    const path = join(logDir, 'app.log');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(logDir);
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        logs: {
          // The rotated names too: a file created and rotated away while the agent was down is still read;
          // a file is known by its inode, so a rename never makes its lines twice.
          sources: [{ name: 'app', include: [path, `${path}.*`] }],
          batch: { max_wait: '200ms' },
          scan_interval: '200ms',
          rotate_wait: '1s',
        },
      }),
    );
    // Nothing listens there: every report stays in the spool, which is what is checked.
    const server = `grpc://127.0.0.1:${await freePort()}`;

    // The writer: 100 numbered lines every 50 ms, renamed away to app.log.N every 10,000 lines.
    let n = 0;
    let generation = 0;
    const generationOf: number[] = [];
    let fd = openSync(path, 'a');
    let writing = true;
    const writer = (async () => {
      while (writing) {
        let chunk = '';
        for (let i = 0; i < 100; i++) {
          n++;
          generationOf[n] = generation;
          chunk += `line ${n} ${'x'.repeat(60)}\n`;
        }
        writeSync(fd, chunk);
        if (n % 10_000 === 0) {
          renameSync(path, `${path}.${generation}`);
          closeSync(fd);
          generation++;
          fd = openSync(path, 'a');
        }
        await sleep(50);
      }
    })();

    for (let run = 0; run < KILLS; run++) {
      const agent = await startAgent({ dataDir, server, args: ['--config', config] });
      await agent.waitFor(/"shipping logs"/);
      await sleep(500 + Math.random() * 1500);
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    writing = false;
    await writer;
    closeSync(fd);
    const written = n;

    const agent = await startAgent({ dataDir, server, args: ['--config', config] });
    cleanup.push(() => agent.stop());
    // Its per-source counters exist once the shipper has started (the spool may hold every line before that).
    await agent.waitFor(/"shipping logs"/);
    // Until every line is there, or the count stops growing for 15 s (then the checks below say what is missing).
    let lines: pb.LogRecord[] = [];
    let grewAt = Date.now();
    while (Date.now() - grewAt < 15_000) {
      const l = spooledLines(join(dataDir, 'spool'));
      if (l.length > lines.length) grewAt = Date.now();
      lines = l;
      if (lines.length >= written) break;
      await sleep(500);
    }
    // The agent's own account of it on /metrics.
    const metrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^falconet_agent_logs_read_lines_total\{source="app"\} \d+/m);
    expect(metrics).toMatch(/^falconet_agent_logs_shipped_lines_total\{source="app"\} \d+/m);
    expect(metrics).toMatch(/^falconet_agent_logs_dropped_total\{source="",reason="spool_full"\} 0/m);
    expect(metrics).toMatch(/^falconet_agent_spool_dropped_log_records_total 0/m);
    await agent.stop();
    const final = spooledLines(join(dataDir, 'spool'));
    const numbers = final.map((r) => Number(/^line (\d+) /.exec(r.message)?.[1]));
    const counts = new Map<number, number>();
    for (const x of numbers) counts.set(x, (counts.get(x) ?? 0) + 1);
    const missing = Array.from({ length: written }, (_, i) => i + 1).filter((i) => !counts.has(i));
    const repeated = [...counts].filter(([, c]) => c > 1).map(([x]) => x);
    // In order within each file (each rotation generation).
    const lastIn = new Map<number, number>();
    let outOfOrder = 0;
    for (const x of numbers) {
      const g = generationOf[x] as number;
      if ((lastIn.get(g) ?? 0) > x) outOfOrder++;
      lastIn.set(g, x);
    }
    process.stderr.write(
      `logs-kill: ${KILLS} SIGKILLs, ${generation} rename rotations, ${written} lines written, ${final.length} in the spool, ` +
        `${missing.length} missing, ${repeated.length} repeated, ${outOfOrder} out of order\n`,
    );
    const ranges = (xs: number[]) => {
      const out: string[] = [];
      for (let i = 0; i < xs.length && out.length < 10; i++) {
        let j = i;
        while (j + 1 < xs.length && (xs[j + 1] as number) === (xs[j] as number) + 1) j++;
        out.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
        i = j;
      }
      return out.join(',');
    };
    if (missing.length || repeated.length)
      process.stderr.write(`missing ${ranges(missing)}; repeated ${ranges(repeated)}\n${agent.lines.slice(-40).join('\n')}\n`);
    expect(missing).toEqual([]);
    expect(repeated).toEqual([]);
    expect(outOfOrder).toBe(0);
    expect(final.length).toBe(written);
    expect(generation).toBeGreaterThan(0);
  }, 300_000);
});
